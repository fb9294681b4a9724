"""Who may approve and promote: the registry's one role check.

Embedded mode runs as the local user with the ``admin`` role, and ``admin`` holds every role.
The governance capability replaces :data:`role_checker` with its own ``authorize()``-backed
check; the registry only ever calls :func:`require_role`.
"""

from __future__ import annotations

from collections.abc import Callable

from keel.errors import PermissionDeniedError

__all__ = ["ADMIN", "has_role", "require_role", "role_checker", "set_role_checker"]

ADMIN = "admin"


def _embedded_roles(principal: str, role: str) -> bool:
    # Embedded mode: the local user is the admin, and the admin holds every role.
    return True


#: ``(principal, role) -> bool``; replaced by governance when it is configured.
role_checker: Callable[[str, str], bool] = _embedded_roles


def set_role_checker(checker: Callable[[str, str], bool] | None) -> None:
    """Install the check that decides whether a principal holds a role (``None`` resets it)."""
    global role_checker
    role_checker = checker or _embedded_roles


def has_role(principal: str, role: str) -> bool:
    """Whether ``principal`` holds ``role`` (the admin role holds every role)."""
    return role_checker(principal, role) or (role != ADMIN and role_checker(principal, ADMIN))


def require_role(principal: str, role: str, action: str) -> None:
    """Raise unless ``principal`` holds ``role``.

    Raises:
        PermissionDeniedError: The principal lacks the role.
    """
    if not has_role(principal, role):
        raise PermissionDeniedError(
            f"{principal!r} does not hold the role {role!r} needed to {action}. Ask an admin to "
            f"grant it, or have someone with the role {role!r} do it.",
            details={"principal": principal, "role": role, "action": action},
        )

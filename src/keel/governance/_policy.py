"""Roles, actions and the one authorization check, :func:`authorize`.

A project is the unit of access. A user holds at most one role per project, and the roles
are cumulative: ``viewer`` < ``contributor`` < ``approver`` < ``admin``. Every action names
the least role that allows it (:data:`ACTIONS`); actions on no project (creating projects and
users, issuing tokens to others) need a server administrator. Embedded mode runs as the local
user, who is an administrator (:func:`local_principal`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from keel.errors import InvalidArgumentError, PermissionDeniedError, near_matches

__all__ = [
    "ACTIONS",
    "ADMIN",
    "GLOBAL_ACTIONS",
    "ROLES",
    "SELF_ACTIONS",
    "Principal",
    "Resource",
    "authorize",
    "can",
    "check_role",
    "current_principal",
    "has_role",
    "local_principal",
    "require_role",
    "role_allows",
    "set_role_checker",
]

#: The roles, least to most powerful; each holds every right of the ones before it.
ROLES: tuple[str, ...] = ("viewer", "contributor", "approver", "admin")
ADMIN = "admin"

#: Each project action and the least role that allows it.
ACTIONS: dict[str, str] = {
    "projects.read": "viewer",
    "members.read": "viewer",
    "members.write": "admin",
    "experiments.read": "viewer",
    "experiments.write": "contributor",
    "runs.read": "viewer",
    "runs.write": "contributor",
    "artifacts.read": "viewer",
    "artifacts.write": "contributor",
    "datasets.read": "viewer",
    "datasets.write": "contributor",
    "models.read": "viewer",
    "models.write": "contributor",
    "models.approve": "approver",
    "models.promote": "approver",
    "policies.write": "admin",
}

#: Actions any authenticated principal may take (reading who it is).
SELF_ACTIONS: frozenset[str] = frozenset({"session.read"})

#: Actions on no project; only server administrators may take them.
GLOBAL_ACTIONS: frozenset[str] = frozenset(
    {"projects.create", "users.read", "users.write", "tokens.write", "server.admin"}
)


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user, whether it administers the server, and its role per project.

    Attributes:
        name: The user name, recorded as the actor of audit events.
        is_admin: A server administrator, allowed every action everywhere.
        roles: The user's role in each project it has one in.
    """

    name: str
    is_admin: bool = False
    roles: Mapping[str, str] = field(default_factory=dict)

    def role_in(self, project: str) -> str | None:
        """The role held in ``project`` (``admin`` for a server administrator), or ``None``."""
        return ADMIN if self.is_admin else self.roles.get(project)

    def readable_projects(self) -> set[str] | None:
        """Projects this principal may read in; ``None`` means every project."""
        return None if self.is_admin else set(self.roles)


@dataclass(frozen=True)
class Resource:
    """What an action is on: a project, or an object placed in one.

    Attributes:
        project: The project the object belongs to; ``None`` for server-wide objects.
        kind: ``project``, ``experiment``, ``run``, ``model``, ``user``, ...
        id: The object's id or name.
    """

    project: str | None
    kind: str = "project"
    id: str = ""


def role_allows(role: str | None, action: str) -> bool:
    """Whether ``role`` allows the project action ``action``.

    Raises:
        InvalidArgumentError: ``action`` is not a known action.
    """
    needed = ACTIONS.get(action)
    if needed is None:
        if action in SELF_ACTIONS:
            return True
        if action in GLOBAL_ACTIONS:
            return role == ADMIN
        known = sorted([*ACTIONS, *GLOBAL_ACTIONS, *SELF_ACTIONS])
        raise InvalidArgumentError(
            f"Unknown action {action!r}.{near_matches(action, known)} Known actions: {known!r}."
        )
    if role is None:
        return False
    return ROLES.index(role) >= ROLES.index(needed) if role in ROLES else False


def can(principal: Principal, action: str, resource: Resource | None = None) -> bool:
    """Whether :func:`authorize` would allow the action (without raising)."""
    if action not in ACTIONS and action not in GLOBAL_ACTIONS:
        role_allows(None, action)  # raises unless it is a self action
        return True
    if principal.is_admin:
        return True
    if action in GLOBAL_ACTIONS or resource is None or resource.project is None:
        return False
    return role_allows(principal.role_in(resource.project), action)


def authorize(principal: Principal, action: str, resource: Resource | None = None) -> None:
    """The one authorization check: raise unless ``principal`` may take ``action`` on ``resource``.

    The server calls it for every request and embedded mode runs as :func:`local_principal`,
    so both enforce the same rules.

    Args:
        principal: Who is acting.
        action: A name from :data:`ACTIONS` or :data:`GLOBAL_ACTIONS` (``"runs.write"``).
        resource: What the action is on; ``None`` for server-wide actions.

    Raises:
        PermissionDeniedError: The principal's role does not allow the action.
        InvalidArgumentError: The action is unknown.

    Examples:
        >>> alice = Principal("alice", roles={"churn": "viewer"})
        >>> can(alice, "runs.read", Resource("churn"))
        True
        >>> can(alice, "runs.write", Resource("churn"))
        False
    """
    if can(principal, action, resource):
        return
    project = resource.project if resource else None
    where = f" in project {project!r}" if project else ""
    held = principal.role_in(project) if project else None
    needed = ACTIONS.get(action, "server administrator")
    what = f"{resource.kind} {resource.id!r}" if resource and resource.id else "this"
    raise PermissionDeniedError(
        f"{principal.name!r} may not {action!r} on {what}{where}: it needs the role "
        f"{needed!r} and holds {held!r}. Ask an admin of the project to grant it "
        f"('keel users add {principal.name} --project {project or 'PROJECT'} --role {needed}').",
        details={
            "principal": principal.name,
            "action": action,
            "project": project,
            "role": held,
            "required_role": needed,
        },
    )


def check_role(role: str) -> str:
    """Return ``role`` if it is one of :data:`ROLES`.

    Raises:
        InvalidArgumentError: It is not; the message lists near matches.
    """
    if role not in ROLES:
        raise InvalidArgumentError(
            f"Unknown role {role!r}.{near_matches(role, ROLES)} Roles: {list(ROLES)!r}.",
            details={"role": role},
        )
    return role


def local_principal(name: str = "local") -> Principal:
    """The principal of embedded mode: the local user, a server administrator."""
    return Principal(name=name, is_admin=True)


def current_principal() -> Principal:
    """Who this process acts as in embedded mode: the settings' user, as administrator.

    Against a server, the server decides from the token; this is only the local view.
    """
    from keel.config import get_settings

    return local_principal(get_settings().user)


# -- roles held by name (registry approvals in embedded mode) -----------------------------------


def _embedded_roles(principal: str, role: str) -> bool:
    # Embedded mode: the local user is the admin, and the admin holds every role.
    return True


_role_checker: Callable[[str, str], bool] = _embedded_roles


def set_role_checker(checker: Callable[[str, str], bool] | None) -> None:
    """Install what decides whether a user name holds a role in this process (``None`` resets).

    Embedded mode's checker says yes to the local user; tests and embedding applications may
    install another. The server does not use it: it checks :class:`Principal` objects.
    """
    global _role_checker
    _role_checker = checker or _embedded_roles


def has_role(principal: str | Principal, role: str, project: str | None = None) -> bool:
    """Whether ``principal`` holds ``role`` (or a stronger one; ``admin`` holds every role).

    Args:
        principal: A :class:`Principal` (checked against its roles in ``project``) or a user
            name (checked by the installed role checker, see :func:`set_role_checker`).
        role: The role to hold.
        project: The project, for a :class:`Principal`.
    """
    if isinstance(principal, Principal):
        held = principal.role_in(project) if project else (ADMIN if principal.is_admin else None)
        if held is None:
            return False
        if held in (role, ADMIN):
            return True
        return role in ROLES and held in ROLES and ROLES.index(held) >= ROLES.index(role)
    return _role_checker(principal, role) or (role != ADMIN and _role_checker(principal, ADMIN))


def require_role(
    principal: str | Principal, role: str, action: str, project: str | None = None
) -> None:
    """Raise unless ``principal`` holds ``role`` (see :func:`has_role`).

    Raises:
        PermissionDeniedError: The principal lacks the role.
    """
    if not has_role(principal, role, project):
        name = principal.name if isinstance(principal, Principal) else principal
        raise PermissionDeniedError(
            f"{name!r} does not hold the role {role!r} needed to {action}. Ask an admin to "
            f"grant it, or have someone with the role {role!r} do it.",
            details={"principal": name, "role": role, "action": action, "project": project},
        )

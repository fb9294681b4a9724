"""Projects, users, roles and API tokens over the metadata store.

A token is ``keel_<id>_<secret>``: the id is public and names the stored row; only the sha256 of
the secret is stored, so a copy of the database does not let anyone act as a user. A token is
shown once, when it is created; it can expire and be revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from keel._utils import now_ms
from keel.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from keel.governance._policy import Principal, check_role
from keel.store import SqlMetadataStore
from keel.store._governance import (
    DEFAULT_PROJECT,
    GovernanceRepository,
    ProjectRecord,
    RoleBindingRecord,
    TokenRecord,
    UserRecord,
)

__all__ = ["DEFAULT_PROJECT", "Governance", "IssuedToken", "hash_secret", "parse_token"]

_TOKEN = re.compile(r"^keel_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is the only time the secret is shown."""

    token: str
    record: TokenRecord


def hash_secret(secret: str) -> str:
    """The stored form of a token secret: its sha256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """Split ``keel_<id>_<secret>`` into ``(id, secret)``; ``None`` if it is not that shape."""
    m = _TOKEN.match(token.strip())
    return (m.group(1), m.group(2)) if m else None


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"{kind.capitalize()} name {name!r} is not allowed: use 1 to 128 letters, digits, "
            "'.', '_', '@' or '-', starting with a letter or digit.",
            details={kind: name},
        )
    return name


class Governance:
    """The accounts service: projects, users, their roles, tokens, and resource placement.

    Args:
        store: The metadata store; its actor is recorded on every audit event.
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store
        self.repo = GovernanceRepository(store)

    # -- projects ---------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> ProjectRecord:
        """Create a project.

        Raises:
            AlreadyExistsError: It exists.
            InvalidArgumentError: The name is not allowed.
        """
        return self.repo.create_project(_check_name("project", name), description)

    def ensure_project(self, name: str) -> ProjectRecord:
        """Return the project, creating it if needed."""
        return self.repo.ensure_project(_check_name("project", name))

    def list_projects(self) -> list[ProjectRecord]:
        """Return every project."""
        return self.repo.list_projects()

    def get_project(self, name: str) -> ProjectRecord:
        """Return a project.

        Raises:
            NotFoundError: No project has that name.
        """
        return self.repo.get_project(name)

    # -- users and roles --------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        project: str | None = None,
        role: str | None = None,
        is_admin: bool = False,
    ) -> UserRecord:
        """Create the user if needed and, with ``project`` and ``role``, give it that role.

        The project is created if it does not exist.

        Raises:
            InvalidArgumentError: The name or role is not allowed, or only one of project/role.
        """
        _check_name("user", name)
        if (project is None) != (role is None):
            raise InvalidArgumentError(
                "Give both --project and --role to grant a role, or neither to only create "
                f"the user (got project={project!r}, role={role!r})."
            )
        if role is not None:
            check_role(role)
        try:
            user = self.repo.get_user(name)
            if is_admin and not user.is_admin:
                self.repo.set_admin(name, True)
                user = self.repo.get_user(name)
        except NotFoundError:
            user = self.repo.create_user(name, is_admin=is_admin)
        if project is not None and role is not None:
            self.ensure_project(project)
            self.repo.set_role(name, project, role)
        return user

    def get_user(self, name: str) -> UserRecord:
        """Return a user.

        Raises:
            NotFoundError: No user has that name.
        """
        return self.repo.get_user(name)

    def list_users(self) -> list[UserRecord]:
        """Return every user."""
        return self.repo.list_users()

    def set_role(self, user: str, project: str, role: str) -> RoleBindingRecord:
        """Give ``user`` the role ``role`` in ``project`` (replacing its role there).

        Raises:
            InvalidArgumentError: Unknown role.
            NotFoundError: Unknown user or project.
        """
        return self.repo.set_role(user, project, check_role(role))

    def remove_role(self, user: str, project: str) -> bool:
        """Take away ``user``'s role in ``project``; return whether it had one."""
        return self.repo.remove_role(user, project)

    def list_roles(
        self, *, user: str | None = None, project: str | None = None
    ) -> list[RoleBindingRecord]:
        """Return role bindings, optionally of one user or project."""
        return self.repo.list_roles(user=user, project=project)

    def principal(self, name: str) -> Principal:
        """Return the principal of user ``name`` with its current roles.

        Raises:
            NotFoundError: No user has that name.
        """
        user = self.repo.get_user(name)
        roles = {b.project: b.role for b in self.repo.list_roles(user=name)}
        return Principal(name=user.name, is_admin=user.is_admin, roles=roles)

    # -- tokens -----------------------------------------------------------------------------

    def create_token(
        self, user: str, *, description: str = "", expires_in_days: float | None = None
    ) -> IssuedToken:
        """Issue a token for ``user``; the returned text is the only copy of its secret.

        Raises:
            NotFoundError: No user has that name.
            InvalidArgumentError: ``expires_in_days`` is not positive.
        """
        if expires_in_days is not None and not expires_in_days > 0:
            raise InvalidArgumentError(
                f"expires_in_days must be a positive number of days, got {expires_in_days!r}."
            )
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        expires = None
        if expires_in_days is not None:
            expires = now_ms() + int(expires_in_days * 86_400_000)
        record = self.repo.add_token(token_id, user, hash_secret(secret), description, expires)
        return IssuedToken(f"keel_{token_id}_{secret}", record)

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke a token by id (the ``keel_<id>_...`` part, or the whole token).

        Raises:
            NotFoundError: No token has that id.
        """
        parsed = parse_token(token_id)
        return self.repo.revoke_token(parsed[0] if parsed else token_id)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Return tokens (ids, owners, expiry, revocation; never secrets)."""
        return self.repo.list_tokens(user)

    def authenticate(self, token: str) -> Principal:
        """Return the principal a token stands for.

        Raises:
            PermissionDeniedError: The token is malformed, unknown, wrong, expired or revoked
                (the message does not say which part was wrong, and never repeats the token).
        """
        parsed = parse_token(token)
        record = self.repo.get_token(parsed[0]) if parsed else None
        if (
            parsed is None
            or record is None
            or not hmac.compare_digest(record.secret_hash, hash_secret(parsed[1]))
        ):
            raise PermissionDeniedError(
                "The token is not valid. Create one with 'keel tokens create USER' and pass it "
                "as 'Authorization: Bearer <token>' (KEEL_TOKEN for the Python client).",
                details={"reason": "invalid-token"},
            )
        if record.revoked_at is not None:
            raise PermissionDeniedError(
                f"Token {record.id!r} was revoked. Create a new one with "
                f"'keel tokens create {record.user}'.",
                details={"reason": "revoked", "token_id": record.id},
            )
        if record.expires_at is not None and record.expires_at <= now_ms():
            raise PermissionDeniedError(
                f"Token {record.id!r} expired. Create a new one with "
                f"'keel tokens create {record.user}'.",
                details={"reason": "expired", "token_id": record.id},
            )
        return self.principal(record.user)

    # -- resources --------------------------------------------------------------------------

    def place(self, kind: str, resource_id: str, project: str) -> None:
        """Put an experiment (by id) or a model (by name) in a project, if not placed yet."""
        if project != DEFAULT_PROJECT:
            self.repo.get_project(project)
        else:
            self.repo.ensure_project(DEFAULT_PROJECT)
        self.repo.place(kind, resource_id, project)

    def project_of(self, kind: str, resource_id: str) -> str:
        """The project of an experiment (by id) or a model (by name); ``default`` if unplaced."""
        return self.repo.project_of(kind, resource_id)

    def blob_projects(self, digest: str) -> set[str]:
        """The projects whose runs or model versions reference the blob ``digest``."""
        experiments, models = self.repo.blob_owners(digest)
        return {self.project_of("experiment", e) for e in experiments} | {
            self.project_of("model", m) for m in models
        }

    def placements(self, kind: str) -> dict[str, str]:
        """``{resource id: project}`` for every placed resource of a kind."""
        return self.repo.placements(kind)

"""Queries of the governance capability: projects, users, role bindings, tokens, placements.

:class:`GovernanceRepository` takes a :class:`~keel.store.SqlMetadataStore` and returns the
plain records defined here. Every change is written in one transaction with its audit event.
The repository stores what it is given: role names, token hashes and expiry are decided by
:mod:`keel.governance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from keel._utils import new_id, now_ms
from keel.errors import AlreadyExistsError, NotFoundError, near_matches
from keel.store._engine import write_connection
from keel.store._schema_governance import (
    ApiTokenRow,
    ProjectResourceRow,
    ProjectRow,
    RoleBindingRow,
    UserRow,
)
from keel.store._sql import SqlMetadataStore
from keel.store.entities import Experiment

__all__ = [
    "DEFAULT_PROJECT",
    "GovernanceRepository",
    "ProjectRecord",
    "RoleBindingRecord",
    "TokenRecord",
    "UserRecord",
]

#: The project of everything not placed in another one.
DEFAULT_PROJECT = "default"

_projects = cast(Table, ProjectRow.__table__)
_users = cast(Table, UserRow.__table__)
_bindings = cast(Table, RoleBindingRow.__table__)
_tokens = cast(Table, ApiTokenRow.__table__)
_resources = cast(Table, ProjectResourceRow.__table__)


@dataclass(frozen=True)
class ProjectRecord:
    """A project."""

    id: str
    name: str
    description: str
    created_at: int
    created_by: str


@dataclass(frozen=True)
class UserRecord:
    """A user; ``is_admin`` users administer the whole server."""

    id: str
    name: str
    is_admin: bool
    created_at: int
    created_by: str


@dataclass(frozen=True)
class RoleBindingRecord:
    """A user's role in a project."""

    user: str
    project: str
    role: str
    created_at: int


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: never its secret, only the secret's sha256."""

    id: str
    user: str
    secret_hash: str
    description: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None


class GovernanceRepository:
    """Projects, users, roles, tokens and resource placement in the metadata store.

    Args:
        store: The metadata store; its ``actor`` is recorded on every audit event.
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- projects ---------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> ProjectRecord:
        """Create a project.

        Raises:
            AlreadyExistsError: A project of that name exists.
        """
        rec = ProjectRecord(new_id(), name, description, now_ms(), self.store.actor)
        try:
            with write_connection(self.engine) as conn:
                conn.execute(_projects.insert().values(**rec.__dict__))
                self.store.audit_event(
                    conn, "project.create", "project", name, {"description": description}
                )
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A project named {name!r} exists already. Choose another name, or add users "
                f"to it with 'keel users add USER --project {name} --role viewer'.",
                details={"project": name},
            ) from exc
        return rec

    def ensure_project(self, name: str) -> ProjectRecord:
        """Return the project ``name``, creating it if needed (safe under races)."""
        try:
            return self.get_project(name)
        except NotFoundError:
            pass
        try:
            return self.create_project(name)
        except AlreadyExistsError:
            return self.get_project(name)

    def get_project(self, name: str) -> ProjectRecord:
        """Return a project by name.

        Raises:
            NotFoundError: No project has that name; the message lists near names.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(_projects).where(_projects.c.name == name)).first()
            if row is None:
                names = list(conn.execute(select(_projects.c.name)).scalars())
        if row is None:
            raise NotFoundError(
                f"No project is named {name!r}.{near_matches(name, names)} "
                "List projects with 'keel projects ls'.",
                details={"project": name},
            )
        return ProjectRecord(row.id, row.name, row.description, row.created_at, row.created_by)

    def list_projects(self) -> list[ProjectRecord]:
        """Return every project by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_projects).order_by(_projects.c.name)).all()
        return [
            ProjectRecord(r.id, r.name, r.description, r.created_at, r.created_by) for r in rows
        ]

    # -- users ------------------------------------------------------------------------------

    def create_user(self, name: str, *, is_admin: bool = False) -> UserRecord:
        """Create a user.

        Raises:
            AlreadyExistsError: A user of that name exists.
        """
        rec = UserRecord(new_id(), name, is_admin, now_ms(), self.store.actor)
        try:
            with write_connection(self.engine) as conn:
                conn.execute(_users.insert().values(**rec.__dict__))
                self.store.audit_event(conn, "user.create", "user", name, {"is_admin": is_admin})
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"A user named {name!r} exists already.", details={"user": name}
            ) from exc
        return rec

    def get_user(self, name: str) -> UserRecord:
        """Return a user by name.

        Raises:
            NotFoundError: No user has that name; the message lists near names.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(_users).where(_users.c.name == name)).first()
            if row is None:
                names = list(conn.execute(select(_users.c.name)).scalars())
        if row is None:
            raise NotFoundError(
                f"No user is named {name!r}.{near_matches(name, names)} "
                "List users with 'keel users ls'.",
                details={"user": name},
            )
        return _user(row)

    def list_users(self) -> list[UserRecord]:
        """Return every user by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_users).order_by(_users.c.name)).all()
        return [_user(r) for r in rows]

    def set_admin(self, name: str, is_admin: bool) -> None:
        """Grant or withdraw server administration.

        Raises:
            NotFoundError: No user has that name.
        """
        user = self.get_user(name)
        with write_connection(self.engine) as conn:
            conn.execute(update(_users).where(_users.c.id == user.id).values(is_admin=is_admin))
            self.store.audit_event(
                conn, "user.set_admin", "user", name, {"before": user.is_admin, "after": is_admin}
            )

    # -- roles ------------------------------------------------------------------------------

    def set_role(self, user: str, project: str, role: str) -> RoleBindingRecord:
        """Give ``user`` the role ``role`` in ``project``, replacing any role it had there.

        Raises:
            NotFoundError: The user or the project does not exist.
        """
        u = self.get_user(user)
        p = self.get_project(project)
        now = now_ms()
        with write_connection(self.engine) as conn:
            before = conn.execute(
                select(_bindings.c.role).where(
                    _bindings.c.user_id == u.id, _bindings.c.project_id == p.id
                )
            ).scalar()
            if before is None:
                conn.execute(
                    _bindings.insert().values(
                        user_id=u.id, project_id=p.id, role=role, created_at=now
                    )
                )
            else:
                conn.execute(
                    update(_bindings)
                    .where(_bindings.c.user_id == u.id, _bindings.c.project_id == p.id)
                    .values(role=role)
                )
            self.store.audit_event(
                conn,
                "role.set",
                "project",
                project,
                {"user": user, "before": before, "after": role},
            )
        return RoleBindingRecord(user, project, role, now)

    def remove_role(self, user: str, project: str) -> bool:
        """Take away ``user``'s role in ``project``; return whether it had one."""
        u = self.get_user(user)
        p = self.get_project(project)
        with write_connection(self.engine) as conn:
            before = conn.execute(
                select(_bindings.c.role).where(
                    _bindings.c.user_id == u.id, _bindings.c.project_id == p.id
                )
            ).scalar()
            if before is None:
                return False
            conn.execute(
                delete(_bindings).where(_bindings.c.user_id == u.id, _bindings.c.project_id == p.id)
            )
            self.store.audit_event(
                conn, "role.remove", "project", project, {"user": user, "before": before}
            )
        return True

    def list_roles(
        self, *, user: str | None = None, project: str | None = None
    ) -> list[RoleBindingRecord]:
        """Return role bindings, optionally of one user or one project, by project then user."""
        query = (
            select(_users.c.name, _projects.c.name, _bindings.c.role, _bindings.c.created_at)
            .join(_users, _users.c.id == _bindings.c.user_id)
            .join(_projects, _projects.c.id == _bindings.c.project_id)
            .order_by(_projects.c.name, _users.c.name)
        )
        if user is not None:
            query = query.where(_users.c.name == user)
        if project is not None:
            query = query.where(_projects.c.name == project)
        with self.engine.connect() as conn:
            return [RoleBindingRecord(*r) for r in conn.execute(query)]

    # -- tokens -----------------------------------------------------------------------------

    def add_token(
        self, token_id: str, user: str, secret_hash: str, description: str, expires_at: int | None
    ) -> TokenRecord:
        """Store a token's id and the hash of its secret.

        Raises:
            NotFoundError: No user has that name.
        """
        u = self.get_user(user)
        rec = TokenRecord(token_id, user, secret_hash, description, now_ms(), expires_at, None)
        with write_connection(self.engine) as conn:
            conn.execute(
                _tokens.insert().values(
                    id=token_id,
                    user_id=u.id,
                    secret_hash=secret_hash,
                    description=description,
                    created_at=rec.created_at,
                    expires_at=expires_at,
                    revoked_at=None,
                )
            )
            self.store.audit_event(
                conn,
                "token.create",
                "token",
                token_id,
                {"user": user, "expires_at": expires_at, "description": description},
            )
        return rec

    def get_token(self, token_id: str) -> TokenRecord | None:
        """Return the stored token with that id, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_tokens, _users.c.name.label("user_name"))
                .join(_users, _users.c.id == _tokens.c.user_id)
                .where(_tokens.c.id == token_id)
            ).first()
        return None if row is None else _token(row)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Return tokens (of one user, or all), newest first."""
        query = (
            select(_tokens, _users.c.name.label("user_name"))
            .join(_users, _users.c.id == _tokens.c.user_id)
            .order_by(_tokens.c.created_at.desc())
        )
        if user is not None:
            query = query.where(_users.c.name == user)
        with self.engine.connect() as conn:
            return [_token(r) for r in conn.execute(query)]

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke a token (revoking it again changes nothing).

        Raises:
            NotFoundError: No token has that id.
        """
        rec = self.get_token(token_id)
        if rec is None:
            raise NotFoundError(
                f"No token has id {token_id!r}. List tokens with 'keel tokens ls'.",
                details={"token_id": token_id},
            )
        if rec.revoked_at is not None:
            return rec
        now = now_ms()
        with write_connection(self.engine) as conn:
            conn.execute(update(_tokens).where(_tokens.c.id == token_id).values(revoked_at=now))
            self.store.audit_event(conn, "token.revoke", "token", token_id, {"user": rec.user})
        return TokenRecord(
            rec.id, rec.user, rec.secret_hash, rec.description, rec.created_at, rec.expires_at, now
        )

    # -- resources --------------------------------------------------------------------------

    def place(self, kind: str, resource_id: str, project: str) -> None:
        """Put a resource (``experiment`` id, ``model`` name) in a project, if not placed yet.

        Raises:
            NotFoundError: The project does not exist.
        """
        p = self.get_project(project)
        with write_connection(self.engine) as conn:
            exists = conn.execute(
                select(_resources.c.project_id).where(
                    _resources.c.kind == kind, _resources.c.resource_id == resource_id
                )
            ).first()
            if exists is not None:
                return
            conn.execute(
                _resources.insert().values(
                    kind=kind, resource_id=resource_id, project_id=p.id, created_at=now_ms()
                )
            )
            self.store.audit_event(conn, "project.place", kind, resource_id, {"project": project})

    def create_experiment_in(self, project: str, name: str, description: str = "") -> Experiment:
        """Create an experiment already placed in ``project``: one transaction, two events.

        Raises:
            AlreadyExistsError: An experiment of that name exists.
            NotFoundError: The project does not exist.
        """
        from keel._utils import validate_key
        from keel.store._schema import ExperimentRow

        experiments = cast(Table, ExperimentRow.__table__)
        validate_key("experiment", name)
        p = self.get_project(project)
        exp = Experiment(id=new_id(), name=name, description=description, created_at=now_ms())
        try:
            with write_connection(self.engine) as conn:
                conn.execute(
                    experiments.insert().values(
                        id=exp.id,
                        name=name,
                        description=description,
                        lifecycle_stage="active",
                        created_at=exp.created_at,
                    )
                )
                conn.execute(
                    _resources.insert().values(
                        kind="experiment",
                        resource_id=exp.id,
                        project_id=p.id,
                        created_at=exp.created_at,
                    )
                )
                self.store.audit_event(
                    conn, "experiment.create", "experiment", exp.id, {"name": name}
                )
                self.store.audit_event(
                    conn, "project.place", "experiment", exp.id, {"project": project}
                )
        except SAIntegrityError as exc:
            raise AlreadyExistsError(
                f"An experiment named {name!r} exists already. Use keel.set_experiment({name!r}) "
                "to log into it, or choose another name.",
                details={"name": name},
            ) from exc
        return exp

    def project_of(self, kind: str, resource_id: str) -> str:
        """Return the project a resource belongs to (``default`` when it was never placed)."""
        with self.engine.connect() as conn:
            name = conn.execute(
                select(_projects.c.name)
                .join(_resources, _resources.c.project_id == _projects.c.id)
                .where(_resources.c.kind == kind, _resources.c.resource_id == resource_id)
            ).scalar()
        return str(name) if name is not None else DEFAULT_PROJECT

    def blob_owners(self, digest: str) -> tuple[set[str], set[str]]:
        """Return ``(experiment ids, model names)`` whose runs or versions reference a blob.

        A blob is referenced by a run's artifact file or environment snapshot, or by a model
        version's manifest; the server lets a principal read a blob through these owners.
        """
        from keel.store._schema import RunArtifactRow, RunRow
        from keel.store._schema_registry import ModelVersionRow, RegisteredModelRow

        runs = cast(Table, RunRow.__table__)
        files = cast(Table, RunArtifactRow.__table__)
        versions = cast(Table, ModelVersionRow.__table__)
        models = cast(Table, RegisteredModelRow.__table__)
        with self.engine.connect() as conn:
            experiments = set(
                conn.execute(
                    select(runs.c.experiment_id)
                    .join(files, files.c.run_id == runs.c.id)
                    .where(files.c.digest == digest)
                    .distinct()
                    .limit(100)
                ).scalars()
            )
            experiments |= set(
                conn.execute(
                    select(runs.c.experiment_id)
                    .where(runs.c.environment_digest == digest)
                    .distinct()
                    .limit(100)
                ).scalars()
            )
            names = set(
                conn.execute(
                    select(models.c.name)
                    .join(versions, versions.c.model_id == models.c.id)
                    .where(versions.c.manifest_digest == digest)
                    .distinct()
                    .limit(100)
                ).scalars()
            )
        return experiments, names

    def placements(self, kind: str) -> dict[str, str]:
        """Return ``{resource id: project}`` for every placed resource of a kind."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_resources.c.resource_id, _projects.c.name)
                .join(_projects, _resources.c.project_id == _projects.c.id)
                .where(_resources.c.kind == kind)
            ).all()
        return {r[0]: r[1] for r in rows}


def _user(row: Any) -> UserRecord:
    return UserRecord(row.id, row.name, bool(row.is_admin), row.created_at, row.created_by)


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.user_name,
        row.secret_hash,
        row.description,
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )

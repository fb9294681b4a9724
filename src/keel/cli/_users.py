"""``keel users``, ``keel tokens``, ``keel projects``: accounts of a Keel server.

Without ``KEEL_TRACKING_URI`` these commands act on the store of the current settings as the
local administrator (run them where ``KEEL_STORE_URI`` reaches the server's store), so they
work before any token exists. With ``KEEL_TRACKING_URI=http...`` they go through the server's
REST API with ``KEEL_TOKEN``, which must be a server administrator's.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from keel.cli._output import console, fmt_time

if TYPE_CHECKING:
    from keel.governance import Governance, IssuedToken
    from keel.store._governance import ProjectRecord, RoleBindingRecord, TokenRecord, UserRecord
    from keel.store._rest import RestTransport

users_app = typer.Typer(help="Users and their roles per project.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
projects_app = typer.Typer(help="Projects: the unit of access.", no_args_is_help=True)


def _g() -> Governance | RemoteAccounts:
    """The accounts service: the local store's, or the server's when KEEL_TRACKING_URI is set."""
    from keel.config import get_settings
    from keel.governance import Governance
    from keel.store import SqlMetadataStore
    from keel.store._rest import RestTransport, is_remote_uri

    settings = get_settings()
    if is_remote_uri(settings.tracking_uri):
        return RemoteAccounts(RestTransport(str(settings.tracking_uri), settings.token))
    return Governance(SqlMetadataStore(settings.store_uri, actor=settings.user))


class RemoteAccounts:
    """The calls of :class:`~keel.governance.Governance` the CLI makes, over the REST API.

    Args:
        http: The connection to the server (the token must be a server administrator's for
            users, projects and other users' tokens).
    """

    def __init__(self, http: RestTransport) -> None:
        self.http = http

    def add_user(
        self,
        name: str,
        *,
        project: str | None = None,
        role: str | None = None,
        is_admin: bool = False,
    ) -> UserRecord:
        """Create the user if needed and give it ``role`` in ``project``."""
        from keel.errors import AlreadyExistsError, NotFoundError

        with contextlib.suppress(AlreadyExistsError):
            self.http.request("POST", "/users", body={"name": name, "is_admin": is_admin})
        if project is not None and role is not None:
            try:
                self.http.request("GET", f"/projects/{quote(project, safe='')}")
            except NotFoundError:
                self.create_project(project)
            path = f"/projects/{quote(project, safe='')}/members/{quote(name, safe='')}"
            self.http.request("PUT", path, body={"role": role})
        return next(u for u in self.list_users() if u.name == name)

    def list_users(self) -> list[UserRecord]:
        """Every user."""
        from keel.store._governance import UserRecord

        return [UserRecord(**u) for u in self.http.request("GET", "/users")["users"]]

    def list_roles(
        self, *, user: str | None = None, project: str | None = None
    ) -> list[RoleBindingRecord]:
        """Role bindings, optionally of one user or project."""
        from keel.store._governance import RoleBindingRecord

        names = [project] if project else [p.name for p in self.list_projects()]
        out = []
        for name in names:
            path = f"/projects/{quote(name, safe='')}/members"
            for m in self.http.request("GET", path)["members"]:
                if user is None or m["user"] == user:
                    out.append(RoleBindingRecord(**m))
        return out

    def remove_role(self, user: str, project: str) -> bool:
        """Take away ``user``'s role in ``project``; return whether it had one."""
        from keel.errors import NotFoundError

        path = f"/projects/{quote(project, safe='')}/members/{quote(user, safe='')}"
        try:
            self.http.request("DELETE", path)
        except NotFoundError:
            return False
        return True

    def create_token(
        self, user: str, *, description: str = "", expires_in_days: float | None = None
    ) -> IssuedToken:
        """Issue a token for ``user``."""
        from keel.governance import IssuedToken
        from keel.store._governance import TokenRecord

        body = {"description": description, "expires_in_days": expires_in_days}
        out = self.http.request("POST", f"/users/{quote(user, safe='')}/tokens", body=body)
        token = out.pop("token")
        return IssuedToken(token, TokenRecord(secret_hash="", **out))

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Tokens (the caller's, or all for an administrator)."""
        from keel.store._governance import TokenRecord

        tokens = [
            TokenRecord(secret_hash="", **t) for t in self.http.request("GET", "/tokens")["tokens"]
        ]
        return [t for t in tokens if user is None or t.user == user]

    def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke a token by id (or the whole token)."""
        from keel.governance import parse_token
        from keel.store._governance import TokenRecord

        parsed = parse_token(token_id)
        ident = parsed[0] if parsed else token_id
        out = self.http.request("DELETE", f"/tokens/{quote(ident, safe='')}")
        return TokenRecord(secret_hash="", **out)

    def create_project(self, name: str, description: str = "") -> ProjectRecord:
        """Create a project."""
        from keel.store._governance import ProjectRecord

        body = {"name": name, "description": description}
        return ProjectRecord(**self.http.request("POST", "/projects", body=body))

    def list_projects(self) -> list[ProjectRecord]:
        """Projects the token can see."""
        from keel.store._governance import ProjectRecord

        return [ProjectRecord(**p) for p in self.http.request("GET", "/projects")["projects"]]


@users_app.command("add")
def users_add(
    user: Annotated[str, typer.Argument(help="User name.")],
    project: Annotated[str | None, typer.Option("--project", help="Project to grant in.")] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="viewer, contributor, approver or admin.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make a server administrator.")] = False,
) -> None:
    """Create a user (if needed) and give it a role in a project."""
    gov = _g()
    gov.add_user(user, project=project, role=role, is_admin=admin)
    where = f" as {role!r} in project {project!r}" if project else ""
    console.print(Text(f"User {user!r} added{where}."))


@users_app.command("ls")
def users_ls(
    project: Annotated[str | None, typer.Option("--project", help="Only this project.")] = None,
) -> None:
    """List users and their roles."""
    gov = _g()
    roles: dict[str, list[str]] = {}
    for b in gov.list_roles(project=project):
        roles.setdefault(b.user, []).append(f"{b.project}:{b.role}")
    table = Table(title="Users")
    for col in ("user", "server admin", "roles", "created"):
        table.add_column(col)
    for u in gov.list_users():
        if project is not None and u.name not in roles:
            continue
        table.add_row(
            Text(u.name),
            "yes" if u.is_admin else "",
            Text(", ".join(roles.get(u.name, [])) or "-"),
            fmt_time(u.created_at),
        )
    console.print(table)


@users_app.command("rm-role")
def users_rm_role(
    user: Annotated[str, typer.Argument(help="User name.")],
    project: Annotated[str, typer.Option("--project", help="Project.")],
) -> None:
    """Take away a user's role in a project."""
    had = _g().remove_role(user, project)
    console.print(Text(f"Removed {user!r} from {project!r}." if had else "It had no role there."))


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Argument(help="User the token acts as.")],
    expires_in_days: Annotated[
        float | None, typer.Option("--expires-in-days", help="Expire after this many days.")
    ] = None,
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
) -> None:
    """Issue a token; it is printed once and only its hash is kept."""
    issued = _g().create_token(user, description=description, expires_in_days=expires_in_days)
    typer.echo(issued.token)
    console.print(
        Text(f"Token {issued.record.id} for {user!r}. Store it now: it is not shown again."),
        style="dim",
    )


@tokens_app.command("ls")
def tokens_ls(
    user: Annotated[str | None, typer.Option("--user", help="Only this user.")] = None,
) -> None:
    """List tokens (never their secrets)."""
    table = Table(title="Tokens")
    for col in ("id", "user", "created", "expires", "revoked", "description"):
        table.add_column(col)
    for t in _g().list_tokens(user):
        table.add_row(
            t.id,
            Text(t.user),
            fmt_time(t.created_at),
            fmt_time(t.expires_at) if t.expires_at else "-",
            fmt_time(t.revoked_at) if t.revoked_at else "-",
            Text(t.description),
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (or the token).")],
) -> None:
    """Revoke a token."""
    rec = _g().revoke_token(token_id)
    console.print(Text(f"Token {rec.id} of {rec.user!r} is revoked."))


@projects_app.command("create")
def projects_create(
    name: Annotated[str, typer.Argument(help="Project name.")],
    description: Annotated[str, typer.Option("--description")] = "",
) -> None:
    """Create a project."""
    _g().create_project(name, description)
    console.print(Text(f"Project {name!r} created."))


@projects_app.command("ls")
def projects_ls() -> None:
    """List projects with their members."""
    gov = _g()
    members: dict[str, list[str]] = {}
    for b in gov.list_roles():
        members.setdefault(b.project, []).append(f"{b.user}:{b.role}")
    table = Table(title="Projects")
    for col in ("project", "members", "created"):
        table.add_column(col)
    for p in gov.list_projects():
        table.add_row(
            Text(p.name), Text(", ".join(members.get(p.name, [])) or "-"), fmt_time(p.created_at)
        )
    console.print(table)

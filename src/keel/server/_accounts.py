"""REST routes over governance: who am I, projects, members (roles), users and tokens."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from pydantic import BaseModel, Field

from keel.errors import NotFoundError
from keel.governance import ROLES
from keel.server._context import Ctx, KeelRouter, requires

__all__ = ["router"]

router = KeelRouter(prefix="/api/v1")


class ProjectIn(BaseModel):
    """A new project."""

    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=10_000)


class MemberIn(BaseModel):
    """A role to give in a project."""

    role: str = Field(pattern="^(" + "|".join(ROLES) + ")$")


class UserIn(BaseModel):
    """A new user."""

    name: str = Field(min_length=1, max_length=128)
    is_admin: bool = False


class TokenIn(BaseModel):
    """A token to issue."""

    description: str = Field(default="", max_length=1000)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


def _token(rec: Any) -> dict[str, Any]:
    out = dataclasses.asdict(rec)
    out.pop("secret_hash", None)
    return out


@router.get("/health")
def health(ctx: Annotated[Ctx, requires("public", on="public")]) -> dict[str, Any]:
    """Whether the server is up (no token needed)."""
    return {"status": "ok"}


@router.get("/users/me")
def whoami(ctx: Annotated[Ctx, requires("session.read", on="self")]) -> dict[str, Any]:
    """The caller: name, server administration, role per project."""
    p = ctx.principal
    return {"name": p.name, "is_admin": p.is_admin, "roles": dict(p.roles)}


@router.get("/projects")
def list_projects(ctx: Annotated[Ctx, requires("projects.read")]) -> dict[str, Any]:
    """The projects the caller has a role in (every project for an administrator)."""
    ctx.listing()
    projects = [p for p in ctx.state.gov.list_projects() if ctx.can(p.name)]
    return {"projects": [dataclasses.asdict(p) for p in projects]}


@router.post("/projects", status_code=201)
def create_project(
    body: ProjectIn, ctx: Annotated[Ctx, requires("projects.create", on="global")]
) -> dict[str, Any]:
    """Create a project (server administrators)."""
    return dataclasses.asdict(ctx.gov.create_project(body.name, body.description))


@router.get("/projects/{project}")
def get_project(
    project: str, ctx: Annotated[Ctx, requires("projects.read", on="project")]
) -> dict[str, Any]:
    """One project."""
    return dataclasses.asdict(ctx.state.gov.get_project(project))


@router.get("/projects/{project}/members")
def list_members(
    project: str, ctx: Annotated[Ctx, requires("members.read", on="project")]
) -> dict[str, Any]:
    """The users with a role in the project."""
    ctx.state.gov.get_project(project)
    return {"members": [dataclasses.asdict(b) for b in ctx.state.gov.list_roles(project=project)]}


@router.put("/projects/{project}/members/{user}")
def set_member(
    project: str,
    user: str,
    body: MemberIn,
    ctx: Annotated[Ctx, requires("members.write", on="project")],
) -> dict[str, Any]:
    """Give a user a role in the project (project admins)."""
    return dataclasses.asdict(ctx.gov.set_role(user, project, body.role))


@router.delete("/projects/{project}/members/{user}")
def remove_member(
    project: str, user: str, ctx: Annotated[Ctx, requires("members.write", on="project")]
) -> dict[str, Any]:
    """Take away a user's role in the project (project admins)."""
    if not ctx.gov.remove_role(user, project):
        raise NotFoundError(
            f"User {user!r} has no role in project {project!r}.",
            details={"user": user, "project": project},
        )
    return {}


@router.get("/users")
def list_users(ctx: Annotated[Ctx, requires("users.read", on="global")]) -> dict[str, Any]:
    """Every user (server administrators)."""
    return {"users": [dataclasses.asdict(u) for u in ctx.state.gov.list_users()]}


@router.post("/users", status_code=201)
def create_user(
    body: UserIn, ctx: Annotated[Ctx, requires("users.write", on="global")]
) -> dict[str, Any]:
    """Create a user (server administrators)."""
    return dataclasses.asdict(ctx.gov.add_user(body.name, is_admin=body.is_admin))


@router.post("/users/{user}/tokens", status_code=201)
def create_token(
    user: str, body: TokenIn, ctx: Annotated[Ctx, requires("tokens.write")]
) -> dict[str, Any]:
    """Issue a token for yourself, or (server administrators) for anyone; shown only here."""
    if user == ctx.principal.name:
        ctx.listing()  # a user may always rotate its own tokens
    else:
        ctx.authorize(None, "user", user)
    issued = ctx.gov.create_token(
        user, description=body.description, expires_in_days=body.expires_in_days
    )
    return {"token": issued.token, **_token(issued.record)}


@router.get("/tokens")
def list_tokens(ctx: Annotated[Ctx, requires("session.read", on="self")]) -> dict[str, Any]:
    """The caller's tokens (every token for an administrator); never their secrets."""
    user = None if ctx.principal.is_admin else ctx.principal.name
    return {"tokens": [_token(t) for t in ctx.state.gov.list_tokens(user)]}


@router.delete("/tokens/{token_id}")
def revoke_token(
    token_id: str, ctx: Annotated[Ctx, requires("session.read", on="self")]
) -> dict[str, Any]:
    """Revoke one of the caller's tokens (any token, for an administrator)."""
    rec = ctx.state.gov.repo.get_token(token_id)
    if rec is None or (rec.user != ctx.principal.name and not ctx.principal.is_admin):
        raise NotFoundError(
            f"You have no token with id {token_id!r}.", details={"token_id": token_id}
        )
    return _token(ctx.gov.revoke_token(token_id))

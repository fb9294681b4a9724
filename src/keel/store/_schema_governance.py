"""Tables of the governance capability: projects, users, role bindings, API tokens.

Migration ``0008_governance`` creates exactly these tables. A project is the unit of access;
``project_resources`` places experiments and registered models in a project (anything not
placed belongs to the ``default`` project). Tokens are stored as the sha256 of their secret,
never the secret itself. Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keel.store._schema import Base


class ProjectRow(Base):
    """A project: the unit of access."""

    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))


class UserRow(Base):
    """A user (a person or a service account); ``is_admin`` users administer the server."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))


class RoleBindingRow(Base):
    """A user's one role in one project."""

    __tablename__ = "role_bindings"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_role_bindings_project", "project_id"),)


class ApiTokenRow(Base):
    """An API token: its public id, the sha256 of its secret, expiry and revocation."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


class ProjectResourceRow(Base):
    """Which project an experiment or a registered model belongs to."""

    __tablename__ = "project_resources"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)

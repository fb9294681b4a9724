"""Projects, users, roles, tokens and the one authorize() check, on each store backend."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from keel.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from keel.governance import (
    ACTIONS,
    ROLES,
    Governance,
    Principal,
    Resource,
    authorize,
    can,
    has_role,
    local_principal,
    require_role,
    set_role_checker,
)
from keel.store import SqlMetadataStore


@pytest.fixture
def gov(store_uri: str) -> Iterator[Governance]:
    store = SqlMetadataStore(store_uri, actor="admin")
    yield Governance(store)
    store.close()


def test_roles_are_cumulative() -> None:
    for action, least in ACTIONS.items():
        for role in ROLES:
            p = Principal("u", roles={"p": role})
            allowed = ROLES.index(role) >= ROLES.index(least)
            assert can(p, action, Resource("p")) is allowed, (action, role)
            assert not can(p, action, Resource("other")), "a role is only valid in its project"


def test_authorize_names_the_missing_role() -> None:
    viewer = Principal("vera", roles={"churn": "viewer"})
    authorize(viewer, "runs.read", Resource("churn", "run", "r1"))
    with pytest.raises(
        PermissionDeniedError,
        match=r"'vera' may not 'runs.write'.*needs the role 'contributor' and holds 'viewer'",
    ):
        authorize(viewer, "runs.write", Resource("churn", "run", "r1"))
    with pytest.raises(PermissionDeniedError, match="holds None"):
        authorize(viewer, "runs.read", Resource("fraud"))
    with pytest.raises(PermissionDeniedError):
        authorize(Principal("p", roles={"churn": "admin"}), "projects.create")
    with pytest.raises(
        InvalidArgumentError, match="Unknown action 'runs.wrte'.*Did you mean 'runs.write'"
    ):
        authorize(viewer, "runs.wrte", Resource("churn"))


def test_embedded_mode_is_the_local_admin() -> None:
    me = local_principal("alice")
    for action in [*ACTIONS, "projects.create", "users.write"]:
        authorize(me, action, Resource("anything"))
    assert has_role("alice", "approver")  # registry approvals in embedded mode


def test_current_principal_is_the_settings_user(
    keel_home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.config import reset_settings
    from keel.governance import current_principal

    monkeypatch.setenv("KEEL_USER", "zoe")
    reset_settings()
    assert current_principal() == Principal("zoe", is_admin=True)


def test_registry_roles_are_governance_roles() -> None:
    from keel.registry import _roles

    assert _roles.require_role is require_role
    set_role_checker(lambda principal, role: role == "viewer")
    try:
        assert has_role("bob", "viewer")
        with pytest.raises(PermissionDeniedError, match="does not hold the role 'approver'"):
            _roles.require_role("bob", "approver", "approve x")
    finally:
        set_role_checker(None)
    p = Principal("carol", roles={"churn": "approver"})
    assert has_role(p, "contributor", "churn")
    assert has_role(p, "approver", "churn")
    assert not has_role(p, "admin", "churn")
    assert not has_role(p, "viewer", "fraud")


def test_users_roles_and_principals(gov: Governance) -> None:
    gov.add_user("dana", project="churn", role="contributor")
    gov.add_user("dana", project="fraud", role="viewer")
    p = gov.principal("dana")
    assert p.roles == {"churn": "contributor", "fraud": "viewer"}
    assert not p.is_admin
    gov.set_role("dana", "churn", "approver")
    assert gov.principal("dana").roles["churn"] == "approver"
    assert gov.remove_role("dana", "fraud")
    assert not gov.remove_role("dana", "fraud")
    assert gov.principal("dana").roles == {"churn": "approver"}
    with pytest.raises(
        InvalidArgumentError, match="Unknown role 'aprover'.*Did you mean 'approver'"
    ):
        gov.add_user("dana", project="churn", role="aprover")
    with pytest.raises(NotFoundError, match="No user is named 'dna'.*Did you mean 'dana'"):
        gov.principal("dna")
    with pytest.raises(InvalidArgumentError, match="not allowed"):
        gov.add_user("../etc")


def test_tokens_are_stored_hashed_and_can_expire_or_be_revoked(
    gov: Governance, store_uri: str
) -> None:
    gov.add_user("erin", project="churn", role="viewer")
    issued = gov.create_token("erin", description="laptop")
    assert issued.token.startswith(f"keel_{issued.record.id}_")
    assert gov.authenticate(issued.token).name == "erin"
    secret = issued.token.split("_", 2)[2]
    assert secret not in repr(gov.list_tokens("erin"))
    url = make_url(store_uri)
    if url.get_backend_name() == "sqlite":
        raw = sqlite3.connect(url.database or "").execute("SELECT * FROM api_tokens").fetchall()
        assert secret not in repr(raw)
    with pytest.raises(PermissionDeniedError, match="not valid"):
        gov.authenticate(issued.token[:-2] + "zz")
    with pytest.raises(PermissionDeniedError, match="not valid"):
        gov.authenticate("not-a-token")
    gov.revoke_token(issued.token)  # the whole token works as well as its id
    with pytest.raises(PermissionDeniedError, match="was revoked"):
        gov.authenticate(issued.token)
    short = gov.create_token("erin", expires_in_days=1e-9)
    with pytest.raises(PermissionDeniedError, match="expired"):
        gov.authenticate(short.token)
    with pytest.raises(InvalidArgumentError, match="positive"):
        gov.create_token("erin", expires_in_days=0)


def test_every_change_is_audited_in_the_chain(gov: Governance) -> None:
    gov.create_project("audited")
    gov.add_user("finn", project="audited", role="viewer")
    issued = gov.create_token("finn")
    gov.set_role("finn", "audited", "admin")
    gov.revoke_token(issued.record.id)
    gov.place("experiment", "e1", "audited")
    events = [(e.action, e.resource_id, e.actor) for e in gov.store.list_audit_events()]
    assert ("project.create", "audited", "admin") in events
    assert ("user.create", "finn", "admin") in events
    assert ("token.create", issued.record.id, "admin") in events
    assert ("token.revoke", issued.record.id, "admin") in events
    assert ("project.place", "e1", "admin") in events
    change = next(
        e
        for e in gov.store.list_audit_events()
        if e.action == "role.set" and e.details["after"] == "admin"
    )
    assert change.details == {"user": "finn", "before": "viewer", "after": "admin"}
    assert all(
        issued.token.split("_", 2)[2] not in str(e.details) for e in gov.store.list_audit_events()
    )
    assert gov.store.verify_audit_chain().ok


def test_placement_decides_the_project(gov: Governance) -> None:
    assert gov.project_of("experiment", "nowhere") == "default"
    gov.create_project("p1")
    gov.place("experiment", "e1", "p1")
    gov.place("experiment", "e1", "default")  # placed once: later placements change nothing
    assert gov.project_of("experiment", "e1") == "p1"
    with pytest.raises(NotFoundError, match="No project is named 'p2'"):
        gov.place("model", "m", "p2")


def test_an_experiment_is_created_in_its_project_at_once(gov: Governance) -> None:
    gov.create_project("p9")
    exp = gov.repo.create_experiment_in("p9", "placed-at-birth")
    assert gov.project_of("experiment", exp.id) == "p9"
    with pytest.raises(NotFoundError, match="No project is named 'nope'"):
        gov.repo.create_experiment_in("nope", "orphan")
    assert "orphan" not in [e.name for e in gov.store.list_experiments()]
    with pytest.raises(AlreadyExistsError):
        gov.repo.create_experiment_in("p9", "placed-at-birth")

"""Every route × every role: allowed calls succeed, others get 403, no token gets 401.

The table below must name every route of the app; a new route without a case fails
``test_every_route_has_a_case`` (and a route without a declared action cannot even be added:
``test_a_route_without_an_action_is_refused``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from keel.governance import Governance, Resource, can
from keel.server._app import api_routers
from keel.server._context import Ctx, KeelRouter
from keel.store import NewRun, SqlMetadataStore
from keel.store._registry import ANY_VERSION, NewModelVersion, RegistryRepository
from tests.server.conftest import PROJECT, USERS, KeelServer, materialize_demo_view

ALL_USERS = [*USERS, "outsider", "root"]
_count = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_count)}"


@dataclass
class World:
    """Objects of project alpha the cases act on."""

    srv: KeelServer
    store: SqlMetadataStore
    gov: Governance
    experiment_id: str
    run_id: str
    blob: str
    blob_size: int
    model: str = "matrix-model"
    clients: dict[str | None, httpx.Client] = field(default_factory=dict)
    principals: dict[str, Any] = field(default_factory=dict)

    def principal(self, user: str) -> Any:
        if user not in self.principals:
            self.principals[user] = self.gov.principal(user)
        return self.principals[user]

    def client(self, user: str | None) -> httpx.Client:
        if user not in self.clients:
            self.clients[user] = self.srv.client(user)
        return self.clients[user]

    @property
    def repo(self) -> RegistryRepository:
        return RegistryRepository(self.store)

    def alias_to_delete(self) -> str:
        alias = unique("tmp")
        self.repo.move_alias(
            self.model, alias, 1, expected=ANY_VERSION, action="set", reason="", actor="setup"
        )
        return alias

    def gate_to_delete(self) -> str:
        gate = unique("g")
        self.repo.add_gate(self.model, gate, "metric", _GATE_SPEC, "gated", "setup")
        return gate

    def new_run(self) -> str:
        return self.store.create_run(NewRun(self.experiment_id)).id


@dataclass
class Case:
    """How to call one route as ``user``; ``allowed`` overrides the role-based expectation."""

    call: Callable[[World, str], tuple[str, dict[str, Any]]]
    allowed: Callable[[World, str], bool] | None = None
    listing: Callable[[World, httpx.Response], bool] | None = None
    kw: dict[str, Any] = field(default_factory=dict)


def J(body: Any) -> dict[str, Any]:
    return {"json": body}


def raw(data: bytes) -> dict[str, Any]:
    return {"content": data, "headers": {"Content-Type": "application/octet-stream"}}


def _writes_somewhere(w: World, user: str) -> bool:
    p = w.principal(user)
    return p.is_admin or any(r in ("contributor", "approver", "admin") for r in p.roles.values())


def _no_alpha_experiment(w: World, r: httpx.Response) -> bool:
    return all(e["project"] != PROJECT for e in r.json()["experiments"])


def _own_token(w: World, user: str) -> tuple[str, dict[str, Any]]:
    token = w.gov.create_token(user).record.id
    return f"/api/v1/tokens/{token}", {}


def _member_to_remove(w: World, user: str) -> tuple[str, dict[str, Any]]:
    spare = unique("spare")
    w.gov.add_user(spare, project=PROJECT, role="viewer")
    return f"/api/v1/projects/{PROJECT}/members/{spare}", {}


E = "/api/v1"
CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/health"): Case(lambda w, u: (f"{E}/health", {}), allowed=lambda w, u: True),
    ("GET", "/api/v1/users/me"): Case(lambda w, u: (f"{E}/users/me", {})),
    ("GET", "/api/v1/projects"): Case(
        lambda w, u: (f"{E}/projects", {}),
        listing=lambda w, r: all(p["name"] != PROJECT for p in r.json()["projects"]),
    ),
    ("POST", "/api/v1/projects"): Case(lambda w, u: (f"{E}/projects", J({"name": unique("p")}))),
    ("GET", "/api/v1/projects/{project}"): Case(lambda w, u: (f"{E}/projects/{PROJECT}", {})),
    ("GET", "/api/v1/projects/{project}/members"): Case(
        lambda w, u: (f"{E}/projects/{PROJECT}/members", {})
    ),
    ("PUT", "/api/v1/projects/{project}/members/{user}"): Case(
        lambda w, u: (f"{E}/projects/{PROJECT}/members/spare", J({"role": "viewer"}))
    ),
    ("DELETE", "/api/v1/projects/{project}/members/{user}"): Case(_member_to_remove),
    ("GET", "/api/v1/users"): Case(lambda w, u: (f"{E}/users", {})),
    ("POST", "/api/v1/users"): Case(lambda w, u: (f"{E}/users", J({"name": unique("u")}))),
    ("POST", "/api/v1/users/{user}/tokens"): Case(
        lambda w, u: (f"{E}/users/spare/tokens", J({"expires_in_days": 1}))
    ),
    ("GET", "/api/v1/tokens"): Case(lambda w, u: (f"{E}/tokens", {})),
    ("DELETE", "/api/v1/tokens/{token_id}"): Case(_own_token),
    ("POST", "/api/v1/experiments"): Case(
        lambda w, u: (f"{E}/experiments", J({"name": unique("exp"), "project": PROJECT}))
    ),
    ("GET", "/api/v1/experiments"): Case(
        lambda w, u: (f"{E}/experiments", {}), listing=_no_alpha_experiment
    ),
    ("GET", "/api/v1/experiments/{experiment_id}"): Case(
        lambda w, u: (f"{E}/experiments/{w.experiment_id}", {})
    ),
    ("POST", "/api/v1/runs"): Case(
        lambda w, u: (f"{E}/runs", J({"experiment_id": w.experiment_id}))
    ),
    ("GET", "/api/v1/runs"): Case(
        lambda w, u: (f"{E}/runs?prefix={w.run_id[:10]}", {}),
        listing=lambda w, r: r.json()["run_ids"] == [],
    ),
    ("POST", "/api/v1/runs/search"): Case(
        lambda w, u: (f"{E}/runs/search", J({"experiment_ids": [w.experiment_id]}))
    ),
    ("GET", "/api/v1/runs/{run_id}"): Case(lambda w, u: (f"{E}/runs/{w.run_id}", {})),
    ("PATCH", "/api/v1/runs/{run_id}"): Case(
        lambda w, u: (f"{E}/runs/{w.new_run()}", J({"status": "FINISHED"}))
    ),
    ("POST", "/api/v1/runs/{run_id}/params"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/params", J({"params": {unique("p"): "1"}}))
    ),
    ("POST", "/api/v1/runs/{run_id}/tags"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/tags", J({"tags": {"t": "1"}}))
    ),
    ("POST", "/api/v1/runs/{run_id}/metrics"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/metrics", J({"points": [["m", 1.0, 0, 1]]}))
    ),
    ("POST", "/api/v1/metric-batches"): Case(
        lambda w, u: (f"{E}/metric-batches", J({"points": [[w.run_id, "b", 1.0, 0, 1]]}))
    ),
    ("GET", "/api/v1/runs/{run_id}/metrics/{key}"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/metrics/acc", {})
    ),
    ("GET", "/api/v1/runs/{run_id}/artifacts"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/artifacts", {})
    ),
    ("POST", "/api/v1/runs/{run_id}/artifacts"): Case(
        lambda w, u: (
            f"{E}/runs/{w.run_id}/artifacts",
            J({"entries": [{"path": unique("f") + ".txt", "digest": w.blob, "size": w.blob_size}]}),
        )
    ),
    ("GET", "/api/v1/runs/{run_id}/artifacts/{path}"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/artifacts/data/file.txt", {})
    ),
    ("PUT", "/api/v1/runs/{run_id}/artifacts/{path}"): Case(
        lambda w, u: (f"{E}/runs/{w.run_id}/artifacts/up/{unique('f')}.bin", raw(b"payload"))
    ),
    ("POST", "/api/v1/lineage-edges"): Case(
        lambda w, u: (
            f"{E}/lineage-edges",
            J(
                {
                    "source": {"kind": "dataset_version", "id": unique("d")},
                    "target": {"kind": "run", "id": w.run_id},
                    "relation": "input",
                }
            ),
        )
    ),
    ("GET", "/api/v1/lineage-edges"): Case(
        lambda w, u: (f"{E}/lineage-edges?kind=run&id={w.run_id}", {})
    ),
    ("POST", "/api/v1/blobs/uploads"): Case(
        lambda w, u: (f"{E}/blobs/uploads", J({"digest": w.blob, "size": w.blob_size})),
        allowed=_writes_somewhere,
    ),
    ("PUT", "/api/v1/blobs/{digest}"): Case(
        lambda w, u: (f"{E}/blobs/{hashlib.sha256(b'blob-put').hexdigest()}", raw(b"blob-put")),
        allowed=_writes_somewhere,
    ),
    ("GET", "/api/v1/blobs/{digest}"): Case(lambda w, u: (f"{E}/blobs/{w.blob}", {})),
}


_GATE_SPEC = {"metric": "acc", "op": ">=", "threshold": 0.5}
M = "/api/v1/models/matrix-model"
V = f"{M}/versions/1"
CASES.update(
    {
        ("GET", "/api/v1/models"): Case(
            lambda w, u: (f"{E}/models", {}),
            listing=lambda w, r: all(m["name"] != w.model for m in r.json()["models"]),
        ),
        ("POST", "/api/v1/models"): Case(
            lambda w, u: (f"{E}/models", J({"name": unique("m"), "project": PROJECT}))
        ),
        ("GET", "/api/v1/models/{name}"): Case(lambda w, u: (M, {})),
        ("PATCH", "/api/v1/models/{name}"): Case(lambda w, u: (M, J({"description": "d"}))),
        ("GET", "/api/v1/models/{name}/versions"): Case(lambda w, u: (f"{M}/versions", {})),
        ("POST", "/api/v1/models/{name}/versions"): Case(
            lambda w, u: (
                f"{M}/versions",
                J(
                    {
                        "run_id": w.run_id,
                        "artifact_path": "model",
                        "flavor": "sklearn",
                        "serialization": "pickle",
                        "manifest_digest": w.blob,
                    }
                ),
            )
        ),
        ("GET", "/api/v1/models/{name}/versions/{version}"): Case(lambda w, u: (V, {})),
        ("GET", "/api/v1/models/{name}/versions/latest"): Case(
            lambda w, u: (f"{M}/versions/latest", {})
        ),
        ("GET", "/api/v1/models/{name}/manifests"): Case(
            lambda w, u: (f"{M}/manifests?version=1", {})
        ),
        ("POST", "/api/v1/models/{name}/versions/{version}/metrics"): Case(
            lambda w, u: (f"{V}/metrics", J({"metrics": {"auc": 0.8}}))
        ),
        ("GET", "/api/v1/models/{name}/aliases/{alias}"): Case(
            lambda w, u: (f"{M}/aliases/stable", {})
        ),
        ("PUT", "/api/v1/models/{name}/aliases/{alias}"): Case(
            lambda w, u: (f"{M}/aliases/stable", J({"version": 1}))
        ),
        ("DELETE", "/api/v1/models/{name}/aliases/{alias}"): Case(
            lambda w, u: (f"{M}/aliases/{w.alias_to_delete()}", {})
        ),
        ("GET", "/api/v1/models/{name}/alias-history"): Case(
            lambda w, u: (f"{M}/alias-history", {})
        ),
        ("GET", "/api/v1/models/{name}/gates"): Case(lambda w, u: (f"{M}/gates", {})),
        ("POST", "/api/v1/models/{name}/gates"): Case(
            lambda w, u: (
                f"{M}/gates",
                J({"name": unique("g"), "kind": "metric", "spec": _GATE_SPEC, "alias": "gated"}),
            )
        ),
        ("DELETE", "/api/v1/models/{name}/gates/{gate_name}"): Case(
            lambda w, u: (f"{M}/gates/{w.gate_to_delete()}?alias=gated", {})
        ),
        ("GET", "/api/v1/models/{name}/versions/{version}/gate-results"): Case(
            lambda w, u: (f"{V}/gate-results", {})
        ),
        ("GET", "/api/v1/models/{name}/versions/{version}/approvals"): Case(
            lambda w, u: (f"{V}/approvals", {})
        ),
        ("POST", "/api/v1/models/{name}/versions/{version}/approvals"): Case(
            lambda w, u: (f"{V}/approvals", J({"role": "approver"}))
        ),
        ("GET", "/api/v1/models/{name}/promotions"): Case(lambda w, u: (f"{M}/promotions", {})),
        ("POST", "/api/v1/models/{name}/versions/{version}/gate-checks"): Case(
            lambda w, u: (f"{V}/gate-checks", J({"to": "staging"}))
        ),
        ("POST", "/api/v1/models/{name}/versions/{version}/promotions"): Case(
            lambda w, u: (f"{V}/promotions", J({"to": "staging"}))
        ),
    }
)


def _any_role(w: World, user: str) -> bool:
    p = w.principal(user)
    return p.is_admin or bool(p.roles)


CASES.update(
    {
        ("GET", "/api/v1/lineage"): Case(
            lambda w, u: (f"{E}/lineage?ref=models:/matrix-model/1&direction=upstream&depth=2", {})
        ),
        ("GET", "/api/v1/audit-events"): Case(lambda w, u: (f"{E}/audit-events?limit=5", {})),
        ("GET", "/api/v1/audit-events/verify"): Case(lambda w, u: (f"{E}/audit-events/verify", {})),
        ("GET", "/api/v1/models/{name}/versions/{version}/compliance-report"): Case(
            lambda w, u: (f"{V}/compliance-report?format=md", {})
        ),
        ("GET", "/api/v1/costs"): Case(lambda w, u: (f"{E}/costs?by=user&since=30d", {})),
        ("POST", "/api/v1/features/online"): Case(
            lambda w, u: (
                f"{E}/features/online",
                J({"features": ["server_stats:amount"], "entities": [{"customer_id": 1}]}),
            ),
            allowed=_any_role,
        ),
    }
)


def api_routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    out = []
    for router in api_routers():
        for route in router.routes:
            if isinstance(route, APIRoute):
                path = route.path.replace(":path}", "}")
                out.extend((m, path, route) for m in sorted(route.methods))
    spec = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert spec == {(m, p) for m, p, _ in out}, "the spec and the routers disagree"
    return out


@pytest.fixture(scope="module")
def world(
    keel_server: KeelServer,
    server_process_env: KeelServer,
) -> Iterator[World]:
    materialize_demo_view(keel_server)
    store = SqlMetadataStore(keel_server.settings.store_uri, actor="setup")
    gov = Governance(store)
    gov.add_user("spare")
    exp = store.create_experiment("matrix")
    gov.place("experiment", exp.id, PROJECT)
    run = store.create_run(NewRun(exp.id))
    store.log_metrics([(run.id, "acc", 0.9, 0, 1)])
    app_state = keel_server.app.state.keel
    data = b"hello artifact"
    digest = app_state.artifacts.put_bytes(data)
    from keel.store import ArtifactEntry

    store.add_artifacts(run.id, [ArtifactEntry("data/file.txt", digest, len(data))])
    world = World(keel_server, store, gov, exp.id, run.id, digest, len(data))
    world.repo.create_model(world.model, actor="setup")
    gov.place("model", world.model, PROJECT)
    world.repo.create_version(
        NewModelVersion(world.model, run.id, "model", "sklearn", "pickle", digest, None, "setup")
    )
    world.repo.move_alias(
        world.model, "stable", 1, expected=ANY_VERSION, action="set", reason="", actor="setup"
    )
    yield world
    for client in world.clients.values():
        client.close()
    store.close()


def test_every_route_has_a_case(keel_server: KeelServer) -> None:
    routes = {(m, p) for m, p, _ in api_routes(keel_server.app)}
    assert routes - set(CASES) == set(), "routes without a case in the role matrix"
    assert set(CASES) - routes == set(), "cases for routes that do not exist"


def test_every_route_declares_an_action(keel_server: KeelServer) -> None:
    for method, path, route in api_routes(keel_server.app):
        extra = route.openapi_extra or {}
        assert extra.get("x-keel-action"), f"{method} {path} declares no action"
    spec = keel_server.app.openapi()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("x-keel-action"), f"{method.upper()} {path} has no action in the spec"


def test_a_route_without_an_action_is_refused() -> None:
    router = KeelRouter()

    def undeclared() -> dict[str, Any]:
        return {}

    with pytest.raises(RuntimeError, match="declares no action"):
        router.add_api_route("/x", undeclared, methods=["GET"])


def _expected(world: World, case: Case, route: APIRoute, user: str) -> bool:
    if case.allowed is not None:
        return case.allowed(world, user)
    extra = route.openapi_extra or {}
    action, on = extra["x-keel-action"], extra["x-keel-resource"]
    principal = world.principal(user)
    if on in ("self", "public"):
        return True
    if on == "global":
        return can(principal, action, None)
    return can(principal, action, Resource(PROJECT))


@pytest.mark.parametrize(("method", "path"), sorted(CASES))
def test_route_by_role(world: World, keel_server: KeelServer, method: str, path: str) -> None:
    case = CASES[(method, path)]
    route = next(r for m, p, r in api_routes(keel_server.app) if (m, p) == (method, path))
    for user in [None, *ALL_USERS]:
        url, kw = case.call(world, user or "root")
        resp = world.client(user).request(method, url, **kw)
        label = f"{method} {path} as {user}: {resp.status_code} {resp.text[:300]}"
        if user is None:
            public = (route.openapi_extra or {}).get("x-keel-resource") == "public"
            assert resp.status_code == (200 if public else 401), label
            if not public:
                assert resp.json()["error_code"] == "unauthenticated", label
            continue
        if case.listing is not None:
            assert resp.status_code == 200, label
            if not world.principal(user).roles.get(PROJECT) and user != "root":
                assert case.listing(world, resp), f"{label}: lists objects of {PROJECT}"
            continue
        if _expected(world, case, route, user):
            assert resp.status_code < 400, label
        else:
            assert resp.status_code == 403, label
            body = resp.json()
            assert body["error_code"] == "permission-denied", label
            assert set(body) == {"error_code", "message", "details"}, label


def test_a_handler_that_never_checks_is_denied() -> None:
    from keel.errors import PermissionDeniedError
    from keel.governance import Principal
    from keel.server._context import _denied_unless_checked

    def forgetful(ctx: Ctx) -> dict[str, Any]:
        return {"secret": 1}

    def careful(ctx: Ctx) -> dict[str, Any]:
        ctx.listing()
        return {"ok": 1}

    def ctx() -> Ctx:
        return Ctx(None, Principal("p"), "runs.read")  # type: ignore[arg-type]

    with pytest.raises(PermissionDeniedError, match="denied by default"):
        _denied_unless_checked(forgetful, "/x")(ctx=ctx())
    assert _denied_unless_checked(careful, "/y")(ctx=ctx()) == {"ok": 1}

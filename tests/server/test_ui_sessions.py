"""The web UI served by ``keel server``: sign-in cookies, roles on pages, CSRF on approvals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from keel.governance import Governance
from keel.store import NewRun, SqlMetadataStore
from keel.store._registry import NewModelVersion, RegistryRepository
from tests.server.conftest import PROJECT, KeelServer

MODEL = "ui-model"
PAGE = f"/models/{MODEL}/versions/1"


@pytest.fixture(scope="module")
def ui_model(keel_server: KeelServer) -> Iterator[str]:
    store = SqlMetadataStore(keel_server.settings.store_uri, actor="setup")
    gov = Governance(store)
    exp = store.create_experiment("ui-sessions")
    gov.place("experiment", exp.id, PROJECT)
    run = store.create_run(NewRun(exp.id))
    digest = keel_server.app.state.keel.artifacts.put_bytes(b"ui model")
    repo = RegistryRepository(store)
    repo.create_model(MODEL, actor="setup")
    gov.place("model", MODEL, PROJECT)
    repo.create_version(
        NewModelVersion(MODEL, run.id, "model", "sklearn", "pickle", digest, None, "setup")
    )
    yield MODEL
    store.close()


def browser(srv: KeelServer) -> httpx.Client:
    return httpx.Client(base_url=srv.url, timeout=60, follow_redirects=False)


def signed_in(srv: KeelServer, user: str) -> httpx.Client:
    client = browser(srv)
    resp = client.post(
        "/login",
        data={"username": user, "token": srv.tokens[user], "next": PAGE},
        headers={"Origin": srv.url},
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == PAGE
    cookie = resp.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert srv.tokens[user].lower() not in cookie  # the cookie never carries the token's secret
    return client


def test_no_cookie_redirects_to_login(keel_server: KeelServer, ui_model: str) -> None:
    with browser(keel_server) as client:
        resp = client.get(PAGE)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/login?next=%2Fmodels%2Fui-model%2Fversions%2F1"
        page = client.get(resp.headers["location"])
        assert page.status_code == 200
        assert '<label for="login-token">' in page.text
        assert 'name="next" value="/models/ui-model/versions/1"' in page.text


@pytest.mark.parametrize(
    ("user", "token"),
    [("viewer-user", "keel_nope_nope"), ("viewer-user", ""), ("approver-user", None)],
)
def test_bad_sign_ins_are_refused(keel_server: KeelServer, user: str, token: str | None) -> None:
    # None: a valid token of another user.
    token = keel_server.tokens["viewer-user"] if token is None else token
    with browser(keel_server) as client:
        resp = client.post("/login", data={"username": user, "token": token})
        assert resp.status_code == 401
        assert "not valid" in resp.text
        assert "set-cookie" not in resp.headers
        assert client.get("/models").status_code == 303


def test_a_forged_or_foreign_cookie_is_refused(keel_server: KeelServer) -> None:
    with browser(keel_server) as client:
        client.cookies.set("keel_session", "eyJ1IjoiYWRtaW4ifQ.deadbeef")
        assert client.get("/models").status_code == 303


def test_a_cross_site_sign_in_is_refused(keel_server: KeelServer) -> None:
    with browser(keel_server) as client:
        resp = client.post(
            "/login",
            data={"username": "viewer-user", "token": keel_server.tokens["viewer-user"]},
            headers={"Origin": "http://evil.example"},
        )
        assert resp.status_code == 403
        assert "set-cookie" not in resp.headers


def test_next_never_leaves_the_server(keel_server: KeelServer) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        with browser(keel_server) as client:
            resp = client.post(
                "/login",
                data={
                    "username": "viewer-user",
                    "token": keel_server.tokens["viewer-user"],
                    "next": target,
                },
            )
            assert resp.status_code == 303
            assert resp.headers["location"] == "/", target


def test_viewer_sees_no_approve_button(keel_server: KeelServer, ui_model: str) -> None:
    with closing(signed_in(keel_server, "viewer-user")) as client:
        resp = client.get(PAGE)
        assert resp.status_code == 200, resp.text
        assert "ui-model" in resp.text
        assert "approve-button" not in resp.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', resp.text)
        assert csrf is None
        refused = client.post(f"{PAGE}/approve", json={"role": "viewer"})
        assert refused.status_code == 403


def test_approver_approves_with_the_csrf_token(keel_server: KeelServer, ui_model: str) -> None:
    with closing(signed_in(keel_server, "approver-user")) as client:
        page = client.get(PAGE)
        assert page.status_code == 200
        assert "approve-button" in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        no_token = client.post(f"{PAGE}/approve", json={"role": "approver"})
        assert no_token.status_code == 403
        cross_site = client.post(
            f"{PAGE}/approve",
            content="role=approver&csrf=" + csrf.group(1),
            headers={"Content-Type": "text/plain"},
        )
        assert cross_site.status_code == 415
        resp = client.post(
            f"{PAGE}/approve",
            json={"role": "approver", "comment": "looks good", "csrf": csrf.group(1)},
        )
        assert resp.status_code == 303, resp.text
        after = client.get(resp.headers["location"])
        assert "Your approval was recorded" in after.text
        assert "looks good" in after.text


def test_outsider_is_refused_the_page(keel_server: KeelServer, ui_model: str) -> None:
    with closing(signed_in(keel_server, "outsider")) as client:
        resp = client.get(PAGE)
        assert resp.status_code == 403
        assert "text/html" in resp.headers["content-type"]


def test_logout_and_revocation_end_the_session(keel_server: KeelServer, ui_model: str) -> None:
    with closing(signed_in(keel_server, "viewer-user")) as client:
        assert client.get(PAGE).status_code == 200
        resp = client.get("/logout")
        assert resp.status_code == 303
        assert client.get(PAGE).status_code == 303
    store = SqlMetadataStore(keel_server.settings.store_uri, actor="setup")
    gov = Governance(store)
    gov.add_user("ui-leaver", project=PROJECT, role="viewer")
    issued = gov.create_token("ui-leaver")
    keel_server.tokens["ui-leaver"] = issued.token
    with closing(signed_in(keel_server, "ui-leaver")) as client:
        assert client.get(PAGE).status_code == 200
        gov.revoke_token(issued.record.id)
        assert client.get(PAGE).status_code == 303
    store.close()

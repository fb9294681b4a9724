"""Webhook alerts against a real HTTP server on 127.0.0.1, and the addresses never called."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

import keel.monitoring as km
from keel.config import reset_settings
from keel.errors import InvalidArgumentError, PermissionDeniedError

from ._traffic import HOUR, T0, customers, log_hours

END = int(T0.timestamp() * 1000) + 24 * HOUR


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any], dict[str, str]]]

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(  # type: ignore[attr-defined]
            (self.path, json.loads(body), dict(self.headers))
        )
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _allow(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEEL_WEBHOOK_ALLOWLIST", value)
    reset_settings()


def _reference() -> Any:
    return customers(np.random.default_rng(5), 2000, drifted=False)


def test_webhook_is_called_once_per_breach_and_once_on_resolution(
    keel_home: Any, hook_server: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = hook_server
    _allow(monkeypatch, "127.0.0.1")
    log_hours("churn", [False, True, True, False, True])
    km.create_monitor(
        "churn",
        reference=_reference(),
        checks=[km.data_drift(share=0.3)],
        alerts=[
            km.webhook(url + "/keel?team=risk", headers={"Authorization": "Bearer s3cret"}),
            km.log(),
        ],
    )
    results = km.run_monitor("churn", until=END)
    assert [r.status for r in results] == ["ok", "breach", "breach", "ok", "breach"]
    statuses = [(body["status"], body["window_start"]) for _, body, _ in received]
    assert statuses == [
        ("firing", results[1].window_start),
        ("resolved", results[3].window_start),
        ("firing", results[4].window_start),
    ]
    path, body, headers = received[0]
    assert path == "/keel?team=risk"
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"
    assert body["monitor"] == "churn"
    assert body["check"] == "data_drift"
    assert "amount" in body["message"]
    km.run_monitor("churn", until=END)
    assert len(received) == 3  # no storm: nothing new, nothing sent
    events = km.list_events("churn")
    assert [e.deliveries[0]["ok"] for e in events] == [True, True, True]
    assert events[0].deliveries[0]["target"] == f"webhook {url}/keel"  # no query, no headers
    assert "s3cret" not in json.dumps([e.__dict__ for e in events])


def test_webhook_hosts_must_be_allow_listed(
    keel_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _allow(monkeypatch, "")
    with pytest.raises(
        PermissionDeniedError,
        match=r"host '127.0.0.1' is not in KEEL_WEBHOOK_ALLOWLIST \(which allows nothing\)"
        r".*KEEL_WEBHOOK_ALLOWLIST=127.0.0.1:9999",
    ):
        km.webhook("http://127.0.0.1:9999/hook")
    _allow(monkeypatch, "hooks.example.com, 127.0.0.1:9999, *.corp.example, 10.0.0.0/8")
    km.webhook("http://127.0.0.1:9999/hook")
    km.webhook("http://10.1.2.3/hook")
    with pytest.raises(PermissionDeniedError, match=r"not in KEEL_WEBHOOK_ALLOWLIST"):
        km.webhook("http://127.0.0.1:9998/hook")  # another port
    with pytest.raises(PermissionDeniedError, match=r"not in KEEL_WEBHOOK_ALLOWLIST"):
        km.webhook("http://127.0.0.2:9999/hook")
    with pytest.raises(InvalidArgumentError, match=r"is not an http\(s\) URL with a host"):
        km.webhook("file:///etc/passwd")
    with pytest.raises(InvalidArgumentError, match=r"carries credentials. Pass them as headers"):
        km.webhook("http://user:pw@127.0.0.1:9999/hook")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://100.100.100.200/latest/meta-data/",
        "http://0.0.0.0:8080/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_link_local_and_metadata_addresses_are_refused_even_when_allow_listed(
    keel_home: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    _allow(
        monkeypatch,
        "169.254.169.254,169.254.170.2,fd00:ec2::254,::ffff:169.254.169.254,fe80::1,"
        "100.100.100.200,0.0.0.0:8080,metadata.google.internal,169.254.0.0/16,0.0.0.0/0",
    )
    with pytest.raises(PermissionDeniedError, match=r"Keel never calls"):
        km.webhook(url)


def test_delivery_checks_again_and_follows_no_redirect(
    keel_home: Any, hook_server: tuple[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = hook_server
    _allow(monkeypatch, "127.0.0.1")
    log_hours("churn", [False, True], seed=1)
    log_hours("other", [False, True], seed=2)
    km.create_monitor(
        "churn",
        reference=_reference(),
        checks=[km.data_drift(share=0.3)],
        alerts=[km.webhook(url + "/redirect")],
    )
    km.create_monitor(
        "other",
        reference=_reference(),
        checks=[km.data_drift(share=0.3)],
        alerts=[km.webhook(url + "/hook")],
    )
    km.run_monitor("churn", until=END)
    (event,) = km.list_events("churn")
    assert event.deliveries[0]["ok"] is False
    assert event.deliveries[0]["status"] == 302
    assert len(received) == 1  # the redirect to the metadata address was not followed
    _allow(monkeypatch, "hooks.example.com")  # the allow-list shrank after the monitor was made
    km.run_monitor("other", until=END)
    (event,) = km.list_events("other")
    assert event.deliveries[0]["ok"] is False
    assert "not in KEEL_WEBHOOK_ALLOWLIST" in event.deliveries[0]["error"]
    assert len(received) == 1

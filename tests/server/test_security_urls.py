"""Security catalog: no request to a user-given URL except allow-listed webhooks.

``keel server`` has no route that stores a URL it later requests (its only outbound requests
go to the configured stores), so the one place Keel calls a user-given URL is a monitoring
webhook. Its guard (``keel.monitoring._alerts``) is checked here: metadata and link-local
addresses are refused whatever the allow-list says, names are checked after DNS resolution,
the connection goes to the vetted address, and redirects are not followed.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from keel.errors import InvalidArgumentError, PermissionDeniedError
from keel.monitoring._alerts import _post, check_webhook_url
from keel.server._app import api_routers

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://2852039166/",  # 169.254.169.254 as one decimal number
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.100.100.200/",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0:8080/",
    # Regression: IPv4 embedded in IPv6 by NAT64 and the IPv4-compatible form got through.
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[::a9fe:a9fe]/",
]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_and_link_local_are_refused_even_when_allow_listed(url: str) -> None:
    host = url.split("//", 1)[1].split("/", 1)[0]
    with pytest.raises(PermissionDeniedError, match="metadata"):
        check_webhook_url(url, (host, "*", "0.0.0.0/0", "::/0", "169.254.0.0/16"))


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            addr = answers[host]
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (addr, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_names_are_checked_after_dns_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(
        monkeypatch,
        {"hooks.example.test": "169.254.169.254", "v6.example.test": "fe80::1"},
    )
    for host in ("hooks.example.test", "v6.example.test"):
        with pytest.raises(PermissionDeniedError, match="resolves to"):
            check_webhook_url(f"https://{host}/alert", (host,))


def test_localhost_is_refused_unless_allow_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, {"sneaky.example.test": "127.0.0.1", "hooks.example.com": "192.0.2.10"})
    for url in ("http://localhost:8080/", "http://127.0.0.1/", "http://sneaky.example.test/"):
        with pytest.raises(PermissionDeniedError, match="not in KEEL_WEBHOOK_ALLOWLIST"):
            check_webhook_url(url, ("hooks.example.com",))
    # Nothing is allowed by default.
    with pytest.raises(PermissionDeniedError, match="allows nothing"):
        check_webhook_url("https://hooks.example.com/", ())
    # An allow-listed network must hold every address the name resolves to.
    with pytest.raises(PermissionDeniedError, match="not in KEEL_WEBHOOK_ALLOWLIST"):
        check_webhook_url("http://sneaky.example.test/", ("10.0.0.0/8",))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "http://user:pw@hooks.example.com/"]
)
def test_other_schemes_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        check_webhook_url(url, ("hooks.example.com", "127.0.0.1"))


class _Redirector(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:
        self.hits.append(self.path)
        self.send_response(302)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_redirects_are_not_followed(redirector: int) -> None:
    status = _post(
        f"http://127.0.0.1:{redirector}/hook",
        b"{}",
        {},
        5.0,
        (f"127.0.0.1:{redirector}",),
    )
    assert status == 302  # answered, not followed to the metadata address
    assert _Redirector.hits == ["/hook"]


def test_the_server_has_no_route_that_stores_a_url_it_requests() -> None:
    # Routes whose bodies could hold a URL the server would later call (webhooks, callbacks,
    # remote sources): none today. A new one must come with its guard and a case here.
    suspicious = ("webhook", "callback", "url", "alert", "notify", "import")
    paths = [r.path for router in api_routers() for r in router.routes]  # type: ignore[attr-defined]
    assert [p for p in paths if any(s in p.lower() for s in suspicious)] == []

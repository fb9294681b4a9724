"""Where alerts go: a webhook (HTTP POST of JSON) or Python's logging.

Webhook targets are checked twice: when the monitor is created and again before every
delivery. A target must match the allow-list setting (``KEEL_WEBHOOK_ALLOWLIST``: ``host``,
``host:port``, ``*.example.com`` or a network such as ``10.0.0.0/8``; empty allows nothing), and
no address its host resolves to may be link-local or a cloud metadata endpoint
(``169.254.0.0/16``, ``fe80::/10``, ``fd00:ec2::254``, ``100.100.100.200``, ...), an unspecified
or multicast address, whatever the allow-list says. The request then goes to the vetted
address itself, not to a second DNS answer, and redirects are not followed, so neither DNS
rebinding nor a redirect can steer it elsewhere.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidArgumentError, PermissionDeniedError

__all__ = [
    "Alert",
    "LogAlert",
    "WebhookAlert",
    "alert_from_dict",
    "check_webhook_url",
    "log",
    "webhook",
]

logger = logging.getLogger("keel.monitoring")

_BLOCKED_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure, OpenStack metadata
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
        "0.0.0.0/8",  # "this host": connects to local services on some stacks
        "::/128",
        "224.0.0.0/4",  # multicast
        "ff00::/8",
        "255.255.255.255/32",
    )
]
_NAT64_PREFIX = ipaddress.IPv6Address("64:ff9b::").packed[:12]
_BLOCKED_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)


@dataclass(frozen=True)
class WebhookAlert:
    """POST each alert as JSON to ``url``.

    Attributes:
        url: The endpoint (``http`` or ``https``).
        headers: Extra request headers (an authorization token, say); never logged or stored
            in events.
        timeout: Seconds to wait for the endpoint.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    kind: str = "webhook"

    def to_dict(self) -> dict[str, Any]:
        """Return the stored form."""
        return {
            "kind": self.kind,
            "url": self.url,
            "headers": self.headers,
            "timeout": self.timeout,
        }

    @property
    def target(self) -> str:
        """How the target is named in events (the URL without query string)."""
        parts = urllib.parse.urlsplit(self.url)
        return f"webhook {parts.scheme}://{parts.netloc}{parts.path}"

    def deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``payload``; return ``{target, ok, status, error}`` (never raises)."""
        from keel.config import get_settings

        body = json.dumps(payload, default=str).encode()
        error = ""
        status = None
        for attempt in range(2):
            try:
                status = _post(
                    self.url, body, self.headers, self.timeout, get_settings().webhook_allowlist
                )
                if 200 <= status < 300:
                    return {"target": self.target, "ok": True, "status": status, "error": ""}
                error = f"HTTP {status}"
                if status < 500:
                    break
            except PermissionDeniedError as exc:
                return {"target": self.target, "ok": False, "status": None, "error": exc.message}
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt == 0:
                time.sleep(0.2)
        logger.warning("Keel alert could not be delivered to %s: %s", self.target, error)
        return {"target": self.target, "ok": False, "status": status, "error": error}


@dataclass(frozen=True)
class LogAlert:
    """Write each alert to the ``keel.monitoring`` logger.

    Attributes:
        level: The logging level name (``"warning"`` by default).
    """

    level: str = "warning"
    kind: str = "log"

    def to_dict(self) -> dict[str, Any]:
        """Return the stored form."""
        return {"kind": self.kind, "level": self.level}

    @property
    def target(self) -> str:
        """How the target is named in events."""
        return f"log ({self.level})"

    def deliver(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Log ``payload`` as one line; return ``{target, ok, status, error}``."""
        level = logging.getLevelName(self.level.upper())
        logger.log(
            level if isinstance(level, int) else logging.WARNING,
            "Keel monitor %s: %s %s (window %s): %s",
            payload.get("monitor"),
            payload.get("check"),
            "FIRING" if payload.get("status") == "firing" else "resolved",
            payload.get("window_start_iso"),
            payload.get("message"),
        )
        return {"target": self.target, "ok": True, "status": None, "error": ""}


Alert = WebhookAlert | LogAlert


def webhook(
    url: str, *, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> WebhookAlert:
    """Alert by POSTing JSON to ``url`` once per breach (and once when it resolves).

    Args:
        url: An ``http`` or ``https`` URL whose host is in ``KEEL_WEBHOOK_ALLOWLIST``.
        headers: Extra request headers, such as an authorization token.
        timeout: Seconds to wait for the endpoint.

    Raises:
        InvalidArgumentError: The URL is malformed.
        PermissionDeniedError: The host is not allow-listed, or is link-local or a metadata
            address.

    Examples:
        >>> import keel.monitoring as km
        >>> km.webhook("http://169.254.169.254/latest")
        Traceback (most recent call last):
        ...
        keel.errors.PermissionDeniedError: Webhook URL 'http://169.254.169.254/latest' ...
    """
    from keel.config import get_settings

    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise InvalidArgumentError(
            f"timeout must be a positive number of seconds, got {timeout!r}."
        )
    check_webhook_url(url, get_settings().webhook_allowlist)
    return WebhookAlert(url, dict(headers or {}), float(timeout))


def log(level: str = "warning") -> LogAlert:
    """Alert by writing to the ``keel.monitoring`` logger once per breach.

    Args:
        level: ``"debug"``, ``"info"``, ``"warning"``, ``"error"`` or ``"critical"``.

    Raises:
        InvalidArgumentError: The level is not one of those.
    """
    levels = ("debug", "info", "warning", "error", "critical")
    if not isinstance(level, str) or level.lower() not in levels:
        raise InvalidArgumentError(f"level must be one of {levels!r}, got {level!r}.")
    return LogAlert(level.lower())


def alert_from_dict(data: dict[str, Any]) -> Alert:
    """Rebuild an alert target from its stored form.

    Raises:
        InvalidArgumentError: The kind is unknown.
    """
    if data.get("kind") == "webhook":
        return WebhookAlert(data["url"], dict(data.get("headers") or {}), float(data["timeout"]))
    if data.get("kind") == "log":
        return LogAlert(data.get("level", "warning"))
    raise InvalidArgumentError(f"Unknown alert kind {data.get('kind')!r}; known: 'webhook', 'log'.")


# -- URL safety ---------------------------------------------------------------------------


def _parse(url: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str):
        raise InvalidArgumentError(f"A webhook URL must be a string, got {url!r}.")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(
            f"Webhook URL {url!r} is not an http(s) URL with a host. Use one such as "
            "'https://hooks.example.com/keel'."
        )
    if parts.username or parts.password:
        raise InvalidArgumentError(
            f"Webhook URL {_redact(url)!r} carries credentials. Pass them as headers instead: "
            "webhook(url, headers={'Authorization': 'Bearer ...'})."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidArgumentError(f"Webhook URL {url!r} has an invalid port.") from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname.lower().rstrip("."), port, path


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        packed = ip.packed
        # IPv4 embedded in IPv6 by NAT64 (64:ff9b::/96) or the old IPv4-compatible form (::/96)
        # reaches the same IPv4 host: check the embedded address too.
        embedded = ipaddress.IPv4Address(packed[12:])
        nat64 = packed[:12] == _NAT64_PREFIX
        compatible = packed[:12] == bytes(12) and int(embedded) > 1  # not :: or ::1
        if mapped is None and (nat64 or compatible):
            mapped = embedded
        if mapped is not None and _blocked(mapped):
            return True
    return any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version)


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _allowed(
    host: str,
    port: int,
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    allowlist: tuple[str, ...],
) -> bool:
    for entry in allowlist:
        entry = entry.strip().lower()
        if "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if addresses and all(a.version == net.version and a in net for a in addresses):
                return True
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]")
        if name.startswith("*."):
            if host.endswith(name[1:]) and host != name[2:]:
                return True
        elif host == name:
            return True
    return False


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidArgumentError(
            f"The webhook host {host!r} does not resolve ({exc}). Check the URL."
        ) from exc
    out = []
    for info in infos:
        addr = _literal(str(info[4][0]).split("%")[0])
        if addr is not None and addr not in out:
            out.append(addr)
    return out


def check_webhook_url(
    url: str, allowlist: tuple[str, ...], *, resolve: bool = True
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Check a webhook URL against the allow-list and the blocked addresses.

    Args:
        url: The webhook URL.
        allowlist: Entries of ``KEEL_WEBHOOK_ALLOWLIST``.
        resolve: Resolve the host name and check every address it has.

    Returns:
        The vetted addresses to connect to.

    Raises:
        InvalidArgumentError: The URL is malformed or its host does not resolve.
        PermissionDeniedError: The host is blocked or not allow-listed.
    """
    _scheme, host, port, _path = _parse(url)
    shown = _redact(url)
    if host in _BLOCKED_NAMES:
        raise PermissionDeniedError(
            f"Webhook URL {shown!r} names a cloud metadata host, which Keel never calls."
        )
    literal = _literal(host)
    if literal is not None and _blocked(literal):
        raise PermissionDeniedError(
            f"Webhook URL {shown!r} points at {literal}, a link-local, metadata or otherwise "
            "reserved address, which Keel never calls, whatever KEEL_WEBHOOK_ALLOWLIST says."
        )
    addresses = _resolve(host, port) if resolve or literal is not None else []
    bad = [a for a in addresses if _blocked(a)]
    if bad:
        raise PermissionDeniedError(
            f"Webhook URL {shown!r}: its host resolves to {bad[0]}, a link-local, metadata or "
            "otherwise reserved address, which Keel never calls."
        )
    if not _allowed(host, port, addresses, allowlist):
        listed = ", ".join(allowlist) or "nothing"
        raise PermissionDeniedError(
            f"Webhook URL {shown!r}: host {host!r} is not in KEEL_WEBHOOK_ALLOWLIST (which allows "
            f"{listed}). Add it, e.g. KEEL_WEBHOOK_ALLOWLIST={host}:{port}, to let alerts call it."
        )
    return addresses


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, allowlist: tuple[str, ...]
) -> int:
    scheme, host, port, path = _parse(url)
    addresses = check_webhook_url(url, allowlist)
    address = str(addresses[0])
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = cls(host, port, address, timeout)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "keel-monitoring",
                **headers,
            },
        )
        response = conn.getresponse()
        response.read(65536)
        return int(response.status)
    finally:
        conn.close()

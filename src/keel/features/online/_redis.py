"""``RedisOnlineStore``: online features in Redis (``KEEL_ONLINE_STORE=redis://host:6379/0``).

Each entity row is one string key, ``{prefix}:{namespace}:{json key values}``, whose value is a
40-character ordering stamp (event time, then created time, zero-padded) followed by the row's
values as JSON. Lookups of many entities are one ``MGET``; writes are a Lua script per batch
that keeps the stored row when it is newer, so writes are atomic and never go back in time.

The key prefix is ``keel`` unless the URI says otherwise: ``redis://host:6379/0?prefix=team-a``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from keel.errors import InvalidArgumentError, MissingDependencyError, StoreUnavailableError
from keel.features.online.base import BaseOnlineStore, OnlineRow, OnlineTable

__all__ = ["RedisOnlineStore"]

_OFFSET = 2**62
_STAMP = 40
_MIN_CREATED = -(2**62)
_BATCH = 2000

# KEYS: row keys; ARGV: stamp_1, value_1, stamp_2, value_2, ...
_UPSERT = """
local n = 0
for i = 1, #KEYS do
  local stamp = ARGV[2 * i - 1]
  local cur = redis.call('GETRANGE', KEYS[i], 0, 39)
  if cur == '' or cur <= stamp then
    redis.call('SET', KEYS[i], stamp .. ARGV[2 * i])
    n = n + 1
  end
end
return n
"""


def _stamp(event_us: int, created_us: int | None) -> str:
    created = _MIN_CREATED if created_us is None else created_us
    return f"{event_us + _OFFSET:020d}{created + _OFFSET:020d}"


def _encode_key(values: Sequence[Any]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


class RedisOnlineStore(BaseOnlineStore):
    """Online features in Redis.

    Args:
        uri: ``redis://[:password@]host:port/db[?prefix=NAME]`` (``rediss://`` for TLS).
    """

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError.for_extra("redis", "redis", "Redis online store") from exc
        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        self.prefix = query.pop("prefix", "keel")
        if not self.prefix or any(c in self.prefix for c in ":*?[]"):
            raise InvalidArgumentError(
                f"The Redis key prefix {self.prefix!r} in {self.display_uri!r} may not be empty "
                "or contain ':', '*', '?', '[' or ']'."
            )
        clean = urlunsplit(parts._replace(query=urlencode(query)))
        try:
            self.client = redis.Redis.from_url(clean, socket_timeout=30)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"Online store URI {self.display_uri!r} is not a Redis URL: {exc}. Use "
                "'redis://127.0.0.1:6379/0'."
            ) from exc
        self._redis = redis
        self._script = self.client.register_script(_UPSERT)

    @property
    def display_uri(self) -> str:
        """The URI without its password."""
        parts = urlsplit(self.uri)
        if parts.password:
            host = parts.hostname or ""
            netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
        return self.uri

    def _fail(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"The Redis online store {self.display_uri!r} cannot be reached: {exc}. Check that "
            "Redis is running and KEEL_ONLINE_STORE is right.",
            details={"uri": self.display_uri},
        )

    def _key(self, namespace: str, values: Sequence[Any]) -> str:
        return f"{self.prefix}:{namespace}:{_encode_key(values)}"

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def write(self, table: OnlineTable, rows: Iterable[Sequence[Any]]) -> int:
        """Upsert rows, a Lua script call per 2,000 rows; return how many replaced or added."""
        nkeys = len(table.keys)
        sent = 0
        keys: list[str] = []
        args: list[str] = []
        dumps = json.dumps
        try:
            for row in rows:
                keys.append(self._key(table.namespace, row[:nkeys]))
                args.append(_stamp(row[nkeys], row[nkeys + 1]))
                args.append(dumps(list(row[nkeys + 2 :]), separators=(",", ":")))
                if len(keys) >= _BATCH:
                    sent += int(self._script(keys=keys, args=args))
                    keys, args = [], []
            if keys:
                sent += int(self._script(keys=keys, args=args))
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc
        return sent

    def read(self, table: OnlineTable, keys: Sequence[tuple[Any, ...]]) -> list[OnlineRow | None]:
        """Look the keys up with one ``MGET``."""
        if not keys:
            return []
        names = [self._key(table.namespace, k) for k in keys]
        try:
            values = self.client.mget(names)
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc
        out: list[OnlineRow | None] = []
        loads = json.loads
        for raw in values:
            if raw is None:
                out.append(None)
                continue
            stamp = raw[:_STAMP]
            event = int(stamp[:20]) - _OFFSET
            created: int | None = int(stamp[20:]) - _OFFSET
            if created == _MIN_CREATED:
                created = None
            out.append((event, created, *loads(raw[_STAMP:])))
        return out

    def drop(self, table: OnlineTable) -> None:
        """Delete every key of ``table``'s namespace."""
        self.drop_namespace(table.namespace)

    def namespaces(self, view: str) -> list[str]:
        """Return the namespaces with keys of ``view`` (a ``SCAN``)."""
        found: set[str] = set()
        pattern = f"{self.prefix}:{_glob_escape(view)}@*"
        try:
            for key in self.client.scan_iter(match=pattern, count=1000):
                text = key.decode() if isinstance(key, bytes) else str(key)
                found.add(text[len(self.prefix) + 1 :].split(":", 1)[0])
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc
        return sorted(found)

    def drop_namespace(self, namespace: str) -> None:
        """Delete every key of one namespace (``SCAN`` + ``UNLINK`` in chunks)."""
        pattern = f"{self.prefix}:{_glob_escape(namespace)}:*"
        try:
            chunk: list[bytes] = []
            for key in self.client.scan_iter(match=pattern, count=1000):
                chunk.append(key)
                if len(chunk) >= 1000:
                    self.client.unlink(*chunk)
                    chunk = []
            if chunk:
                self.client.unlink(*chunk)
        except self._redis.RedisError as exc:
            raise self._fail(exc) from exc


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)

"""Settings: where the metadata store and artifacts live, and how tracking behaves.

Settings come from, in order of precedence:

1. environment variables (``KEEL_HOME``, ``KEEL_STORE_URI``, ``KEEL_ARTIFACT_URI``,
   ``KEEL_TRACKING_URI``, ``KEEL_S3_ENDPOINT_URL``, ``KEEL_FLUSH_INTERVAL``,
   ``KEEL_FLUSH_SIZE``, ``KEEL_USER``, ``KEEL_WEBHOOK_ALLOWLIST``);
2. a ``keel.toml`` file in the current directory (or the file named by ``KEEL_CONFIG``),
   whose ``[keel]`` table uses the same names in lower case without the prefix
   (``home``, ``store_uri``, ``artifact_uri``, ...);
3. defaults: ``KEEL_HOME`` is ``~/.keel``; the SQLite file is ``$KEEL_HOME/keel.db`` and the
   artifact folder ``$KEEL_HOME/artifacts``.

Nothing is read at import time: :func:`get_settings` reads once and caches, and
:func:`reset_settings` forgets the cache (tests and ``keel.set_tracking_uri`` use it).
"""

from __future__ import annotations

import getpass
import os
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from keel.errors import InvalidArgumentError, near_matches

__all__ = [
    "PerSettings",
    "Settings",
    "get_settings",
    "override_settings",
    "require_embedded",
    "reset_settings",
]

_FIELDS = (
    "home",
    "store_uri",
    "artifact_uri",
    "tracking_uri",
    "s3_endpoint_url",
    "flush_interval",
    "flush_size",
    "user",
    "webhook_allowlist",
    "online_store_uri",
    "cost_rates",
    "token",
    "project",
)


@dataclass(frozen=True)
class Settings:
    """Resolved settings.

    Attributes:
        home: The folder holding the default SQLite file and artifact folder.
        store_uri: SQLAlchemy URI of the metadata store (``sqlite:///...`` or
            ``postgresql+psycopg://...``).
        artifact_uri: A local folder or an ``s3://bucket/prefix`` URI.
        tracking_uri: ``None`` for the embedded store, or the ``http(s)://`` URL of a server.
        s3_endpoint_url: Endpoint of an S3-compatible service (MinIO, moto), if not AWS.
        flush_interval: Seconds between background flushes of buffered metrics; at most this
            much logging is lost if the process is killed with SIGKILL.
        flush_size: Buffered metric points that trigger a flush.
        user: The name recorded as the creator of runs and the actor of audit events.
        webhook_allowlist: Hosts that monitoring alerts may call by webhook
            (``KEEL_WEBHOOK_ALLOWLIST``, comma-separated): ``host``, ``host:port``,
            ``*.example.com`` or a network such as ``10.0.0.0/8``. Empty: no webhook is allowed.
            Link-local and cloud metadata addresses are refused even when listed.
        online_store_uri: Where online features live (``KEEL_ONLINE_STORE``):
            ``sqlite:///$KEEL_HOME/online.db`` by default, or ``redis://host:6379/0``.
        cost_rates: Prices for ``keel cost`` (``KEEL_COST_RATES``), as
            ``"cpu_hour=0.05,gb_hour=0.01,gpu_hour=2.5"``; unset rates keep their defaults.
        token: The API token sent to a ``keel server`` (``KEEL_TOKEN``); never printed.
        project: The project new experiments and models go in on a server (``KEEL_PROJECT``).
        config_file: The ``keel.toml`` that was read, if any.
    """

    home: Path
    store_uri: str
    artifact_uri: str
    tracking_uri: str | None = None
    s3_endpoint_url: str | None = None
    flush_interval: float = 1.0
    flush_size: int = 5000
    user: str = "local"
    webhook_allowlist: tuple[str, ...] = ()
    online_store_uri: str | None = None
    cost_rates: str | None = None
    token: str | None = field(default=None, repr=False)
    project: str = "default"
    config_file: Path | None = None


_cached: Settings | None = None


def _read_toml() -> tuple[dict[str, Any], Path | None]:
    explicit = os.environ.get("KEEL_CONFIG")
    path = Path(explicit) if explicit else Path.cwd() / "keel.toml"
    if not path.is_file():
        if explicit:
            raise InvalidArgumentError(
                f"KEEL_CONFIG names {explicit!r}, which is not a file. "
                "Point it at a keel.toml or unset it."
            )
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(
            f"The settings file {str(path)!r} is not valid TOML: {exc}. Fix or remove it."
        ) from exc
    outside = sorted(set(data) - {"keel"})
    if outside:
        raise InvalidArgumentError(
            f"{str(path)!r} has {outside!r} outside the [keel] table, where Keel does not look. "
            "Put every setting under a [keel] header."
        )
    table = data.get("keel", {})
    if not isinstance(table, dict):
        raise InvalidArgumentError(f"{str(path)!r}: [keel] must be a table of settings.")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        hints = "".join(near_matches(u, _FIELDS) for u in unknown)
        raise InvalidArgumentError(
            f"{str(path)!r} has unknown settings {unknown!r}.{hints} "
            f"Known settings: {list(_FIELDS)!r}."
        )
    for key, value in table.items():
        if key not in _NUMBERS and key != "webhook_allowlist" and not isinstance(value, str):
            raise InvalidArgumentError(
                f"{str(path)!r}: setting {key!r} must be a string, got {value!r}. "
                f'Quote it: {key} = "...".'
            )
    return table, path


#: Numeric settings and their types; each must be positive.
_NUMBERS: dict[str, type[float] | type[int]] = {"flush_interval": float, "flush_size": int}


def _number(where: str, raw: Any, kind: type[float] | type[int]) -> Any:
    """Parse a positive number; ``where`` names the variable or file the value came from."""
    what = "a positive integer" if kind is int else "a positive number"
    value: float | int | None = None
    if isinstance(raw, str):
        try:
            value = kind(raw.strip())
        except ValueError:
            value = None
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = raw if kind is float or isinstance(raw, int) else None
    if value is None or (kind is int and value != int(value)):
        raise InvalidArgumentError(f"{where} must be {what}, got {raw!r}. Set it to, e.g., 5.")
    if not value > 0:  # also refuses NaN
        raise InvalidArgumentError(f"{where} must be {what}, got {raw!r}. Set it to, e.g., 5.")
    return kind(value)


def _load() -> Settings:
    table, config_file = _read_toml()

    def from_env(name: str) -> bool:
        return os.environ.get(f"KEEL_{name.upper()}") not in (None, "")

    def pick(name: str) -> Any:
        return os.environ[f"KEEL_{name.upper()}"] if from_env(name) else table.get(name)

    def number(name: str, default: float) -> Any:
        raw = pick(name)
        if raw is None:
            return default
        where = f"KEEL_{name.upper()}" if from_env(name) else f"{name!r} in {str(config_file)!r}"
        return _number(where, raw, _NUMBERS[name])

    home = Path(pick("home") or Path.home() / ".keel").expanduser()
    if not home.is_absolute():
        # A relative path in keel.toml is relative to that file; in KEEL_HOME, to the cwd.
        in_file = config_file is not None and not from_env("home")
        home = (config_file.parent if config_file and in_file else Path.cwd()) / home
    store_uri = pick("store_uri") or f"sqlite:///{home / 'keel.db'}"
    artifact_uri = pick("artifact_uri") or str(home / "artifacts")
    try:
        default_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        default_user = "local"
    return Settings(
        home=home,
        store_uri=str(store_uri),
        artifact_uri=str(artifact_uri),
        tracking_uri=pick("tracking_uri") or None,
        s3_endpoint_url=pick("s3_endpoint_url") or None,
        flush_interval=number("flush_interval", 1.0),
        flush_size=number("flush_size", 5000),
        user=str(pick("user") or default_user),
        webhook_allowlist=_allowlist(pick("webhook_allowlist")),
        online_store_uri=str(
            os.environ.get("KEEL_ONLINE_STORE")
            or pick("online_store_uri")
            or f"sqlite:///{home / 'online.db'}"
        ),
        cost_rates=pick("cost_rates") or None,
        token=pick("token") or None,
        project=str(pick("project") or "default"),
        config_file=config_file,
    )


def _allowlist(raw: Any) -> tuple[str, ...]:
    if raw in (None, ""):
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise InvalidArgumentError(
            f"Setting KEEL_WEBHOOK_ALLOWLIST must be comma-separated hosts, got {raw!r}."
        )
    return tuple(i.strip().lower() for i in items if i.strip())


def get_settings() -> Settings:
    """Return the current settings, reading the environment and ``keel.toml`` on first use."""
    global _cached
    if _cached is None:
        _cached = _load()
    return _cached


def override_settings(**changes: Any) -> Settings:
    """Replace some settings for the rest of the process and return the result.

    Args:
        **changes: Field names of :class:`Settings` and their new values.
    """
    global _cached
    unknown = sorted(set(changes) - set(_FIELDS))
    if unknown:
        raise InvalidArgumentError(f"Unknown settings {unknown!r}. Known: {list(_FIELDS)!r}.")
    _cached = replace(get_settings(), **changes)
    return _cached


def reset_settings() -> None:
    """Forget the cached settings so the next :func:`get_settings` reads them again."""
    global _cached
    _cached = None


class _Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=_Closable)


class PerSettings(Generic[_C]):
    """One object per process for the current settings, rebuilt when the settings change.

    Each capability's client (data, monitoring, llm) is a connection-holding object that must
    follow :func:`reset_settings` and :func:`override_settings`; this holds it, closing the old
    one when the settings object changes, under a lock so threads share one.

    Args:
        factory: Builds the object from settings (usually the client class).
    """

    def __init__(self, factory: Callable[[Settings], _C]) -> None:
        self._factory = factory
        self._value: _C | None = None
        self._settings: Settings | None = None
        self._lock = threading.Lock()

    def get(self) -> _C:
        """Return the object for the current settings, (re)building it when they changed."""
        settings = get_settings()
        with self._lock:
            if self._value is None or self._settings is not settings:
                if self._value is not None:
                    self._value.close()
                self._value = self._factory(settings)
                self._settings = settings
            return self._value

    def reset(self) -> None:
        """Close the current object; the next :meth:`get` builds a new one."""
        with self._lock:
            if self._value is not None:
                self._value.close()
            self._value = None
            self._settings = None


def require_embedded(settings: Settings, what: str) -> None:
    """Refuse an ``http(s)://`` tracking URI for a capability that has no remote client yet.

    Args:
        settings: The settings in use.
        what: The capability, for the message (``"datasets"``, ``"monitoring"``).

    Raises:
        InvalidArgumentError: ``KEEL_TRACKING_URI`` points at a server.
    """
    uri = settings.tracking_uri
    if uri and uri.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            f"KEEL_TRACKING_URI is {uri!r}, but this version of Keel has no remote client "
            f"for {what} yet. Unset KEEL_TRACKING_URI to use the local store "
            "(KEEL_STORE_URI / KEEL_HOME)."
        )

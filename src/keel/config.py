"""Settings: where the metadata store and artifacts live, and how tracking behaves.

Settings come from, in order of precedence:

1. environment variables (``KEEL_HOME``, ``KEEL_STORE_URI``, ``KEEL_ARTIFACT_URI``,
   ``KEEL_TRACKING_URI``, ``KEEL_S3_ENDPOINT_URL``, ``KEEL_FLUSH_INTERVAL``,
   ``KEEL_FLUSH_SIZE``, ``KEEL_USER``);
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
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keel.errors import InvalidArgumentError

__all__ = ["Settings", "get_settings", "override_settings", "reset_settings"]

_FIELDS = (
    "home",
    "store_uri",
    "artifact_uri",
    "tracking_uri",
    "s3_endpoint_url",
    "flush_interval",
    "flush_size",
    "user",
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
    table = data.get("keel", {})
    if not isinstance(table, dict):
        raise InvalidArgumentError(f"{str(path)!r}: [keel] must be a table of settings.")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise InvalidArgumentError(
            f"{str(path)!r} has unknown settings {unknown!r}. Known settings: {list(_FIELDS)!r}."
        )
    return table, path


def _number(name: str, raw: Any, kind: type[float] | type[int]) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Setting {name} must be a {kind.__name__}, got {raw!r}."
        ) from exc
    if value <= 0:
        raise InvalidArgumentError(f"Setting {name} must be positive, got {raw!r}.")
    return value


def _load() -> Settings:
    table, config_file = _read_toml()

    def pick(name: str) -> Any:
        env = os.environ.get(f"KEEL_{name.upper()}")
        return env if env not in (None, "") else table.get(name)

    home = Path(pick("home") or Path.home() / ".keel").expanduser()
    if not home.is_absolute():
        home = (config_file.parent if config_file else Path.cwd()) / home
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
        flush_interval=_number("KEEL_FLUSH_INTERVAL", pick("flush_interval") or 1.0, float),
        flush_size=_number("KEEL_FLUSH_SIZE", pick("flush_size") or 5000, int),
        user=str(pick("user") or default_user),
        config_file=config_file,
    )


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

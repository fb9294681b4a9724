"""Retention: how long each kind of data is kept, stored in the metadata store.

Policies (``keel retention set --prediction-logs 90d --runs-deleted 30d --pipeline-cache 14d``):

* ``prediction-logs``: prediction, label and trace log segments that ended longer ago expire;
* ``runs-deleted``: soft-deleted runs (``keel runs delete``) stay restorable this long, then
  garbage collection purges them (30 days unless set);
* ``pipeline-cache``: pipeline step cache entries older than this expire (a later run of the
  step computes it again).

Expired objects are removed by ``keel gc``; the blobs only they named are then freed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel.errors import InvalidArgumentError, near_matches
from keel.store import SqlMetadataStore
from keel.store._gc import GcRepository

__all__ = [
    "DEFAULT_RETENTION",
    "POLICIES",
    "RetentionPolicy",
    "format_duration",
    "get_retention",
    "parse_duration",
    "set_retention",
]

#: The policies and what each governs.
POLICIES: dict[str, str] = {
    "prediction-logs": "prediction, label and trace log segments, by the time they end",
    "runs-deleted": "soft-deleted runs, restorable until purged, by the time they were deleted",
    "pipeline-cache": "pipeline step cache entries, by the time they were written",
}

DAY_MS = 86_400_000

#: What applies while a policy is not set (``None``: kept forever).
DEFAULT_RETENTION: dict[str, int | None] = {
    "prediction-logs": None,
    "runs-deleted": 30 * DAY_MS,
    "pipeline-cache": None,
}

_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_FOREVER = ("forever", "never", "off", "none")


def parse_duration(text: str) -> int | None:
    """Parse ``"90d"``, ``"12h"``, ``"30m"``, ``"45s"`` or ``"2w"`` into milliseconds.

    ``"forever"`` (or ``never``, ``off``, ``none``) gives ``None``: kept forever.

    Raises:
        InvalidArgumentError: The text is no such duration.
    """
    if text.strip().lower() in _FOREVER:
        return None
    match = _DURATION.match(text.lower())
    if match is None:
        raise InvalidArgumentError(
            f"{text!r} is not a duration. Give a number and a unit: s, m, h, d or w (such as "
            "'90d' or '12h'), or 'forever'."
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(ms: int | None) -> str:
    """Format milliseconds in the largest whole unit (``"90d"``); ``None`` is ``"forever"``."""
    if ms is None:
        return "forever"
    for unit in ("w", "d", "h", "m"):
        if ms and ms % _UNITS[unit] == 0:
            return f"{ms // _UNITS[unit]}{unit}"
    return f"{ms / 1000:g}s"


@dataclass(frozen=True)
class RetentionPolicy:
    """One retention policy in force.

    Attributes:
        name: ``prediction-logs``, ``runs-deleted`` or ``pipeline-cache``.
        keep_ms: How long data is kept, in milliseconds; ``None`` for forever.
        is_default: Whether it was never set (the default applies).
        description: What it governs.
    """

    name: str
    keep_ms: int | None
    is_default: bool
    description: str


def _check_name(name: str) -> str:
    if name not in POLICIES:
        hint = near_matches(name, list(POLICIES))
        raise InvalidArgumentError(
            f"{name!r} is not a retention policy. {hint + ' ' if hint else ''}Policies: "
            f"{', '.join(POLICIES)}."
        )
    return name


def get_retention(store: SqlMetadataStore) -> dict[str, RetentionPolicy]:
    """Return every policy in force (set ones and defaults)."""
    stored = GcRepository(store).get_retention()
    return {
        name: RetentionPolicy(
            name,
            stored[name] if name in stored else DEFAULT_RETENTION[name],
            name not in stored,
            description,
        )
        for name, description in POLICIES.items()
    }


def set_retention(store: SqlMetadataStore, policies: dict[str, str | int | None]) -> None:
    """Set policies by name, from durations (``"90d"``), milliseconds, or ``None`` (forever).

    Raises:
        InvalidArgumentError: An unknown policy or a bad duration; nothing is changed.
    """
    parsed: dict[str, int | None] = {}
    for name, value in policies.items():
        _check_name(name)
        if isinstance(value, str):
            parsed[name] = parse_duration(value)
        elif value is None or (isinstance(value, int) and value >= 0):
            parsed[name] = value
        else:
            raise InvalidArgumentError(
                f"Retention {name!r} must be a duration such as '90d', got {value!r}."
            )
    if parsed:
        GcRepository(store).set_retention(parsed)

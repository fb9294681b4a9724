"""Cron expressions: five fields (minute hour day-of-month month day-of-week) and macros.

Supports ``*``, lists (``1,15``), ranges (``1-5``), steps (``*/15``, ``10-50/20``), month and
weekday names (``jan``, ``mon``), Sunday as 0 or 7, and ``@yearly @annually @monthly @weekly
@daily @midnight @hourly``. As in Vixie cron, when both day fields are restricted a day
matches if either does. Times are computed in the schedule's time zone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from keel.errors import InvalidArgumentError

__all__ = ["CronExpression", "parse_timezone"]

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(_MONTHS)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)
_HORIZON_DAYS = 366 * 5


def parse_timezone(name: str) -> ZoneInfo:
    """Return the time zone ``name`` (``"UTC"``, ``"Europe/Paris"``).

    Raises:
        InvalidArgumentError: No such time zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidArgumentError(
            f"Unknown time zone {name!r}. Use an IANA name such as 'UTC' or 'Europe/Paris'."
        ) from exc


def _field(text: str, expr: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    def fail(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"Cron expression {expr!r}: the {name} field {text!r} {why}. Each field is '*', a "
            f"number from {low} to {high}, a range 'a-b', a list 'a,b' or a step '*/n'."
        )

    def value(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise fail(f"has {token!r}, which is not a number")
        number = int(token)
        if not low <= number <= high:
            raise fail(f"has {number}, outside {low}-{high}")
        return number

    result: set[int] = set()
    for part in text.split(","):
        if not part:
            raise fail("has an empty list item")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise fail(f"has the step {step_text!r}; a step is a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = value(a), value(b)
            if start > end:
                raise fail(f"has the range {base!r}, which runs backwards")
        else:
            start = value(base)
            end = high if step_text else start
        result.update(range(start, end + 1, step))
    return result


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression.

    Args:
        text: Five fields or a macro, e.g. ``"0 3 * * *"`` (every day at 03:00).

    Raises:
        InvalidArgumentError: The expression is malformed (the message names the field).
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidArgumentError(f"A cron expression is a string, got {self.text!r}.")
        expr = _MACROS.get(self.text.strip().lower(), self.text.strip())
        parts = expr.split()
        if len(parts) != 5:
            raise InvalidArgumentError(
                f"Cron expression {self.text!r} has {len(parts)} fields; it needs 5 (minute "
                "hour day-of-month month day-of-week), e.g. '0 3 * * *', or a macro such as "
                "'@daily'."
            )
        sets = [
            _field(p, self.text, name, low, high, names)
            for p, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
        ]
        if 7 in sets[4]:
            sets[4] = (sets[4] - {7}) | {0}
        object.__setattr__(self, "_sets", sets)
        object.__setattr__(self, "_dom_any", parts[2] == "*")
        object.__setattr__(self, "_dow_any", parts[4] == "*")

    def _day_matches(self, day: dt.date) -> bool:
        sets = self._sets  # type: ignore[attr-defined]
        dom = day.day in sets[2]
        dow = (day.isoweekday() % 7) in sets[4]
        if self._dom_any or self._dow_any:  # type: ignore[attr-defined]
            return dom and dow
        return dom or dow

    def next_after(self, after: dt.datetime, tz: ZoneInfo | None = None) -> dt.datetime:
        """Return the first matching time strictly after ``after``, as an aware datetime.

        Args:
            after: An aware datetime (a naive one is taken to be in ``tz``).
            tz: The zone the expression is evaluated in (``after``'s zone by default, UTC
                for a naive one).

        Raises:
            InvalidArgumentError: Nothing matches within five years (``0 0 30 2 *``).
        """
        zone = tz or (after.tzinfo if isinstance(after.tzinfo, ZoneInfo) else ZoneInfo("UTC"))
        local = (after if after.tzinfo else after.replace(tzinfo=zone)).astimezone(zone)
        minutes, hours, _, months, _ = self._sets  # type: ignore[attr-defined]
        t = local.replace(second=0, microsecond=0, tzinfo=None) + dt.timedelta(minutes=1)
        limit = t + dt.timedelta(days=_HORIZON_DAYS)
        while t < limit:
            if t.month not in months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = dt.datetime(year, month, 1)
                continue
            if not self._day_matches(t.date()):
                t = dt.datetime(t.year, t.month, t.day) + dt.timedelta(days=1)
                continue
            if t.hour not in hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
                continue
            if t.minute not in minutes:
                t += dt.timedelta(minutes=1)
                continue
            return t.replace(tzinfo=zone)
        raise InvalidArgumentError(
            f"Cron expression {self.text!r} never matches (checked five years ahead). Check "
            "the day and month fields."
        )

"""Cost: what runs used (CPU seconds, wall time, peak memory, GPU seconds) times configured rates.

Every run records its wall time, CPU seconds and peak memory when it ends (tracking's
``ResourceClock``); pipeline steps record theirs on their step rows. A run that measured GPU use
sets the tag ``keel.gpu_seconds``. :func:`cost` groups runs started in a time window by model,
experiment, pipeline or user and prices them::

    cpu_cost    = CPU seconds / 3600           x cpu_hour
    memory_cost = peak GiB x wall hours        x gb_hour
    gpu_cost    = GPU seconds / 3600           x gpu_hour

Nested runs share their process with their parent (a tuning study's trials, a pipeline's
inline steps), so the parent's own figures already include theirs; in process pools and on Ray
they do not. A run tree therefore counts, for each figure, the larger of the top run's own
value and the sum over its children, and its peak memory is the largest of any of its runs.
A tree that logged versions of several models is split evenly between them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, near_matches

if TYPE_CHECKING:
    from keel.store import SqlMetadataStore
    from keel.store._governance_reads import ResourceRecord

__all__ = ["DEFAULT_RATES", "CostLine", "CostRates", "CostReport", "cost"]

#: Prices used for rates left unset (USD; in the range of on-demand cloud VMs).
DEFAULT_RATES: dict[str, float] = {"cpu_hour": 0.05, "gb_hour": 0.005, "gpu_hour": 2.5}
_GROUPS = ("model", "experiment", "pipeline", "user")
_GIB = 2**30


@dataclass(frozen=True)
class CostRates:
    """Prices per CPU hour, per GiB of peak memory held for an hour, and per GPU hour."""

    cpu_hour: float = DEFAULT_RATES["cpu_hour"]
    gb_hour: float = DEFAULT_RATES["gb_hour"]
    gpu_hour: float = DEFAULT_RATES["gpu_hour"]

    @classmethod
    def parse(cls, text: str | None) -> CostRates:
        """Read ``"cpu_hour=0.05,gb_hour=0.01,gpu_hour=2.5"`` (any subset; others default).

        Raises:
            InvalidArgumentError: An unknown rate name or a value that is not a number >= 0.
        """
        if not text:
            return cls()
        values: dict[str, float] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            name, sep, raw = item.partition("=")
            name = name.strip()
            if name not in DEFAULT_RATES or not sep:
                hint = near_matches(name, list(DEFAULT_RATES))
                raise InvalidArgumentError(
                    f"Cost rate {item.strip()!r} is not 'name=price'.{hint} Rates: "
                    f"{', '.join(DEFAULT_RATES)}; e.g. KEEL_COST_RATES='cpu_hour=0.05,gb_hour=1'."
                )
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not value >= 0:
                raise InvalidArgumentError(
                    f"Cost rate {name!r} must be a number of 0 or more, got {raw.strip()!r}."
                )
            values[name] = value
        return cls(**values)


@dataclass
class CostLine:
    """Resource use and cost of one group (one model, experiment, pipeline or user)."""

    key: str
    runs: float = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_memory_bytes: int = 0
    gib_hours: float = 0.0
    gpu_seconds: float = 0.0
    cpu_cost: float = 0.0
    memory_cost: float = 0.0
    gpu_cost: float = 0.0

    @property
    def cost(self) -> float:
        """The total: CPU, memory and GPU cost."""
        return self.cpu_cost + self.memory_cost + self.gpu_cost

    def to_dict(self) -> dict[str, Any]:
        """Return the line as a JSON-ready dict, with the total ``cost``."""
        return {**asdict(self), "cost": self.cost}


@dataclass
class CostReport:
    """Cost by group over a time window."""

    by: str
    since: int | None
    until: int | None
    rates: CostRates
    lines: list[CostLine] = field(default_factory=list)
    total: CostLine = field(default_factory=lambda: CostLine("total"))

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {
            "by": self.by,
            "since": self.since,
            "until": self.until,
            "rates": asdict(self.rates),
            "lines": [line.to_dict() for line in self.lines],
            "total": self.total.to_dict(),
        }


@dataclass
class _Usage:
    cpu: float = 0.0
    wall: float = 0.0
    gib_hours: float = 0.0
    gpu: float = 0.0
    peak: int = 0


def _gpu(record: ResourceRecord) -> float:
    try:
        return max(0.0, float(record.tags.get("keel.gpu_seconds", 0) or 0))
    except ValueError:
        return 0.0


def _own(record: ResourceRecord) -> _Usage:
    wall = record.wall_time_s or 0.0
    peak = record.peak_rss_bytes or 0
    return _Usage(
        cpu=record.cpu_time_s or 0.0,
        wall=wall,
        gib_hours=peak / _GIB * wall / 3600,
        gpu=_gpu(record),
        peak=peak,
    )


def _tree_usage(record: ResourceRecord, children: dict[str, list[ResourceRecord]]) -> _Usage:
    own = _own(record)
    kids = [_tree_usage(c, children) for c in children.get(record.id, [])]
    if not kids:
        return own
    return _Usage(
        cpu=max(own.cpu, sum(k.cpu for k in kids)),
        wall=max(own.wall, sum(k.wall for k in kids)),
        gib_hours=max(own.gib_hours, sum(k.gib_hours for k in kids)),
        gpu=max(own.gpu, sum(k.gpu for k in kids)),
        peak=max([own.peak, *(k.peak for k in kids)]),
    )


def _members(record: ResourceRecord, children: dict[str, list[ResourceRecord]]) -> list[Any]:
    out = [record]
    for c in children.get(record.id, []):
        out += _members(c, children)
    return out


def _keys(by: str, root: ResourceRecord, members: list[ResourceRecord]) -> list[str]:
    if by == "user":
        return [root.user]
    if by == "experiment":
        return [root.experiment]
    if by == "pipeline":
        for m in members:
            if "keel.pipeline" in m.tags:
                return [m.tags["keel.pipeline"]]
        return ["(no pipeline)"]
    models = sorted({name for m in members for name in m.models})
    return models or ["(no model)"]


def cost(
    by: str = "model",
    since: str | int | dt.datetime | None = "30d",
    until: str | int | dt.datetime | None = None,
    *,
    rates: CostRates | str | None = None,
    store: SqlMetadataStore | None = None,
) -> CostReport:
    """Add up the resources of runs started in a window, grouped, and price them.

    Args:
        by: ``"model"`` (the registered models a run tree logged versions of),
            ``"experiment"``, ``"pipeline"`` or ``"user"``.
        since: Runs started at or after this: ``"30d"``, ``"12h"``, an ISO date, ...
            ``None`` for all.
        until: Runs started before this.
        rates: Prices; by default the ``cost_rates`` setting (``KEEL_COST_RATES``), each rate
            left out there taking its :data:`DEFAULT_RATES` value.
        store: The metadata store to read; the process's (:func:`keel.tracking.get_client`)
            by default. A server or the UI passes its own.

    Returns:
        One line per group, most expensive first, and their total.

    Raises:
        InvalidArgumentError: An unknown grouping, a bad time or bad rates.

    Examples:
        >>> report = keel.governance.cost(by="model", since="30d")  # doctest: +SKIP
        >>> [(line.key, round(line.cost, 2)) for line in report.lines]  # doctest: +SKIP
        [('churn', 0.42)]
    """
    from keel.config import get_settings
    from keel.governance._auditlog import parse_since
    from keel.store._governance_reads import GovernanceReads

    if by not in _GROUPS:
        raise InvalidArgumentError(
            f"Cannot group cost by {by!r}.{near_matches(str(by), _GROUPS)} "
            f"Group by one of: {', '.join(_GROUPS)}."
        )
    if store is None:
        from keel.tracking import get_client

        store = get_client().store
    if rates is None or isinstance(rates, str):
        rates = CostRates.parse(rates if isinstance(rates, str) else get_settings().cost_rates)
    start, end = parse_since(since), parse_since(until)
    records = GovernanceReads(store).list_resource_records(start, end)
    ids = {r.id for r in records if r.kind == "run"}
    children: dict[str, list[ResourceRecord]] = defaultdict(list)
    roots = []
    for r in records:
        if r.parent_run_id is not None and r.parent_run_id in ids:
            children[r.parent_run_id].append(r)
        else:
            roots.append(r)
    lines: dict[str, CostLine] = {}
    report = CostReport(by=by, since=start, until=end, rates=rates)
    for root in roots:
        usage = _tree_usage(root, children)
        keys = _keys(by, root, _members(root, children))
        share = 1 / len(keys)
        for key in keys:
            line = lines.setdefault(key, CostLine(key))
            for target in (line, report.total):
                target.runs += share
                target.cpu_seconds += usage.cpu * share
                target.wall_seconds += usage.wall * share
                target.peak_memory_bytes = max(target.peak_memory_bytes, usage.peak)
                target.gib_hours += usage.gib_hours * share
                target.gpu_seconds += usage.gpu * share
    for line in [*lines.values(), report.total]:
        line.cpu_cost = line.cpu_seconds / 3600 * rates.cpu_hour
        line.memory_cost = line.gib_hours * rates.gb_hour
        line.gpu_cost = line.gpu_seconds / 3600 * rates.gpu_hour
    report.lines = sorted(lines.values(), key=lambda x: (-x.cost, x.key))
    return report

"""Monitors: checks run on each window of a deployment's prediction log, results as a time series.

A monitor is stored in the metadata store with its reference profile (computed once, kept in
the artifact store, reused every window), its window length, checks and alert targets.
:func:`run_monitor` evaluates every complete window that has predictions and no result yet,
oldest first; each result holds the window's metrics and check verdicts and links (lineage) to
its HTML and JSON reports in the artifact store. A check that goes from passing to failing
fires an alert once, recorded as an event; it fires again only after it has passed in between.
Windows whose labels arrive later have their performance checks re-evaluated on the next run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keel._utils import new_id, now_ms, validate_key
from keel.errors import InvalidArgumentError, NotFoundError
from keel.monitoring._alerts import Alert, LogAlert, WebhookAlert, alert_from_dict
from keel.monitoring._checks import (
    Check,
    CheckOutcome,
    DataDrift,
    Performance,
    check_from_dict,
    check_to_dict,
    data_drift,
    data_quality,
)
from keel.monitoring._client import MonitoringClient, get_monitoring_client
from keel.monitoring._drift import (
    DriftReport,
    FeatureDrift,
    ReferenceProfile,
    drift,
    reference_profile,
)
from keel.monitoring._frames import Columns, is_dataset_ref
from keel.monitoring._log import RESERVED_COLUMNS, window_table
from keel.monitoring._profiles import dataset_profile, load_profile
from keel.store._monitoring import (
    CheckOutcomeRecord,
    MonitorEventRecord,
    MonitorRecord,
    MonitorResultRecord,
    NewMonitor,
    NewMonitorResult,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Monitor",
    "MonitorEvent",
    "MonitorResult",
    "Window",
    "create_monitor",
    "delete_monitor",
    "get_monitor",
    "list_events",
    "list_monitors",
    "monitor_report",
    "monitor_results",
    "parse_window",
    "run_monitor",
]

_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}
_WINDOW = re.compile(r"^\s*(\d+)\s*(ms|s|min|m|h|d|w)\s*$")
_NOT_FEATURES = frozenset({*RESERVED_COLUMNS, "label"})
#: Windows whose performance is re-evaluated on late labels, newest first.
LATE_LABEL_WINDOWS = 500


def parse_window(window: str | int | dt.timedelta) -> int:
    """Return a window length in milliseconds.

    Args:
        window: ``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"1w"``, a ``timedelta``, or seconds.

    Raises:
        InvalidArgumentError: The length is malformed or not positive.
    """
    if isinstance(window, dt.timedelta):
        ms = int(window.total_seconds() * 1000)
    elif isinstance(window, int) and not isinstance(window, bool):
        ms = window * 1000
    elif isinstance(window, str) and (m := _WINDOW.match(window)):
        ms = int(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise InvalidArgumentError(
            f"window must be a length such as '15m', '1h' or '1d' (or a timedelta), got {window!r}."
        )
    if ms < 1000:
        raise InvalidArgumentError(f"window must be at least one second, got {window!r}.")
    return ms


def _format_window(ms: int) -> str:
    for unit in ("w", "d", "h", "min", "s"):
        if ms % _UNITS[unit] == 0:
            return f"{ms // _UNITS[unit]}{'m' if unit == 'min' else unit}"
    return f"{ms}ms"


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat()


def _ms(value: dt.datetime | int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidArgumentError(f"{name} must be a datetime or epoch milliseconds, got {value!r}.")


@dataclass(frozen=True)
class Monitor:
    """A stored monitor.

    Attributes:
        id: Its id.
        name: Its unique name.
        deployment: The deployment whose prediction log it reads.
        reference: What its reference data was (``"transactions@v3"``, ...).
        window: Its window length (``"1h"``).
        window_ms: The same in milliseconds.
        checks: What it checks in each window.
        alerts: Where its alerts go.
        start_time: Windows before this time (epoch milliseconds) are not evaluated.
        description: Free text.
        created_at: When it was created.
        created_by: Who created it.
    """

    id: str
    name: str
    deployment: str
    reference: str
    window: str
    window_ms: int
    checks: list[Check]
    alerts: list[Alert]
    start_time: int | None
    description: str
    created_at: int
    created_by: str
    _record: MonitorRecord

    def run(self, *, until: dt.datetime | int | None = None) -> list[MonitorResult]:
        """Evaluate the windows not evaluated yet (see :func:`run_monitor`)."""
        return run_monitor(self.name, until=until)

    def results(self, *, limit: int | None = None) -> list[MonitorResult]:
        """Return the results, oldest first (see :func:`monitor_results`)."""
        return monitor_results(self.name, limit=limit)

    def report(self, path: str | os.PathLike[str] | None = None) -> str:
        """Return (and write to ``path``) the monitor's HTML report (see :func:`monitor_report`)."""
        return monitor_report(self.name, path)


@dataclass(frozen=True)
class MonitorResult:
    """The evaluation of one window.

    Attributes:
        id: Its id (a lineage node ``("monitor_result", id)``).
        monitor: The monitor's name.
        window_start: Start of the window (epoch milliseconds, inclusive).
        window_end: End of the window (exclusive).
        status: ``"breach"`` if a check failed, else ``"ok"``.
        num_rows: Predictions in the window.
        num_labeled: Of them, those with a label.
        metrics: The window's numbers (``drift.share``, ``drift.score.<column>``,
            ``performance.<metric>``, ``latency.p99_ms``, ``errors.rate``, ...).
        checks: Each check's verdict: ``name``, ``kind``, ``passed``, ``value``, ``bound``,
            ``message``.
        report_digest: The HTML report in the artifact store.
        details_digest: The JSON report in the artifact store.
        created_at: When it was first evaluated.
        updated_at: When it last changed (late labels).
    """

    id: str
    monitor: str
    window_start: int
    window_end: int
    status: str
    num_rows: int
    num_labeled: int
    metrics: dict[str, Any]
    checks: list[dict[str, Any]]
    report_digest: str | None
    details_digest: str | None
    created_at: int
    updated_at: int

    @property
    def breached(self) -> list[str]:
        """Names of the checks that failed."""
        return [c["name"] for c in self.checks if c.get("passed") is False]

    @property
    def start(self) -> dt.datetime:
        """Start of the window as a UTC datetime."""
        return dt.datetime.fromtimestamp(self.window_start / 1000, tz=dt.UTC)

    def report_html(self) -> str:
        """Return the window's stored HTML report.

        Raises:
            NotFoundError: The result has no report.
        """
        if not self.report_digest:
            raise NotFoundError(f"The result {self.id!r} has no stored report.")
        return get_monitoring_client().artifacts.get_bytes(self.report_digest).decode()

    def details(self) -> dict[str, Any]:
        """Return the window's stored JSON report (checks, metrics and the drift report).

        Raises:
            NotFoundError: The result has no report.
        """
        if not self.details_digest:
            raise NotFoundError(f"The result {self.id!r} has no stored details.")
        data: dict[str, Any] = json.loads(
            get_monitoring_client().artifacts.get_bytes(self.details_digest)
        )
        return data


@dataclass(frozen=True)
class MonitorEvent:
    """An alert that fired or resolved; automation reads these by increasing ``id``.

    Attributes:
        id: Increasing id (pass the last seen as ``since_id`` to read only newer events).
        monitor: The monitor's name.
        kind: ``"alert.fired"`` or ``"alert.resolved"``.
        check: The check's name.
        window_start: The window that fired or resolved the alert.
        result_id: That window's result.
        payload: What the alert targets were sent.
        deliveries: How each delivery went: ``target``, ``ok``, ``status``, ``error``.
        created_at: When it happened.
    """

    id: int
    monitor: str
    kind: str
    check: str
    window_start: int
    result_id: str | None
    payload: dict[str, Any]
    deliveries: list[dict[str, Any]]
    created_at: int


def _to_monitor(r: MonitorRecord) -> Monitor:
    return Monitor(
        id=r.id,
        name=r.name,
        deployment=r.deployment,
        reference=r.reference,
        window=_format_window(r.window_ms),
        window_ms=r.window_ms,
        checks=[check_from_dict(c) for c in r.checks],
        alerts=[alert_from_dict(a) for a in r.alerts],
        start_time=r.start_time,
        description=r.description,
        created_at=r.created_at,
        created_by=r.created_by,
        _record=r,
    )


def _to_result(monitor: str, r: MonitorResultRecord) -> MonitorResult:
    return MonitorResult(
        id=r.id,
        monitor=monitor,
        window_start=r.window_start,
        window_end=r.window_end,
        status=r.status,
        num_rows=r.num_rows,
        num_labeled=r.num_labeled,
        metrics=dict(r.metrics),
        checks=list(r.checks),
        report_digest=r.report_digest,
        details_digest=r.details_digest,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def _to_event(e: MonitorEventRecord) -> MonitorEvent:
    return MonitorEvent(
        id=e.id,
        monitor=e.monitor_name,
        kind=e.kind,
        check=e.check_name,
        window_start=e.window_start,
        result_id=e.result_id,
        payload=e.payload,
        deliveries=e.deliveries,
        created_at=e.created_at,
    )


# -- windows ------------------------------------------------------------------------------


class Window:
    """One window of a deployment's prediction log, read once and shared by the checks.

    Args:
        client: The monitoring client.
        monitor: The monitor being evaluated.
        profile: The monitor's reference profile.
        start: Window start (epoch milliseconds, inclusive).
        end: Window end (exclusive).
        features: The feature columns to compare.
        labels: Join labels (some check needs them).
    """

    def __init__(
        self,
        client: MonitoringClient,
        monitor: Monitor,
        profile: ReferenceProfile,
        start: int,
        end: int,
        features: list[str],
        labels: bool,
    ) -> None:
        self.client = client
        self.monitor = monitor
        self.profile = profile
        self.start = start
        self.end = end
        self.features = features
        self.table: pa.Table = window_table(client, monitor.deployment, start, end, labels=labels)
        self._drift: DriftReport | None = None
        self.prediction_source = ""

    @property
    def num_rows(self) -> int:
        """Predictions in the window."""
        return int(self.table.num_rows)

    def drift_report(self) -> DriftReport:
        """Return the drift of the window's features against the reference (computed once)."""
        if self._drift is None:
            check = next((c for c in self.monitor.checks if isinstance(c, DataDrift)), None)
            present = [c for c in self.table.column_names if c not in _NOT_FEATURES]
            current = Columns(self.table.select(present), f"window {_iso(self.start)}")
            self._drift = drift(
                self.profile,
                current,
                columns=self.features,
                tests=dict(check.tests) if check else None,
                thresholds=dict(check.thresholds) if check else None,
                share=check.share if check else 0.5,
            )
        return self._drift

    def prediction_drift(
        self, column: str, test: str, threshold: float | None
    ) -> tuple[FeatureDrift | None, str]:
        """Return the drift of the prediction column and what it was compared with."""
        if column not in self.table.column_names or self.num_rows == 0:
            return None, ""
        current = Columns(self.table.select([column]), f"window {_iso(self.start)}")
        if column in self.profile.columns:
            baseline, source = self.profile, "the reference"
        else:
            record = self.client.monitors.get_monitor(self.monitor.name)
            if record.baseline_digest is None:
                baseline = reference_profile(current)
                digest = self.client.artifacts.put_bytes(baseline.to_bytes())
                if not self.client.monitors.set_baseline(record.id, digest):
                    record = self.client.monitors.get_monitor(self.monitor.name)
                    baseline = load_profile(self.client, str(record.baseline_digest))
            else:
                baseline = load_profile(self.client, record.baseline_digest)
            source = "the baseline window"
            if column not in baseline.columns:
                return None, source
        report = drift(
            baseline,
            current,
            columns=[column],
            tests=None if test == "auto" else {column: test},
            thresholds=None if threshold is None else {column: threshold},
        )
        return report.features[column], source

    def labeled(
        self,
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any] | None]:
        """Return labels, predictions and scores of the window's labeled predictions."""
        import pyarrow.compute as pc

        if "label" not in self.table.column_names or self.num_rows == 0:
            return np.empty(0), np.empty(0), None
        table = self.table.filter(pc.is_valid(self.table.column("label")))
        truth = table.column("label").to_numpy()
        pred = table.column("prediction").to_numpy(zero_copy_only=False)
        scores = None
        if "prediction_score" in table.column_names:
            scores = table.column("prediction_score").to_numpy(zero_copy_only=False)
        return np.asarray(truth), np.asarray(pred), scores

    def latencies(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Return the window's logged latencies in milliseconds (missing ones left out)."""
        if "latency_ms" not in self.table.column_names:
            return np.empty(0)
        raw = self.table.column("latency_ms").to_numpy(zero_copy_only=False)
        values: np.ndarray[Any, np.dtype[np.float64]] = np.asarray(raw, dtype=np.float64)
        finite: np.ndarray[Any, np.dtype[np.float64]] = values[np.isfinite(values)]
        return finite

    def errors(self) -> tuple[int, int]:
        """Return the window's failed requests and all requests."""
        import pyarrow.compute as pc

        if "error" not in self.table.column_names:
            return 0, self.num_rows
        return int(pc.sum(self.table.column("error")).as_py() or 0), self.num_rows


# -- create -------------------------------------------------------------------------------


def create_monitor(
    name: str,
    *,
    reference: Any,
    deployment: str | None = None,
    window: str | int | dt.timedelta = "1h",
    checks: Sequence[Check] | None = None,
    alerts: Sequence[Alert] | None = None,
    start: dt.datetime | int | None = None,
    description: str = "",
    replace: bool = False,
) -> Monitor:
    """Create a monitor of a deployment's prediction log.

    The reference is profiled once here (a dataset version's profile is computed once per
    version and shared by every monitor on it), and every window is compared with that
    profile.

    Args:
        name: The monitor's unique name.
        reference: The data the model was trained or validated on: a dataset version
            (``"transactions@v3"``), a pandas or polars DataFrame, an Arrow table, a Parquet
            path, or a :class:`ReferenceProfile`.
        deployment: The deployment whose log to watch (the monitor's name by default).
        window: Window length: ``"15m"``, ``"1h"``, ``"1d"``, ...
        checks: What to check in each window; ``[data_drift(), data_quality()]`` by default.
        alerts: Where alerts go; ``[log()]`` by default.
        start: Do not evaluate windows before this time.
        description: Free text.
        replace: Replace the definition of an existing monitor of that name (results kept).

    Returns:
        The stored monitor.

    Raises:
        AlreadyExistsError: A monitor of that name exists and ``replace`` is false.
        InvalidArgumentError: A check, alert, window or reference is invalid.
        PermissionDeniedError: A webhook target is not allowed.
    """
    validate_key("monitor", name)
    deployment = validate_key("deployment", deployment or name)
    window_ms = parse_window(window)
    checks = list(checks) if checks is not None else [data_drift(), data_quality()]
    alerts = list(alerts) if alerts is not None else []
    if not alerts:
        from keel.monitoring._alerts import log

        alerts = [log()]
    names = [c.name for c in checks]
    for c in checks:
        if not hasattr(c, "evaluate") or not hasattr(c, "kind"):
            raise InvalidArgumentError(
                f"checks must be made by keel.monitoring.data_drift(), performance(), ..., got "
                f"{c!r}."
            )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidArgumentError(
            f"The monitor has more than one check named {duplicates!r}; keep one of each."
        )
    for a in alerts:
        if not isinstance(a, (WebhookAlert, LogAlert)):
            raise InvalidArgumentError(
                f"alerts must be made by keel.monitoring.webhook() or log(), got {a!r}."
            )
        if isinstance(a, WebhookAlert):
            from keel.config import get_settings
            from keel.monitoring._alerts import check_webhook_url

            check_webhook_url(a.url, get_settings().webhook_allowlist)
    client = get_monitoring_client()
    node: tuple[str, str] | None = None
    if isinstance(reference, ReferenceProfile):
        profile = reference
        digest = client.artifacts.put_bytes(profile.to_bytes())
        described = profile.source or "a reference profile"
        node = profile.node
    elif isinstance(reference, str) and is_dataset_ref(reference):
        profile, digest, described = dataset_profile(client, reference)
        node = ("dataset_version", described)
    else:
        profile = reference_profile(reference)
        digest = client.artifacts.put_bytes(profile.to_bytes())
        client.profiles[digest] = profile
        described = profile.source
        node = profile.node
    for c in checks:
        if isinstance(c, DataDrift) and c.columns is not None:
            missing = [col for col in c.columns if col not in profile.columns]
            if missing:
                raise InvalidArgumentError(
                    f"data_drift(columns=...) names {missing!r}, which the reference does not "
                    f"have. Reference columns: {profile.names[:30]!r}."
                )
    record = client.monitors.create_monitor(
        NewMonitor(
            name=name,
            deployment=deployment,
            reference=described,
            reference_digest=digest,
            window_ms=window_ms,
            checks=[check_to_dict(c) for c in checks],
            alerts=[a.to_dict() for a in alerts],
            start_time=_ms(start, "start"),
            description=description,
            reference_node=node,
        ),
        replace=replace,
    )
    return _to_monitor(record)


def get_monitor(name: str) -> Monitor:
    """Return the monitor called ``name``.

    Raises:
        NotFoundError: No monitor has that name; the message lists near names.
    """
    return _to_monitor(get_monitoring_client().monitors.get_monitor(name))


def list_monitors() -> list[Monitor]:
    """Return every monitor, by name."""
    return [_to_monitor(r) for r in get_monitoring_client().monitors.list_monitors()]


def delete_monitor(name: str) -> None:
    """Delete a monitor with its results, alert states and events (reports stay as artifacts).

    Raises:
        NotFoundError: No monitor has that name.
    """
    get_monitoring_client().monitors.delete_monitor(name)


# -- run ----------------------------------------------------------------------------------


def _features(client: MonitoringClient, monitor: Monitor, profile: ReferenceProfile) -> list[str]:
    check = next((c for c in monitor.checks if isinstance(c, DataDrift)), None)
    if check is not None and check.columns is not None:
        return list(check.columns)
    logged: set[str] = set()
    for segment in client.log.list_segments(monitor.deployment):
        logged.update(c["name"] for c in segment.columns if c.get("role") == "feature")
    return [c for c in profile.names if c in logged and c not in _NOT_FEATURES]


def _outcomes_payload(
    monitor: Monitor,
    window: tuple[int, int],
    result_id: str,
    outcome: CheckOutcome,
    report_digest: str | None,
) -> dict[str, Any]:
    return {
        "monitor": monitor.name,
        "deployment": monitor.deployment,
        "check": outcome.name,
        "kind": outcome.kind,
        "status": "firing" if outcome.passed is False else "resolved",
        "window_start": window[0],
        "window_end": window[1],
        "window_start_iso": _iso(window[0]),
        "value": None
        if outcome.value is None or not math.isfinite(outcome.value)
        else outcome.value,
        "bound": outcome.bound,
        "message": outcome.message,
        "result_id": result_id,
        "report_digest": report_digest,
    }


def _deliver(client: MonitoringClient, monitor: Monitor, events: list[MonitorEventRecord]) -> None:
    for event in events:
        deliveries = [alert.deliver(event.payload) for alert in monitor.alerts]
        client.monitors.set_deliveries(event.id, deliveries)


def _status(outcomes: Sequence[CheckOutcome]) -> str:
    return "breach" if any(o.passed is False for o in outcomes) else "ok"


def _clean(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def _evaluate(window: Window, checks: Sequence[Check]) -> list[CheckOutcome]:
    return [check.evaluate(window) for check in checks]


def run_monitor(
    name: str,
    *,
    until: dt.datetime | int | None = None,
    max_windows: int | None = None,
) -> list[MonitorResult]:
    """Evaluate every complete window of the monitor's log that has no result yet.

    Windows are aligned to multiples of the window length since the epoch (UTC) and evaluated
    oldest first; a window is complete when it ends at or before ``until``. Results are stored
    as a time series; alerts fire once per breach. Windows whose labels arrived since they were
    evaluated have their performance checks evaluated again first.

    Args:
        name: The monitor.
        until: Evaluate windows ending at or before this time (now by default).
        max_windows: Evaluate at most this many new windows.

    Returns:
        The new results, oldest first.

    Raises:
        NotFoundError: No monitor has that name.
    """
    client = get_monitoring_client()
    monitor = _to_monitor(client.monitors.get_monitor(name))
    profile = load_profile(client, monitor._record.reference_digest)
    features = _features(client, monitor, profile)
    horizon = _ms(until, "until") or now_ms()
    label_time = client.log.latest_label_time(monitor.deployment)
    perf = [c for c in monitor.checks if isinstance(c, Performance)]
    if perf and label_time is not None:
        _relabel(client, monitor, profile, features, perf, label_time)
    w = monitor.window_ms
    evaluated = client.monitors.evaluated_windows(monitor.id)
    starts: set[int] = set()
    for segment in client.log.list_segments(monitor.deployment, monitor.start_time, horizon):
        first = (segment.start_time // w) * w
        for ws in range(first, segment.end_time + 1, w):
            if ws + w <= horizon and (monitor.start_time is None or ws >= monitor.start_time):
                starts.add(ws)
    pending = sorted(starts - evaluated)
    if max_windows is not None:
        pending = pending[:max_windows]
    results = []
    for ws in pending:
        window = Window(client, monitor, profile, ws, ws + w, features, labels=bool(perf))
        if window.num_rows == 0:
            continue
        outcomes = _evaluate(window, monitor.checks)
        result = _record(client, monitor, window, outcomes, label_time)
        if result is not None:
            results.append(result)
    return results


def _record(
    client: MonitoringClient,
    monitor: Monitor,
    window: Window,
    outcomes: list[CheckOutcome],
    label_time: int | None,
) -> MonitorResult | None:
    from keel.monitoring._html import window_page

    metrics: dict[str, float] = {"rows": float(window.num_rows)}
    for o in outcomes:
        metrics.update(o.metrics)
    metrics = _clean(metrics)
    checks = [o.to_dict() for o in outcomes]
    status = _status(outcomes)
    report = window._drift.to_dict() if window._drift is not None else None
    details = {
        "monitor": monitor.name,
        "deployment": monitor.deployment,
        "window_start": window.start,
        "window_end": window.end,
        "status": status,
        "rows": window.num_rows,
        "checks": checks,
        "metrics": metrics,
        "drift": report,
    }
    details_digest = client.artifacts.put_bytes(
        json.dumps(details, allow_nan=False, default=str).encode()
    )
    page = window_page(
        {"name": monitor.name, "deployment": monitor.deployment, "reference": monitor.reference},
        details,
    )
    report_digest = client.artifacts.put_bytes(page.encode())
    labeled = int(metrics.get("labels.rows", 0))
    new = NewMonitorResult(
        window_start=window.start,
        window_end=window.end,
        status=status,
        num_rows=window.num_rows,
        num_labeled=labeled,
        metrics=metrics,
        checks=checks,
        report_digest=report_digest,
        details_digest=details_digest,
        labels_seen_at=label_time,
    )
    result_id = new_id()
    records = [
        CheckOutcomeRecord(
            o.name,
            o.passed,
            _outcomes_payload(monitor, (window.start, window.end), result_id, o, report_digest),
        )
        for o in outcomes
    ]
    stored = client.monitors.record_result(monitor._record, new, records, result_id)
    if stored is None:
        return None
    record, events = stored
    _deliver(client, monitor, events)
    return _to_result(monitor.name, record)


def _relabel(
    client: MonitoringClient,
    monitor: Monitor,
    profile: ReferenceProfile,
    features: list[str],
    perf: list[Performance],
    label_time: int,
) -> None:
    results = client.monitors.list_results(monitor.id, limit=LATE_LABEL_WINDOWS)
    for result in results:
        if result.labels_seen_at is not None and result.labels_seen_at >= label_time:
            continue
        window = Window(
            client, monitor, profile, result.window_start, result.window_end, features, labels=True
        )
        outcomes = _evaluate(window, perf)
        by_name = {o.name: o for o in outcomes}
        checks = [
            by_name[c["name"]].to_dict() if c["name"] in by_name else c for c in result.checks
        ]
        metrics = dict(result.metrics)
        for o in outcomes:
            metrics.update(_clean(o.metrics))
        status = "breach" if any(c.get("passed") is False for c in checks) else "ok"
        records = [
            CheckOutcomeRecord(
                o.name,
                o.passed,
                _outcomes_payload(
                    monitor,
                    (result.window_start, result.window_end),
                    result.id,
                    o,
                    result.report_digest,
                ),
            )
            for o in outcomes
        ]
        events = client.monitors.update_result(
            monitor._record,
            result,
            status=status,
            num_labeled=int(metrics.get("labels.rows", result.num_labeled)),
            metrics=metrics,
            checks=checks,
            labels_seen_at=label_time,
            outcomes=records,
        )
        _deliver(client, monitor, events)


# -- read ---------------------------------------------------------------------------------


def monitor_results(
    name: str,
    *,
    start: dt.datetime | int | None = None,
    end: dt.datetime | int | None = None,
    limit: int | None = None,
) -> list[MonitorResult]:
    """Return a monitor's window results, oldest first.

    Args:
        name: The monitor.
        start: Only windows starting at or after this time.
        end: Only windows starting before this time.
        limit: Only the newest ``limit`` windows.

    Raises:
        NotFoundError: No monitor has that name.
    """
    client = get_monitoring_client()
    record = client.monitors.get_monitor(name)
    rows = client.monitors.list_results(record.id, _ms(start, "start"), _ms(end, "end"), limit)
    return [_to_result(name, r) for r in rows]


def list_events(
    monitor: str | None = None,
    *,
    since_id: int = 0,
    kind: str | None = None,
    limit: int = 1000,
) -> list[MonitorEvent]:
    """Return alert events, oldest first: the feed automation acts on.

    Args:
        monitor: Only this monitor's events.
        since_id: Only events with a larger id (the last id seen).
        kind: Only ``"alert.fired"`` or ``"alert.resolved"`` events.
        limit: At most this many.

    Raises:
        NotFoundError: The monitor does not exist.
        InvalidArgumentError: The kind is unknown.
    """
    if kind not in (None, "alert.fired", "alert.resolved"):
        raise InvalidArgumentError(f"kind must be 'alert.fired' or 'alert.resolved', got {kind!r}.")
    client = get_monitoring_client()
    monitor_id = None if monitor is None else client.monitors.get_monitor(monitor).id
    return [_to_event(e) for e in client.monitors.list_events(monitor_id, since_id, kind, limit)]


def monitor_report(
    name: str, path: str | os.PathLike[str] | None = None, *, limit: int = 500
) -> str:
    """Return a monitor's HTML report: checks and drift scores over time, latest drift report.

    The page is self-contained (inline SVG, no script, no network). It is also stored in the
    artifact store and linked from the monitor in the lineage graph.

    Args:
        name: The monitor.
        path: Also write the page there.
        limit: Chart at most the newest ``limit`` windows.

    Raises:
        NotFoundError: No monitor has that name.
    """
    from keel.monitoring._html import monitor_page

    client = get_monitoring_client()
    monitor = get_monitor(name)
    results = monitor_results(name, limit=limit)
    latest = None
    for result in reversed(results):
        if result.details_digest:
            latest = result.details().get("drift")
            if latest:
                break
    page = monitor_page(
        {
            "name": monitor.name,
            "deployment": monitor.deployment,
            "reference": monitor.reference,
            "window": monitor.window,
            "checks": [check_to_dict(c) for c in monitor.checks],
        },
        [
            {
                "window_start": r.window_start,
                "status": r.status,
                "num_rows": r.num_rows,
                "metrics": r.metrics,
                "checks": r.checks,
            }
            for r in results
        ],
        latest,
    )
    digest = client.artifacts.put_bytes(page.encode())
    client.store.add_lineage_edge(
        ("monitor", monitor.name), ("report", digest), "report", {"format": "html"}
    )
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page

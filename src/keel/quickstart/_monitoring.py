"""Quickstart stage: drifting traffic into the prediction log, a monitor that catches it.

Eight hours of simulated requests to a churn model are logged with their features, predictions,
latencies and (late) labels; from the fifth hour on, transaction amounts grow and a new country
appears. A monitor with drift, quality, performance, latency and error-rate checks evaluates the
hourly windows, fires its alerts once, and writes an HTML report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from keel.quickstart._context import QuickstartContext

MONITOR = "quickstart-churn"
HOUR_MS = 3_600_000
HOURS = 8
DRIFT_FROM = 4
PER_HOUR = 600


def _customers(rng: np.random.Generator, n: int, drifted: bool) -> pd.DataFrame:
    countries = ["DE", "FR", "IT", "NL"]
    probs = [0.4, 0.3, 0.2, 0.1]
    if drifted:
        countries, probs = [*countries, "ES"], [0.3, 0.25, 0.15, 0.1, 0.2]
    return pd.DataFrame(
        {
            "amount": rng.lognormal(4.0 + (0.5 if drifted else 0.0), 0.5, n),
            "age": rng.integers(18, 80, n),
            "tenure_months": rng.gamma(2.0, 12.0, n),
            "support_calls": rng.poisson(1.5, n),
            "country": rng.choice(countries, n, p=probs),
        }
    )


def _score(x: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    z = 0.02 * (x["amount"] - 60) - 0.04 * (x["tenure_months"] - 24) + 0.5 * x["support_calls"]
    return np.asarray(1 / (1 + np.exp(-(z.to_numpy() - 1.0))))


def monitoring_stage(ctx: QuickstartContext) -> None:
    """Log drifting traffic, run a monitor over it and print what it found."""
    import keel.monitoring as km
    from keel.config import get_settings
    from keel.monitoring._client import get_monitoring_client

    console = ctx.console
    rng = np.random.default_rng(ctx.seed + 8)
    console.print(
        f"[bold]Monitoring[/]: {HOURS} hours of traffic to '{MONITOR}' ({PER_HOUR} requests an "
        f"hour), drifting from hour {DRIFT_FROM + 1} on"
    )
    reference = _customers(rng, 5000, drifted=False)
    reference["prediction"] = (_score(reference) >= 0.5).astype(int)
    log = get_monitoring_client().log
    now = dt.datetime.now(dt.UTC)
    first = (int(now.timestamp() * 1000) // HOUR_MS - HOURS) * HOUR_MS
    previous = [s.end_time for s in log.list_segments(MONITOR)]
    if previous:  # a rerun: continue after the traffic already logged
        first = max(first, (max(previous) // HOUR_MS + 1) * HOUR_MS)
    for hour in range(HOURS):
        x = _customers(rng, PER_HOUR, drifted=hour >= DRIFT_FROM)
        score = _score(x)
        batch = km.log_predictions(
            MONITOR,
            x,
            (score >= 0.5).astype(int),
            scores=score,
            timestamps=first + hour * HOUR_MS + np.sort(rng.integers(0, HOUR_MS, PER_HOUR)),
            latency_ms=rng.gamma(3.0, 4.0, PER_HOUR),
            errors=rng.random(PER_HOUR) < 0.002,
            model_name="quickstart-churn",
            model_version=1,
        )
        truth = (rng.random(PER_HOUR) < score).astype(int)
        km.log_labels(MONITOR, batch.prediction_ids, truth)
    km.create_monitor(
        MONITOR,
        reference=reference,
        window="1h",
        checks=[
            km.data_drift(share=0.3),
            km.prediction_drift(),
            km.performance("roc_auc", min=0.7),
            km.latency(p99_ms=50),
            km.error_rate(max=0.02),
            km.data_quality(),
        ],
        alerts=[km.log("info")],
        replace=True,
    )
    results = km.run_monitor(MONITOR, until=first + HOURS * HOUR_MS)
    table = Table(title=f"Monitor {MONITOR}: hourly windows")
    for col in ("window (UTC)", "rows", "drift share", "roc_auc", "checks in breach"):
        table.add_column(col)
    for r in results:
        auc = r.metrics.get("performance.roc_auc")
        table.add_row(
            r.start.strftime("%H:%M"),
            f"{r.num_rows:,}",
            f"{r.metrics.get('drift.share', 0.0):.0%}",
            "-" if auc is None else f"{auc:.3f}",
            ", ".join(r.breached) or "-",
        )
    console.print(table)
    since = results[0].window_start if results else 0
    fired = [e for e in km.list_events(MONITOR, kind="alert.fired") if e.window_start >= since]
    latest = results[-1] if results else None
    drifted = latest.details()["drift"]["drifted_features"] if latest else []
    report = get_settings().home / "reports" / f"{MONITOR}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    km.monitor_report(MONITOR, report)
    console.print(
        f"Drift detected in [bold red]{', '.join(drifted) or 'nothing'}[/]; "
        f"{len(fired)} alert(s) fired once each: {', '.join(e.check for e in fired) or '-'}"
    )
    console.print(f"Report: [cyan]{report}[/]\n")
    ctx.results.update(monitor=MONITOR, monitor_report=str(report), drifted_features=drifted)
    ctx.look += [f"keel monitor show {MONITOR}", f"keel monitor report {MONITOR} --out report.html"]

"""Quickstart stage: serve the champion over HTTP, send traffic, and show the prediction log.

Records a deployment of the registered model (following its ``champion`` alias, or pinning the
new version when the gates refused the promotion), starts the inference app in-process on a
free port of 127.0.0.1, sends single-row and batch requests plus a few labels, stops the
server gracefully (which flushes the log) and prints what the log holds.
"""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table

from keel.quickstart._context import QuickstartContext

DEPLOYMENT = "quickstart-churn-api"


def _deployment(model: str, champion: int | None, version: int) -> Any:
    import keel.serving as ks
    from keel.errors import NotFoundError

    try:
        current = ks.get_deployment(DEPLOYMENT)
    except NotFoundError:
        if champion is not None:
            return ks.create_deployment(DEPLOYMENT, model, alias="champion", reason="quickstart")
        return ks.create_deployment(DEPLOYMENT, model, version=version, reason="quickstart")
    if champion is not None and current.spec.alias != "champion":
        return ks.set_target(DEPLOYMENT, alias="champion", reason="quickstart rerun")
    return current


def serving_stage(ctx: QuickstartContext) -> None:
    """Deploy the model, serve it on a free port, send traffic and labels, show the log."""
    import httpx
    import numpy as np

    import keel.monitoring as km
    import keel.serving as ks

    console, r = ctx.console, ctx.results
    model, version = r["model_name"], int(r["model_version"])
    deployment = _deployment(model, r.get("champion_version"), version)
    X, y = np.asarray(r["X_test"]), np.asarray(r["y_test"])
    console.print(
        f"[bold]5. Serving[/]: deployment [bold]{DEPLOYMENT}[/] serves {model} "
        + (f"@{deployment.spec.alias}" if deployment.spec.alias else f"v{deployment.spec.version}")
    )
    app = ks.create_app(DEPLOYMENT, flush_interval=0.5, monitor_metrics=False)
    started = time.perf_counter()
    latencies: list[float] = []
    ids: list[str] = []
    with ks.start_server(app) as server, httpx.Client(base_url=server.url) as client:
        for i in range(200):
            t0 = time.perf_counter()
            answer = client.post("/v1/predict", json={"instances": [X[i % len(X)].tolist()]})
            latencies.append((time.perf_counter() - t0) * 1000)
            answer.raise_for_status()
            ids += answer.json()["prediction_ids"]
        batch = client.post("/v1/predict", json={"instances": X[:100].tolist()})
        batch.raise_for_status()
        ids += batch.json()["prediction_ids"]
        labels = [
            {"prediction_id": pid, "label": int(y[i % len(y)])} for i, pid in enumerate(ids[:200])
        ]
        client.post("/v1/feedback", json=labels).raise_for_status()
        bad = client.post("/v1/predict", json={"instances": [[1.0, "x"]]})
        console.print(
            f"Served {server.url}: 200 single-row requests, p50 "
            f"{float(np.percentile(latencies, 50)):.1f} ms (client side, in-process), one "
            f"100-row batch; a malformed request got {bad.status_code}: "
            f"{bad.json()['message'][:70]}..."
        )
    elapsed = time.perf_counter() - started
    table = km.read_predictions(DEPLOYMENT, labels=True).to_pandas().tail(len(ids))
    shown = Table(title=f"Prediction log of {DEPLOYMENT} (last 3 of {len(table):,} rows)")
    for col in ("prediction_id", "timestamp", "prediction", "latency_ms", "x0", "label"):
        shown.add_column(col)
    for row in table.tail(3).itertuples():
        shown.add_row(
            row.prediction_id[:12],
            str(row.timestamp)[:23],
            str(row.prediction),
            f"{row.latency_ms:.2f}",
            f"{row.x0:.3f}",
            "-" if row.label is None or row.label != row.label else str(int(row.label)),
        )
    console.print(shown)
    segments = km.read_predictions(DEPLOYMENT).num_rows
    console.print(
        f"{len(ids):,} predictions and 200 labels logged in {elapsed:.1f}s "
        f"({segments:,} rows in the log so far); the server flushed it on shutdown.\n"
    )
    r.update(deployment=DEPLOYMENT, served_prediction_ids=ids)
    ctx.look += [
        f"keel deploy show {DEPLOYMENT}",
        f"keel serve {DEPLOYMENT} --port 8080",
    ]

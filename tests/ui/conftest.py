"""A store filled through the public APIs, shared by the UI tests of a module.

Three runs with metric series, params, tags and artifacts (JSON, text, a PNG); a dataset
version, validated, read by the runs; a registered model with a metric gate and an approval
gate whose results are recorded; and two principals besides the local admin.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from starlette.requests import Request

from keel.governance import Principal

#: A 1x1 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


import keel  # noqa: E402


@keel.step
def prepare(n: int) -> list[int]:
    return list(range(n))


@keel.step
def total(values: list[int]) -> int:
    return sum(values)


@keel.step
def count(values: list[int]) -> int:
    return len(values)


@keel.pipeline(experiment="pipes")
def summarize(n: int = 5) -> dict[str, int]:
    values = prepare(n)
    return {"total": total(values), "count": count(values)}


def _monitor(frame: pd.DataFrame) -> None:
    """Hourly prediction batches for deployment ``churn-prod``, drifting from hour 3 on."""
    import keel.monitoring as km

    rng = np.random.default_rng(1)
    t0 = 1_772_323_200_000  # 2026-03-01
    hour = 3_600_000
    for h in range(5):
        x = (
            frame[["amount", "age"]]
            .sample(200, replace=True, random_state=h)
            .reset_index(drop=True)
        )
        if h >= 3:
            x["amount"] = x["amount"] * 1.8
        ts = t0 + h * hour + np.sort(rng.integers(0, hour, len(x)))
        km.log_predictions(
            "churn-prod",
            x,
            (x["amount"] > 100).astype(int),
            timestamps=ts,
            latency_ms=rng.gamma(2.0, 5.0, len(x)),
            errors=np.zeros(len(x), bool),
            model_name="churn",
            model_version=1,
        )
    from keel.serving import create_deployment

    create_deployment("churn-prod", "churn", version=1, description="Churn scoring")
    km.create_monitor("churn-prod", reference=frame[["amount", "age"]], window="1h", start=t0)
    km.run_monitor("churn-prod", until=t0 + 5 * hour)


def _features(frame: pd.DataFrame) -> None:
    """A feature view over hourly customer stats, applied and materialized online."""
    from keel.features import Entity, FeatureStore, FeatureView

    hours = pd.date_range("2026-01-01", periods=24, freq="h", tz="UTC")
    stats = pd.DataFrame(
        {
            "customer_id": np.tile(np.arange(10, dtype=np.int64), len(hours)),
            "event_time": np.repeat(hours, 10),
            "avg_amount": np.round(np.resize(frame["amount"].to_numpy(), 10 * len(hours)), 2),
        }
    )
    path = Path("customer_stats.parquet").resolve()
    stats.to_parquet(path)
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "customer_stats",
        entities=[customer],
        source=str(path),
        timestamp="event_time",
        features={"avg_amount": "float64"},
    )
    fs = FeatureStore()
    try:
        fs.apply([customer, view], show_diff=False)
        fs.materialize(["customer_stats"], end=hours[-1] + pd.Timedelta(hours=1))
    finally:
        fs.close()
        fs.metadata.close()


@dataclass(frozen=True)
class Filled:
    """What the filled store holds."""

    home: Path
    experiment_id: str
    run_ids: list[str]
    model: str
    version: int
    dataset: str
    pipeline_run_id: str


def _reset() -> None:
    from keel.config import reset_settings
    from keel.data._client import reset_data_client
    from keel.monitoring._client import reset_monitoring_client
    from keel.tracking import _fluent, reset_client

    reset_data_client()
    reset_monitoring_client()

    while _fluent._state.stack:
        _fluent._state.stack.pop()
    _fluent._experiment.clear()
    reset_client()
    reset_settings()


def fill_store() -> Filled:
    """Fill the store of the current settings; return what was made."""
    from sklearn.linear_model import LogisticRegression

    import keel
    from keel import data, datasets, gates, models

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, 300).round(2),
            "age": rng.integers(18, 80, 300),
            "country": rng.choice(["DE", "FR", "IT"], 300),
        }
    )
    frame["churned"] = (frame["amount"] > 100).astype(int)
    ds = datasets.register("transactions", frame, description="Card transactions")
    data.Suite(
        "tx-quality", checks=[data.not_null(["amount"]), data.between("age", 18, 90)]
    ).validate(ds)
    keel.set_experiment("churn")
    run_ids = []
    for i, lr in enumerate([0.1, 0.03, 0.01]):
        with keel.start_run(run_name=f"trial-{i}") as run:
            keel.log_input(ds)
            keel.log_params({"lr": lr, "depth": 3 + i, "model": "logreg"})
            keel.set_tags({"team": "growth"})
            for step in range(20):
                keel.log_metric("loss", 1.0 / (1 + step * lr * 10) + i * 0.01, step=step)
                keel.log_metric("auc", 0.6 + 0.3 * (1 - 1 / (1 + step * lr)), step=step)
            keel.log_dict({"features": ["amount", "age"], "lr": lr}, "config.json")
            keel.log_text(f"trial {i} notes\n", "notes.txt")
            png = Path(f"plot-{i}.png")
            png.write_bytes(PNG)
            keel.log_artifact(png)
            if i == 1:
                model = LogisticRegression(max_iter=200).fit(
                    frame[["amount", "age"]], frame["churned"]
                )
                info = keel.log_model(
                    model,
                    "model",
                    input_example=frame[["amount", "age"]][:3],
                    registered_name="churn",
                )
                version = int(info.version or 0)
            run_ids.append(run.info.id)
    _sweep(60)
    first = summarize.run({"n": 5})
    assert first.status == "FINISHED", first.error
    cached = summarize.run({"n": 5})  # every step a cache hit
    _monitor(frame)
    _features(frame)
    models.add_gate("churn", gates.metric("auc", ">=", 0.5))
    models.add_gate("churn", gates.approval(role="approver"))
    models.check_gates("churn", version, to="champion")
    exp = keel.tracking.get_client().get_or_create_experiment("churn")
    keel.tracking.get_client().flush()
    return Filled(Path("."), exp.id, run_ids, "churn", version, "transactions", cached.id)


def _sweep(n: int) -> None:
    """An experiment ``sweep`` of ``n`` finished runs with a ``score`` metric and a ``k`` param."""
    from keel.store import NewRun, RunStatus
    from keel.tracking import get_client

    client = get_client()
    store = client.store
    exp = store.get_or_create_experiment("sweep")
    for i in range(n):
        info = store.create_run(
            NewRun(exp.id, name=f"sweep-{i:03d}", start_time=1_700_000_000_000 + i)
        )
        store.log_params(info.id, {"k": str(i % 7)})
        store.log_metrics([(info.id, "score", i / n, 0, 1_700_000_000_000 + i)])
        store.end_run(info.id, RunStatus.FINISHED)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """A KEEL_HOME filled by :func:`fill_store`, the settings pointing at it for the module."""
    root = tmp_path_factory.mktemp("ui")
    mp = pytest.MonkeyPatch()
    for var in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI", "KEEL_CONFIG"):
        mp.delenv(var, raising=False)
    mp.setenv("KEEL_HOME", str(root / "home"))
    mp.chdir(root)
    _reset()
    try:
        made = fill_store()
        yield Filled(root / "home", *list(vars(made).values())[1:])
    finally:
        _reset()
        mp.undo()


#: The principals the test server knows, by the ``keel-test-user`` cookie (none: the local admin).
PRINCIPALS = {
    "vera": Principal("vera", roles={"default": "viewer"}),
    "alice": Principal("alice", roles={"default": "approver"}),
    "olga": Principal("olga", roles={"beta": "admin"}),  # a role in another project only
}


def cookie_principal(request: Request) -> Principal:
    """The test server's principal hook: the cookie names a user, else the local admin."""
    user = request.cookies.get("keel-test-user", "")
    return PRINCIPALS.get(user) or Principal("local", is_admin=True)


@dataclass
class UiServer:
    """The UI under uvicorn on a free port."""

    url: str
    filled: Filled

    def client(self, user: str | None = None) -> httpx.Client:
        cookies = {"keel-test-user": user} if user else {}
        return httpx.Client(base_url=self.url, cookies=cookies, timeout=60)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` under uvicorn on a free port of 127.0.0.1; yield its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the UI server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def ui_server(filled: Filled) -> Iterator[UiServer]:
    """``keel ui``'s app (with :func:`cookie_principal`) over the filled store, on 127.0.0.1."""
    from keel.ui import create_ui_app, create_ui_router

    app = create_ui_app(principal=cookie_principal)
    # The same pages mounted under a prefix, as a server may mount them.
    app.include_router(create_ui_router(principal=cookie_principal, prefix="/ui"), prefix="/ui")
    with serving(app) as url:
        yield UiServer(url, filled)

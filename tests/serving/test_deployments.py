"""Deployments: the store contract (SQLite and PostgreSQL), canary split, shadow, hot reload
under load, rollback, and the ``keel deploy`` / ``keel serve`` commands."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import keel.monitoring as km
import keel.serving as ks
from keel.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)

from .conftest import MODEL, Models, fit_model, records, register, serving


@pytest.fixture
def env_models(keel_env: dict[str, Any]) -> Models:
    from keel.registry import models as registry

    versions = [register(fit_model()), register(fit_model(1))]
    registry.set_alias(MODEL, "champion", version=versions[0])
    return Models(MODEL, versions)


def test_deployment_records_history_audit_and_lineage(env_models: Models) -> None:
    from keel.registry import get_registry
    from keel.store._serving import DeploymentRepository

    store = get_registry().store
    repo = DeploymentRepository(store)
    marker = repo.change_marker()
    d = ks.create_deployment("churn-prod", MODEL, alias="champion", reason="launch")
    assert (d.revision, d.spec.alias, d.spec.version) == (1, "champion", None)
    assert repo.change_marker() != marker
    with pytest.raises(AlreadyExistsError, match="churn-prod"):
        ks.create_deployment("churn-prod", MODEL, version=1)
    with pytest.raises(InvalidArgumentError, match="exactly one of alias"):
        ks.create_deployment("other", MODEL)
    with pytest.raises(NotFoundError, match="churn-prd"):
        ks.get_deployment("churn-prd")
    with pytest.raises(InvalidStateError, match="nothing to roll back"):
        ks.rollback("churn-prod")
    d = ks.set_canary("churn-prod", 2, 10, reason="try v2")
    assert (d.revision, d.spec.canary_version, d.spec.canary_percent) == (2, 2, 10.0)
    d = ks.set_shadow("churn-prod", 2)
    assert (d.revision, d.spec.shadow_version) == (3, 2)
    with pytest.raises(NotFoundError):
        ks.set_shadow("churn-prod", 9)
    d = ks.rollback("churn-prod")
    assert (d.revision, d.spec.shadow_version, d.spec.canary_version) == (4, None, 2)
    history = ks.deployment_history("churn-prod")
    assert [e.action for e in history] == ["create", "canary", "shadow", "rollback"]
    assert history[1].reason == "try v2"
    actions = [e.action for e in store.list_audit_events() if e.resource_kind == "deployment"]
    assert actions == [
        "deployment.create",
        "deployment.canary",
        "deployment.shadow",
        "deployment.rollback",
    ]
    assert store.verify_audit_chain().ok
    edges = store.list_lineage_edges(("deployment", "churn-prod"), "upstream")
    assert {(e.source_kind, e.source_id) for e in edges} == {
        ("model_version", f"{MODEL}/1"),
        ("model_version", f"{MODEL}/2"),
    }
    assert [x.name for x in ks.list_deployments()] == ["churn-prod"]
    assert ks.list_deployments("nothing") == []


def test_parse_canary() -> None:
    assert ks.parse_canary("4:10") == (4, 10.0)
    assert ks.parse_canary("off") == (None, 0.0)
    for bad in ("4", "x:1", "4:101", "0:5"):
        with pytest.raises(InvalidArgumentError, match="VERSION:PERCENT"):
            ks.parse_canary(bad)


@pytest.mark.slow
def test_canary_split_within_tolerance(models: Models) -> None:
    ks.create_deployment("churn-canary", MODEL, version=1)
    ks.set_canary("churn-canary", 2, 10)
    n = 2000
    counts: Counter[int] = Counter()
    with serving("churn-canary", flush_interval=0.5) as s:
        body = {"instances": records(1)}

        def send(k: int) -> list[int]:
            with httpx.Client(base_url=s.url, timeout=30) as client:
                out = []
                for _ in range(k):
                    r = client.post("/v1/predict", json=body)
                    assert r.status_code == 200
                    out.append(r.json()["version"])
                return out

        with ThreadPoolExecutor(4) as pool:
            for versions in pool.map(send, [n // 4] * 4):
                counts.update(versions)
    share = counts[2] / n
    # 10% of 2,000: standard deviation 13.4 requests; 4 of them either side.
    assert abs(counts[2] - 0.1 * n) <= 4 * (n * 0.1 * 0.9) ** 0.5, counts
    assert counts[1] + counts[2] == n
    table = km.read_predictions("churn-canary")
    assert table.num_rows == n
    segments = {s.model_version for s in _segments("churn-canary")}
    assert segments == {"1", "2"}
    assert 0.07 < share < 0.13


def _segments(deployment: str) -> list[Any]:
    from keel.monitoring._client import get_monitoring_client

    return get_monitoring_client().log.list_segments(deployment)


def test_shadow_runs_on_every_request_and_is_logged(models: Models) -> None:
    ks.create_deployment("churn-shadow", MODEL, version=1)
    ks.set_shadow("churn-shadow", 2)
    ids: list[str] = []
    with serving("churn-shadow", flush_interval=0.2) as s:
        for i in range(10):
            body = s.predict({"instances": records(2, seed=i)}).json()
            assert body["version"] == 1  # the shadow's answer is never returned
            ids += body["prediction_ids"]
    main = km.read_predictions("churn-shadow")
    shadow = km.read_predictions("churn-shadow.shadow")
    assert sorted(main["prediction_id"].to_pylist()) == sorted(ids)
    assert sorted(shadow["prediction_id"].to_pylist()) == sorted(ids)  # joins on the id
    assert set(shadow["prediction"].to_pylist()) == {1}  # v2 always answers 1
    assert {s.model_version for s in _segments("churn-shadow.shadow")} == {"2"}
    assert shadow.column("amount").to_pylist() == main.column("amount").to_pylist()


def test_hot_reload_under_concurrent_load_fails_no_request(models: Models) -> None:
    from keel.registry import models as registry

    ks.create_deployment("churn-live", MODEL, alias="champion")
    seen: Counter[int] = Counter()
    failures: list[str] = []
    stop = threading.Event()
    with serving("churn-live", poll_interval=0.1, flush_interval=0.2) as s:

        def hammer(seed: int) -> None:
            with httpx.Client(base_url=s.url, timeout=30) as client:
                while not stop.is_set():
                    try:
                        r = client.post("/v1/predict", json={"instances": records(2, seed=seed)})
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                        continue
                    if r.status_code != 200:
                        failures.append(r.text)
                    else:
                        seen[r.json()["version"]] += 1

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()

        def wait_for(check: Any) -> None:
            deadline = time.monotonic() + 20
            while not check():
                assert time.monotonic() < deadline, (seen, failures)
                time.sleep(0.05)

        wait_for(lambda: seen[1] > 20)
        registry.set_alias(MODEL, "champion", version=2)  # an alias move
        wait_for(lambda: seen[2] > 20)
        before = seen[3]
        ks.set_canary("churn-live", 3, 50)  # a traffic change
        wait_for(lambda: seen[3] > before + 20)
        stop.set()
        for t in threads:
            t.join()
        reloads = s.app.state.keel.runtime.reloads
    assert failures == []
    assert reloads >= 2
    edges = _lineage("churn-live")
    assert {f"{MODEL}/1", f"{MODEL}/2", f"{MODEL}/3"} <= edges


def test_a_failed_reload_keeps_the_old_models(models: Models) -> None:
    from keel.registry import models as registry

    ks.create_deployment("churn-keep", MODEL, alias="champion")
    runtime = ks.ServingRuntime("churn-keep", poll_interval=0)
    route = runtime.load()
    assert runtime.check() is False  # nothing changed
    registry.delete_alias(MODEL, "champion")
    assert runtime.check() is False  # the alias is gone: keep serving v1
    assert runtime.route is route
    assert runtime.reload_failures == 1
    assert runtime.check() is False  # not retried before the next change (or 30 s)
    assert runtime.reload_failures == 1
    registry.set_alias(MODEL, "champion", version=2)
    assert runtime.check() is True
    assert runtime.route.primary.version == 2


def _lineage(deployment: str) -> set[str]:
    from keel.registry import get_registry

    edges = get_registry().store.list_lineage_edges(("deployment", deployment), "upstream")
    return {e.source_id for e in edges if e.source_kind == "model_version"}


def test_deploy_cli(models: Models, tmp_path: Path) -> None:
    from keel.cli import _app

    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(_app.app, ["deploy", *args])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert "keel serve churn-prod" in run(MODEL, "--alias", "champion", "--name", "churn-prod")
    assert "canary v2 10%" in run("churn-prod", "--canary", "2:10")
    assert "shadow v3" in run("churn-prod", "--shadow", "3")
    out = run("show", "churn-prod")
    assert "History" in out
    assert "shadow" in out
    assert "churn-prod" in run("ls")
    assert "shadow" not in run("rollback", "churn-prod").split("now")[0]
    assert "@champion, canary v2 10%" in run("churn-prod", "--canary", "2:10", "--shadow", "off")
    result = runner.invoke(_app.app, ["deploy", "churn-prod"])
    assert result.exit_code == 1
    assert "Nothing to do" in result.output
    result = runner.invoke(_app.app, ["deploy", "churn-prod", "--canary", "2"])
    assert result.exit_code == 1
    assert "VERSION:PERCENT" in result.output


@pytest.mark.skipif(
    importlib.util.find_spec("keel.serving._targets") is None,
    reason="the deployment-targets module is not there yet",
)
def test_deploy_cli_writes_targets(models: Models, tmp_path: Path) -> None:
    from keel.cli import _app

    runner = CliRunner()
    ks.create_deployment("churn-prod", MODEL, alias="champion")
    out = tmp_path / "deploy"
    result = runner.invoke(_app.app, ["deploy", "churn-prod", "--target", "k8s", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert any(out.iterdir())


def test_route_pick_and_default_names() -> None:
    from keel.serving._runtime import Route

    primary, canary = object(), object()
    route = Route("d", primary, canary, 0.25)  # type: ignore[arg-type]
    draws = iter([0.1, 0.3, 0.24999, 0.9])
    picked = [route.pick(lambda: next(draws)) for _ in range(4)]
    assert picked == [canary, primary, canary, primary]
    assert Route("d", primary).pick() is primary  # type: ignore[arg-type]
    assert ks.default_deployment_name("models:/churn@champion") == "churn.champion"
    assert ks.default_deployment_name("models:/churn/3") == "churn.v3"
    assert ks.default_deployment_name("models:/churn") == "churn.latest"
    assert ks.default_deployment_name("runs:/abc/model") == "run.abc.model"


def test_set_target_pins_a_version(models: Models) -> None:
    ks.create_deployment("churn-pin", MODEL, alias="champion")
    d = ks.set_target("churn-pin", version=3)
    assert (d.spec.alias, d.spec.version, d.revision) == (None, 3, 2)
    runtime = ks.ServingRuntime("churn-pin", poll_interval=0)
    assert runtime.load().primary.version == 3
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        ks.set_target("churn-pin")

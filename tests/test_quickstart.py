"""``keel quickstart``: the whole loop on built-in data, as a command and in-process."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import keel
from keel.quickstart import run_quickstart
from keel.store import RunStatus


def _keel(
    home: Path | None, *args: str, cwd: Path | None = None, user_home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KEEL_") and k != "PYTEST_CURRENT_TEST"
    }
    env["COLUMNS"] = "200"
    if home is not None:
        env["KEEL_HOME"] = str(home)
    if user_home is not None:
        env["HOME"] = str(user_home)
    return subprocess.run(
        [str(Path(sys.executable).parent / "keel"), *args],
        cwd=cwd or (home.parent if home else Path.cwd()),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _reset_clients() -> None:
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


@pytest.mark.slow
def test_quickstart_command_then_runs_ls(tmp_path: Path) -> None:
    home = tmp_path / "keel-home"
    done = _keel(home, "quickstart", "--epochs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    best = re.search(r"Best run: (\S+) \(([0-9a-f]{8})\) with AUC (0\.\d+)", done.stdout)
    assert best, done.stdout
    assert (home / "keel.db").is_file()  # KEEL_HOME set: the store goes there, as before

    listed = _keel(home, "runs", "ls", "--experiment", "quickstart-churn")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert best.group(2) in listed.stdout
    assert listed.stdout.count("FINISHED") >= 5  # the sweep's parent and its four runs

    # The command the quickstart tells users to run next works as printed.
    printed = re.search(r"keel runs show (\S+)", done.stdout)
    assert printed, done.stdout
    shown = _keel(home, "runs", "show", printed.group(1))
    assert shown.returncode == 0, f"'keel runs show {printed.group(1)}' failed: {shown.stderr}"
    assert best.group(1) in shown.stdout


def test_run_quickstart_in_process(keel_home: Path) -> None:
    out = io.StringIO()
    result = run_quickstart(Console(file=out, width=120), epochs=2, seed=3)
    text = out.getvalue()
    assert "Best run:" in text
    assert result.experiment == "quickstart-churn"
    assert len(result.run_ids) == 4
    assert result.best_run_id in result.run_ids
    aucs = {r: keel.get_run(r).data.metrics["auc"] for r in result.run_ids}
    assert result.best_auc == max(aucs.values()) == aucs[result.best_run_id]
    assert 0.5 < result.best_auc <= 1.0
    parent = keel.get_run(result.parent_run_id)
    assert parent.info.status is RunStatus.FINISHED
    for run_id in result.run_ids:
        run = keel.get_run(run_id)
        assert run.info.status is RunStatus.FINISHED
        assert run.info.parent_run_id == result.parent_run_id
        assert [m.step for m in keel.get_metric_history(run_id, "train_loss")] == [0, 1]
        assert set(run.data.params) >= {"alpha", "epochs"}
        matrix = keel.load_dict(run_id, "confusion_matrix.json")["matrix"]
        assert len(matrix) == 2
        assert sum(map(sum, matrix)) > 0
    assert keel.tracking.get_client().store.verify_audit_chain().ok
    summary = result.summary
    assert summary is not None
    assert [name for name, _ in summary.stages][0] == "Data"
    assert summary.audit_ok
    assert "audit chain verified" in text


def test_quickstart_home_is_temporary_unless_kept_or_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.config import get_settings
    from keel.quickstart._main import quickstart_home

    for var in ("KEEL_HOME", "KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEEL_STORE_URI", "sqlite:////nowhere/else.db")  # must not leak in
    monkeypatch.chdir(tmp_path)
    try:
        with quickstart_home(None) as (home, temporary):
            assert temporary
            assert home is not None
            assert home.is_dir()
            settings = get_settings()
            assert settings.home == home
            assert settings.store_uri == f"sqlite:///{home / 'keel.db'}"
            assert settings.artifact_uri == str(home / "artifacts")
        assert not home.exists()
        assert os.environ["KEEL_STORE_URI"] == "sqlite:////nowhere/else.db"
        assert "KEEL_HOME" not in os.environ

        kept = tmp_path / "kept"
        with quickstart_home(kept) as (home, temporary):
            assert (home, temporary) == (kept.resolve(), False)
            assert get_settings().store_uri == f"sqlite:///{kept.resolve() / 'keel.db'}"
            (kept / "marker").write_text("x")
        assert (kept / "marker").is_file()

        monkeypatch.setenv("KEEL_HOME", str(tmp_path / "configured"))
        with quickstart_home(None) as (home, temporary):
            assert (home, temporary) == (None, False)
    finally:
        _reset_clients()


@pytest.mark.slow
def test_quickstart_end_to_end_records_every_stage(keel_home: Path) -> None:
    """One run of ``keel quickstart --keep DIR``; every stage's result read back from DIR."""
    import keel.automation as ka
    import keel.data as kd
    import keel.datasets
    import keel.features as kf
    import keel.governance as governance
    import keel.monitoring as km
    import keel.serving as ks
    from keel.quickstart._automation import HOLDOUT, POLICY, RECENT, STEPS
    from keel.quickstart._data import DATASET, SUITE
    from keel.quickstart._main import STAGES, stage_name
    from keel.quickstart._monitoring import DRIFT_FROM, HOURS, MONITOR
    from keel.quickstart._newdata import SUITE as RECENT_SUITE
    from keel.quickstart._registry import MODEL
    from keel.quickstart._serving import DEPLOYMENT
    from keel.quickstart._training import EXPERIMENT

    # KEEL_HOME unset and ~ elsewhere: only --keep decides where the store goes.
    user_home = keel_home.parent / "user"
    done = _keel(
        None,
        "quickstart",
        "--epochs",
        "2",
        "--keep",
        str(keel_home),
        cwd=keel_home.parent,
        user_home=user_home,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert (keel_home / "keel.db").is_file()
    assert not (user_home / ".keel").exists()
    _reset_clients()  # keel_home points this process at the kept store

    # Data: the dataset version and its validation.
    (ds,) = keel.datasets.list_versions(DATASET)
    assert ds.num_rows == 5000
    (validation,) = kd.list_validations(ds, suite=SUITE)
    assert validation.passed
    assert all(c.passed for c in validation.checks)
    for name in (RECENT, HOLDOUT):  # the new data, registered once and validated
        (version,) = keel.datasets.list_versions(name)
        (checked,) = kd.list_validations(version, suite=RECENT_SUITE)
        assert checked.passed

    # Features: the entity, views and service, applied and materialized.
    fs = kf.store()
    assert fs.get_entity("customer").join_keys == ["customer_id"]
    view = fs.get_feature_view("customer_activity")
    assert getattr(view.source, "ref", None) == f"{DATASET}@v1"  # over the data stage's version
    assert {"monthly_charges", "support_calls"} <= set(view.features)
    assert fs.get_on_demand_feature_view("charges_ratio") is not None
    assert fs.get_feature_service("churn-model") is not None
    online = kf.get_online_features(
        "churn-model", [{"customer_id": 100_001}], request_data={"amount": 42.0}
    )
    assert online["monthly_charges"][0] is not None

    # Training: the tuned sweep, four child runs, the best found by search.
    (parent,) = keel.search_runs(EXPERIMENT, filter="attributes.run_name = 'alpha-sweep'")
    children = keel.search_runs(
        EXPERIMENT,
        filter=f"attributes.parent_run_id = '{parent.id}'",
        order_by=["metrics.auc DESC"],
    )
    assert len(children) == 4
    assert sorted(float(c.data.params["alpha"]) for c in children) == [1e-4, 1e-3, 1e-2, 1e-1]
    assert all(c.info.status is RunStatus.FINISHED for c in children)
    best = children[0]

    # Registry: v1 from the best tuned run, v2 from the retraining pipeline; v2 is champion.
    versions = sorted(keel.models.list_versions(MODEL), key=lambda v: v.version)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].run_id == best.id
    retrain_run = keel.get_run(versions[1].run_id)
    assert retrain_run.info.status is RunStatus.FINISHED
    assert keel.models.get_version_by_alias(MODEL, "champion").version == 2

    # Serving: the deployment follows the champion alias; predictions were logged.
    spec = ks.get_deployment(DEPLOYMENT).spec
    assert (spec.model_name, spec.alias) == (MODEL, "champion")
    assert spec.canary_version is None
    assert km.read_predictions(DEPLOYMENT).num_rows >= 300

    # Monitoring: drift found on the drifted hours only.
    windows = km.monitor_results(MONITOR)
    assert len(windows) == HOURS

    def drifted(w: km.MonitorResult) -> bool:
        return any(c["kind"] == "data_drift" and not c["passed"] for c in w.checks)

    assert [drifted(w) for w in windows] == [h >= DRIFT_FROM for h in range(HOURS)]
    fired = km.list_events(MONITOR, kind="alert.fired", limit=1000)
    drift_alerts = [e for e in fired if e.check == "data_drift"]
    assert len(drift_alerts) == 1  # fired once, not once per window

    # Automation: retraining triggered once, by that alert; compared; canary; promoted.
    (trigger,) = ka.policy_history(POLICY)
    assert (trigger.cause_kind, trigger.cause_id) == ("alert", str(drift_alerts[0].id))
    assert trigger.status == "promoted"
    assert trigger.challenger_version == 2
    assert trigger.pipeline_run_id == retrain_run.info.parent_run_id
    comparison = trigger.details["comparison"]
    assert comparison["holdout"] == f"{HOLDOUT}@v1"
    assert (comparison["champion_version"], comparison["challenger_version"]) == (1, 2)
    assert comparison["challenger"] > comparison["champion"]
    events = ka.trigger_events(trigger.id)
    steps = [e.details["percent"] for e in events if e.kind == "rollout_step"]
    assert steps == STEPS
    kinds = [e.kind for e in events]
    assert kinds.index("compared") < kinds.index("rollout_step") < kinds.index("promoted")
    assert ka.evaluate_policies(POLICY) == []  # the alert does not trigger it again

    # Governance: the new champion's lineage, and the audit chain.
    graph = governance.lineage(f"models:/{MODEL}/2", "upstream")
    recent = graph.node("dataset_version", f"{RECENT}@v1")
    assert [v["passed"] for v in recent.properties["validations"]] == [True]
    assert graph.of_kind("commit")
    assert any(n.properties.get("pipeline") == "retraining" for n in graph.of_kind("run"))
    audit = governance.verify_audit()
    assert audit.ok
    assert audit.events_checked > 100

    # The summary says all of it.
    summary = out[out.index("Summary") :]
    for stage in STAGES:
        assert re.search(rf"│ {stage_name(stage)} +│ +\d+\.\d │", summary), stage_name(stage)
    assert re.search(r"│ total +│ +\d+\.\d │", summary)
    assert (
        f"Champion v1 roc_auc {comparison['champion']:.3f}; challenger v2 roc_auc "
        f"{comparison['challenger']:.3f} (on {HOLDOUT}@v1)" in summary
    )
    assert re.search(
        rf"Retraining: promoted after canary 10% -> 50% -> 100% .*; champion is now {MODEL} v2",
        summary,
    )
    assert re.search(r"Drift found: .*amount.* in 4 of 8 hourly windows", summary)
    assert f"Lineage of the new champion {MODEL} v2" in summary
    for category in ("data versions", "validation", "code commit", "pipeline", "run"):
        row = re.search(rf"│ {category} +│ (.*?) +│", summary)
        assert row, category
        assert "none recorded" not in row.group(1), category
    assert f"{RECENT}@v1 by {RECENT_SUITE}@v1: passed" in summary
    assert f"retraining (run {trigger.pipeline_run_id[:8]}" in summary
    assert "audit chain verified" in summary
    assert "keel ui" in summary
    assert f"export KEEL_HOME={keel_home}" in summary

    # The printed commands work with KEEL_HOME set to the kept folder.
    for command in ("keel models show quickstart-churn", f"keel policies history {POLICY}"):
        assert command.removeprefix("keel ").split()[0] in summary
        shown = _keel(keel_home, *command.split()[1:])
        assert shown.returncode == 0, (command, shown.stderr[-2000:])


@pytest.mark.slow
def test_quickstart_without_keel_home_leaves_nothing_behind(tmp_path: Path) -> None:
    user_home = tmp_path / "user"
    user_home.mkdir()
    done = _keel(None, "quickstart", "--epochs", "2", cwd=tmp_path, user_home=user_home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    store = re.search(r"Metadata store: sqlite:///(\S+)/keel\.db", done.stdout)
    assert store, done.stdout[:2000]
    assert "keel-quickstart-" in store.group(1)
    assert not Path(store.group(1)).exists()  # the temporary home is removed
    assert not (user_home / ".keel").exists()  # and ~/.keel is never touched
    assert list(tmp_path.iterdir()) == [user_home]
    assert "audit chain verified" in done.stdout
    assert "keel quickstart --keep DIR" in done.stdout

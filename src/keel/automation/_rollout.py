"""The states of a trigger: retrain, compare with the champion, wait for approval, roll out.

Each function takes the trigger as last read and returns it after one compare-and-set
transition (or ``None`` when there is nothing to do yet). Side effects on other capabilities
(a canary percentage, an alias move) are made so that doing them again is harmless, and each
rollout evaluation first makes the deployment match the stored step: that is how an agent
resumes a rollout another agent left half done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidStateError, KeelError, NotFoundError, ValidationFailedError

if TYPE_CHECKING:
    from keel.automation._policy import Policy
    from keel.store._automation import AutomationRepository, TriggerRecord

__all__ = ["await_approval", "canary_health", "compare", "fail", "roll", "train"]

log = logging.getLogger("keel.automation")

Clock = Callable[[], int]


def _node(trig: TriggerRecord) -> tuple[str, str]:
    return "automation_trigger", trig.id


def _alert(pol: Policy, trig: TriggerRecord, kind: str, message: str) -> list[dict[str, Any]]:
    from keel.monitoring._alerts import alert_from_dict
    from keel.monitoring._alerts import log as log_alert

    alerts = [alert_from_dict(a) for a in pol.alerts] or [log_alert("warning")]
    payload = {
        "policy": pol.name,
        "trigger": trig.id,
        "kind": kind,
        "status": "firing",
        "message": message,
        "model": trig.model_name,
        "challenger_version": trig.challenger_version,
        "champion_version": trig.champion_version,
    }
    deliveries = []
    for a in alerts:
        try:
            deliveries.append(a.deliver(payload))
        except Exception as exc:  # a broken alert target must not hide the failure itself
            deliveries.append({"target": getattr(a, "target", "?"), "ok": False, "error": str(exc)})
    return deliveries


def fail(repo: AutomationRepository, pol: Policy, trig: TriggerRecord, message: str) -> Any:
    """End a trigger as failed and raise an alert; whatever served before keeps serving."""
    deliveries = _alert(pol, trig, "automation.failed", message)
    return repo.transition(
        trig,
        status="failed",
        message=message,
        event="failed",
        event_details={"message": message, "alert_deliveries": deliveries},
    )


# -- training ------------------------------------------------------------------------------


def _version_of(value: Any) -> tuple[str | None, int] | None:
    from keel.registry import ModelInfo
    from keel.store._registry import ModelVersionRecord

    if isinstance(value, ModelInfo) and value.version is not None:
        return value.registered_name, int(value.version)
    if isinstance(value, ModelVersionRecord):
        return value.model_name, value.version
    if isinstance(value, str) and value.startswith("models:/"):
        name, _, number = value[len("models:/") :].rpartition("/")
        if number.isdigit():
            return name, int(number)
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _version_of(item)
            if found is not None:
                return found
    return None


def _model_name(pol: Policy) -> str | None:
    promote = pol.promote or {}
    if promote.get("model"):
        return str(promote["model"])
    deployment = _deployment(pol, None)
    if deployment is not None:
        from keel.serving import get_deployment

        try:
            return get_deployment(deployment).spec.model_name
        except NotFoundError:
            return None
    return None


def _challenger(pol: Policy, run: Any) -> tuple[str, int] | None:
    from keel.registry import models

    found = None
    try:
        found = _version_of(run.outputs)
    except Exception:  # outputs that cannot be loaded: look in the registry instead
        found = None
    name = (found[0] if found else None) or _model_name(pol)
    if found is not None and name:
        return name, found[1]
    if name is None:
        return None
    newer = [v for v in models.list_versions(name) if v.created_at >= run.start_time]
    return (name, max(v.version for v in newer)) if newer else None


def train(repo: AutomationRepository, pol: Policy, trig: TriggerRecord, clock: Clock) -> Any:
    """Run the policy's pipeline; record the run and the challenger it registered."""
    from keel.pipelines import load_pipeline

    # A trigger found in this state was either just created or left by an agent that died
    # while training; running again is safe. The step cache is off: a retraining is asked
    # for because the data changed, and "dataset@latest" parameters look the same as before.
    pipeline = load_pipeline(pol.target)
    run = pipeline.run(
        pol.params,
        cache=False,
        run_name=f"{pol.name}-{trig.id[:8]}",
        tags={"keel.automation.policy": pol.name, "keel.automation.trigger": trig.id},
    )
    run_node = ("pipeline_run", run.id)
    if run.status != "FINISHED":
        current = repo.transition(
            trig,
            pipeline_run_id=run.id,
            event="pipeline_failed",
            event_details={"run_id": run.id, "status": run.status, "error": run.error},
            edges=[(_node(trig), run_node, "started")],
        )
        return fail(
            repo,
            pol,
            current or trig,
            f"pipeline {pipeline.name!r} run {run.id[:8]} {run.status}: {run.error}",
        )
    found = _challenger(pol, run)
    if found is None:
        current = repo.transition(
            trig,
            pipeline_run_id=run.id,
            event="pipeline_finished",
            event_details={"run_id": run.id},
            edges=[(_node(trig), run_node, "started")],
        )
        if pol.promote is None:
            return repo.transition(current or trig, status="completed", event="completed")
        return fail(
            repo,
            pol,
            current or trig,
            f"pipeline run {run.id[:8]} registered no model version to promote",
        )
    name, version = found
    return repo.transition(
        trig,
        status="trained" if pol.promote is not None else "completed",
        pipeline_run_id=run.id,
        model_name=name,
        challenger_version=version,
        event="pipeline_finished",
        event_details={"run_id": run.id, "model": name, "challenger_version": version},
        edges=[
            (_node(trig), run_node, "started"),
            (_node(trig), ("model_version", f"{name}/{version}"), "challenger"),
        ],
    )


# -- comparison ----------------------------------------------------------------------------


def _holdout(pol: Policy, model: str) -> tuple[Any, Any, str]:
    from keel.registry import get_registry
    from keel.registry._datasets import read_dataset
    from keel.registry.gates import load_holdout

    promote = pol.promote or {}
    ref = promote.get("holdout")
    if ref:
        from keel.data import get

        concrete = get(str(ref)).ref  # "tx@latest" becomes the version it is now
        frame = read_dataset(concrete)
        target = promote.get("target") or "label"
        if target not in frame.columns:
            raise InvalidStateError(
                f"The holdout {concrete!r} has no label column {target!r}; its columns are "
                f"{list(frame.columns)[:20]!r}. Give champion_challenger(target=...)."
            )
        return frame.drop(columns=[target]), frame[target].to_numpy(), concrete
    registry = get_registry()
    stored = registry.repo.get_model(model).holdout
    if stored is None:
        raise InvalidStateError(
            f"Policy {pol.name!r} has no holdout to compare on: give "
            f"champion_challenger(holdout='dataset@latest') or record one with "
            f"keel.models.set_holdout({model!r}, data, target=...)."
        )
    X, y = load_holdout(registry, stored)
    return X, y, str(stored.get("dataset") or stored.get("digest"))


def compare(repo: AutomationRepository, pol: Policy, trig: TriggerRecord, clock: Clock) -> Any:
    """Score challenger and champion on the same holdout; check the registry's gates."""
    from keel.registry import get_registry, models
    from keel.registry._metrics import evaluate, higher_is_better

    promote = pol.promote or {}
    model, version = str(trig.model_name), int(trig.challenger_version or 0)
    alias, metric = str(promote.get("alias") or "champion"), str(promote["metric"])
    registry = get_registry()
    try:
        champion: int | None = registry.repo.get_version_by_alias(model, alias).version
    except KeelError:
        champion = None
    X, y, holdout = _holdout(pol, model)
    challenger_score = evaluate(metric, registry.load_version(model, version), X, y)
    champion_score = (
        None if champion is None else evaluate(metric, registry.load_version(model, champion), X, y)
    )
    higher = higher_is_better(metric)
    gain = (
        None
        if champion_score is None
        else (challenger_score - champion_score if higher else champion_score - challenger_score)
    )
    comparison = {
        "metric": metric,
        "holdout": holdout,
        "rows": len(y),
        "challenger_version": version,
        "challenger": challenger_score,
        "champion_version": champion,
        "champion": champion_score,
        "improvement": gain,
        "min_delta": float(promote.get("min_delta") or 0.0),
    }
    edges = [(_node(trig), ("model_version", f"{model}/{version}"), "challenger")]
    if champion is not None:
        edges.append((("model_version", f"{model}/{champion}"), _node(trig), "champion"))
    if "@" in holdout:
        edges.append((("dataset_version", holdout), _node(trig), "holdout"))
    min_delta = float(promote.get("min_delta") or 0.0)
    wins = gain is None or gain > min_delta
    current = repo.transition(
        trig,
        champion_version=champion,
        details={"comparison": comparison},
        event="compared",
        event_details=comparison,
        edges=edges,
    )
    if current is None:
        return None
    if not wins:
        return repo.transition(
            current,
            status="rejected",
            message=f"challenger v{version} does not beat champion v{champion} on {metric}",
            event="rejected",
            event_details={"reason": "comparison"},
        )
    results = models.check_gates(model, version, to=alias)
    gates = [
        {"gate": r.gate_name, "kind": r.kind, "passed": r.passed, "reason": r.reason}
        for r in results
    ]
    # In manual mode an approval gate is what the wait is for, so it may fail now.
    failed = [
        g
        for g in gates
        if not g["passed"] and not (pol.approval == "manual" and g["kind"] == "approval")
    ]
    current = repo.transition(
        current, details={"gates": gates}, event="gates", event_details={"gates": gates}
    )
    if current is None:
        return None
    if failed:
        return repo.transition(
            current,
            status="rejected",
            message="; ".join(f"{g['gate']}: {g['reason']}" for g in failed),
            event="rejected",
            event_details={"reason": "gates", "failed": failed},
        )
    if pol.approval == "manual":
        return repo.transition(
            current,
            status="awaiting_approval",
            message=f"waiting for 'keel models approve {model} {version}'",
            event="awaiting_approval",
        )
    return _begin(repo, pol, current, clock)


def await_approval(
    repo: AutomationRepository, pol: Policy, trig: TriggerRecord, clock: Clock
) -> Any:
    """Start the rollout once someone approved the challenger (``keel models approve``)."""
    from keel.registry import models

    approvals = models.list_approvals(str(trig.model_name), int(trig.challenger_version or 0))
    if not approvals:
        return None
    current = repo.transition(
        trig,
        event="approved",
        event_details={"approvers": sorted({a.approver for a in approvals})},
    )
    return None if current is None else _begin(repo, pol, current, clock)


# -- rollout -------------------------------------------------------------------------------


def _deployment(pol: Policy, trig: TriggerRecord | None) -> str | None:
    promote = pol.promote or {}
    if promote.get("deployment"):
        return str(promote["deployment"])
    if trig is not None and trig.details.get("cause", {}).get("deployment"):
        return str(trig.details["cause"]["deployment"])
    alerts = [t["deployment"] for t in pol.when if t["kind"] == "alert"]
    return alerts[0] if alerts else None


def _steps(pol: Policy) -> list[float]:
    rollout = (pol.promote or {}).get("rollout")
    return [float(s) for s in rollout["steps"]] if rollout else [100.0]


def _begin(repo: AutomationRepository, pol: Policy, trig: TriggerRecord, clock: Clock) -> Any:
    deployment = _deployment(pol, trig)
    steps = _steps(pol) if deployment is not None else [100.0]
    current = repo.transition(
        trig,
        status="rolling_out",
        step_index=0,
        step_started_at=clock(),
        details={"deployment": deployment, "steps": steps},
        event="rollout_step",
        event_details={"step": 0, "percent": steps[0], "deployment": deployment},
    )
    if current is None:
        return None
    if steps[0] >= 100:
        return _finish(repo, pol, current)
    _apply(current)
    return current


def _apply(trig: TriggerRecord) -> None:
    """Make the deployment serve the stored step's canary (nothing if it does already)."""
    from keel.serving import get_deployment, set_canary

    deployment = trig.details.get("deployment")
    if not deployment:
        return
    percent = float(trig.details["steps"][trig.step_index])
    spec = get_deployment(deployment).spec
    if spec.canary_version == trig.challenger_version and spec.canary_percent == percent:
        return
    set_canary(
        deployment,
        trig.challenger_version,
        percent,
        reason=f"policy {trig.policy_name!r} trigger {trig.id[:8]}: canary step {trig.step_index}",
    )


def _clear_canary(trig: TriggerRecord, reason: str) -> None:
    from keel.serving import get_deployment, set_canary

    deployment = trig.details.get("deployment")
    if deployment and get_deployment(deployment).spec.canary_version is not None:
        set_canary(deployment, None, reason=reason)


def _rollback(
    repo: AutomationRepository, pol: Policy, trig: TriggerRecord, reasons: list[str], stats: Any
) -> Any:
    message = "rolled back: " + "; ".join(reasons)
    _clear_canary(trig, f"policy {pol.name!r} trigger {trig.id[:8]}: {message}")
    deliveries = _alert(pol, trig, "automation.rolled_back", message)
    deployment = trig.details.get("deployment")
    edges = []
    if deployment:
        edges.append((_node(trig), ("deployment", str(deployment)), "rolled_back"))
    return repo.transition(
        trig,
        status="rolled_back",
        message=message,
        event="rollback",
        event_details={"reasons": reasons, "health": stats, "alert_deliveries": deliveries},
        edges=edges,
    )


def _finish(repo: AutomationRepository, pol: Policy, trig: TriggerRecord) -> Any:
    from keel.registry import models

    model, version = str(trig.model_name), int(trig.challenger_version or 0)
    alias = str((pol.promote or {}).get("alias") or "champion")
    try:
        promotion = models.promote(
            model, version, to=alias, reason=f"policy {pol.name!r} trigger {trig.id[:8]}"
        )
    except (ValidationFailedError, InvalidStateError) as exc:
        return _rollback(repo, pol, trig, [f"promotion refused: {exc.message}"], None)
    deployment = trig.details.get("deployment")
    if deployment:
        from keel.serving import get_deployment
        from keel.serving._deployments import set_target

        record = get_deployment(str(deployment))
        if record.spec.alias is None:  # a pinned deployment is pinned to the new champion
            set_target(str(deployment), version=version, reason=f"policy {pol.name!r}")
        _clear_canary(trig, f"policy {pol.name!r} trigger {trig.id[:8]}: promoted")
    edges = [(_node(trig), ("model_version", f"{model}/{version}"), "promoted")]
    if deployment:
        edges.append((_node(trig), ("deployment", str(deployment)), "rolled_out"))
    return repo.transition(
        trig,
        status="promoted",
        message=f"{model} v{version} is {alias!r}",
        event="promoted",
        event_details={"alias": alias, "promotion_id": promotion.id},
        edges=edges,
    )


def roll(repo: AutomationRepository, pol: Policy, trig: TriggerRecord, clock: Clock) -> Any:
    """Check the canary's health; roll back, or move to the next step when it is due."""
    steps = [float(s) for s in trig.details.get("steps") or [100.0]]
    if trig.step_index >= len(steps) - 1:
        return _finish(repo, pol, trig)  # the last step's promotion did not finish: redo it
    _apply(trig)  # resume: the deployment follows the stored step
    rollout = (pol.promote or {}).get("rollout") or {}
    now = clock()
    started = int(trig.step_started_at or now)
    deployment = trig.details.get("deployment")
    criteria = dict(rollout.get("rollback_if") or {})
    stats: dict[str, Any] | None = None
    if deployment and criteria:
        reasons, stats = canary_health(
            str(deployment),
            int(trig.challenger_version or 0),
            started,
            now + 1,
            criteria,
            int(rollout.get("min_rows") or 20),
        )
        if reasons:
            return _rollback(repo, pol, trig, reasons, stats)
    if now - started < int(rollout.get("every_ms") or 0):
        return None
    index = trig.step_index + 1
    current = repo.transition(
        trig,
        step_index=index,
        step_started_at=now,
        event="rollout_step",
        event_details={
            "step": index,
            "percent": steps[index],
            "deployment": deployment,
            "health": stats,  # the previous step's canary against the champion
        },
    )
    if current is None:
        return None
    if index >= len(steps) - 1:
        return _finish(repo, pol, current)
    _apply(current)
    return current


def canary_health(
    deployment: str,
    version: int,
    start: int,
    end: int,
    criteria: dict[str, float],
    min_rows: int = 20,
) -> tuple[list[str], dict[str, Any]]:
    """Compare the canary's predictions in ``[start, end)`` with the rest of the traffic.

    Returns:
        The breached criteria (each as a sentence) and the figures of both sides.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from keel.monitoring._client import get_monitoring_client

    client = get_monitoring_client()
    sides: dict[str, list[pa.Table]] = {"canary": [], "champion": []}
    for segment in client.log.list_segments(deployment, start, end):
        table = pq.read_table(client.local_blob(segment.digest))
        ts = table.column("timestamp").cast(pa.timestamp("ms", "UTC")).cast(pa.int64())
        mask = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
        side = "canary" if segment.model_version == str(version) else "champion"
        sides[side].append(table.filter(mask))
    stats: dict[str, Any] = {}
    ids: dict[str, set[str]] = {}
    for side, tables in sides.items():
        rows = sum(t.num_rows for t in tables)
        errors = sum(
            int(pc.sum(t.column("error")).as_py() or 0)
            for t in tables
            if "error" in t.column_names and t.num_rows
        )
        lat = [
            np.asarray(t.column("latency_ms").to_numpy(zero_copy_only=False), dtype=float)
            for t in tables
            if "latency_ms" in t.column_names and t.num_rows
        ]
        latencies = np.concatenate(lat) if lat else np.empty(0)
        latencies = latencies[np.isfinite(latencies)]
        stats[side] = {
            "rows": rows,
            "error_rate": errors / rows if rows else None,
            "p95_ms": float(np.percentile(latencies, 95)) if latencies.size else None,
        }
        ids[side] = {
            str(v)
            for t in tables
            if "prediction_id" in t.column_names
            for v in t.column("prediction_id").to_pylist()
        }
    canary, champion = stats["canary"], stats["champion"]
    reasons: list[str] = []
    if canary["rows"] < min_rows:
        return reasons, stats
    if "error_rate" in criteria:
        base = champion["error_rate"] or 0.0
        if canary["error_rate"] - base > criteria["error_rate"]:
            reasons.append(
                f"error rate {canary['error_rate']:.3f} vs {base:.3f} for the champion "
                f"(tolerance {criteria['error_rate']:g})"
            )
    if (
        "latency" in criteria
        and canary["p95_ms"] is not None
        and champion["p95_ms"]
        and canary["p95_ms"] > criteria["latency"] * champion["p95_ms"]
    ):
        reasons.append(
            f"p95 latency {canary['p95_ms']:.1f} ms vs {champion['p95_ms']:.1f} ms for the "
            f"champion (tolerance {criteria['latency']:g}x)"
        )
    if "performance" in criteria:
        accuracy = _accuracy(client, deployment, start, end, ids)
        stats["accuracy"] = accuracy
        can, cham = accuracy.get("canary"), accuracy.get("champion")
        if can is not None and cham is not None and cham - can > criteria["performance"]:
            reasons.append(
                f"accuracy {can:.3f} vs {cham:.3f} for the champion on labelled predictions "
                f"(tolerance {criteria['performance']:g})"
            )
    return reasons, stats


def _accuracy(
    client: Any, deployment: str, start: int, end: int, ids: dict[str, set[str]]
) -> dict[str, float | None]:
    from keel.monitoring._log import window_table

    table = window_table(client, deployment, start, end, labels=True)
    out: dict[str, float | None] = {"canary": None, "champion": None}
    if not table.num_rows or "label" not in table.column_names:
        return out
    rows = [
        r
        for r in table.select(["prediction_id", "prediction", "label"]).to_pylist()
        if r["label"] is not None
    ]
    for side in out:
        mine = [r for r in rows if str(r["prediction_id"]) in ids[side]]
        if mine:
            out[side] = sum(str(r["prediction"]) == str(r["label"]) for r in mine) / len(mine)
    return out

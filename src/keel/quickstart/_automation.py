"""Quickstart stage: the drift alert triggers a policy that retrains, compares and rolls out.

The customers changed (a new concept: the same 20 features now relate to churn differently);
the recent data is registered as two dataset versions, training rows and a holdout. A policy
on the monitoring stage's drift alert runs the ``retraining`` pipeline below, compares the new
version with the champion on the recent holdout, waits for the reviewer's approval (the
model's approval gate), and rolls it out through a short canary on the serving stage's
deployment, with simulated traffic checked for errors and latency at each step.
"""

from __future__ import annotations

import time
from typing import Any

import keel
from keel.quickstart._context import QuickstartContext

RECENT = "quickstart-churn-recent"
HOLDOUT = "quickstart-churn-holdout"
POLICY = "quickstart-retrain"
TARGET = "churn"
#: Canary steps (percent of traffic) and how long each lasts.
STEPS = [10, 50, 100]
EVERY_S = 1.0


def _recent_frames(seed: int) -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    # Another draw of the generator: the same features, a different relation to churn.
    X, y = make_classification(
        n_samples=4000, n_features=20, n_informative=8, weights=[0.8, 0.2], random_state=seed + 1
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame[TARGET] = y
    train, holdout = train_test_split(frame, test_size=0.3, random_state=seed, stratify=y)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


@keel.step(track=True)
def retrain(dataset: str, model: str, seed: int) -> str:
    """Fit on the dataset version, log its validation AUC, register the model; its URI."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    version = keel.datasets.get(dataset)
    keel.log_input("dataset_version", version.ref)  # lineage: dataset version -> run
    frame = version.to_pandas()
    X, y = frame.drop(columns=[TARGET]).to_numpy(), frame[TARGET].to_numpy()
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.2, random_state=seed)
    fitted = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=seed, max_iter=200)
    fitted.fit(X_fit, y_fit)
    auc = float(roc_auc_score(y_val, fitted.predict_proba(X_val)[:, 1]))
    keel.log_params({"dataset": dataset, "alpha": 1e-3})
    keel.log_metric("auc", auc)
    info = keel.log_model(
        fitted, "model", input_example=np.asarray(X_val[:5]), registered_name=model
    )
    return f"models:/{model}/{info.version}"


@keel.pipeline
def retraining(
    dataset: str = f"{RECENT}@latest", model: str = "quickstart-churn", seed: int = 7
) -> str:
    """Retrain the quickstart's churn model on the newest recent data."""
    return retrain(dataset, model, seed)  # type: ignore[no-any-return]


def _traffic(deployment: str, split: tuple[int | None, float], rng: Any) -> None:
    """Log a burst of simulated requests, split between champion and canary as served."""
    import numpy as np
    import pandas as pd

    import keel.monitoring as km
    import keel.serving as ks

    spec = ks.get_deployment(deployment).spec
    champion = (
        keel.models.get_version_by_alias(spec.model_name, spec.alias).version
        if spec.alias
        else spec.version
    )
    canary, percent = split
    n = 200
    to_canary = int(n * percent / 100) if canary is not None else 0
    for version, rows in ((champion, n - to_canary), (canary, to_canary)):
        if version is None or rows == 0:
            continue
        X = rng.normal(size=(rows, 20))
        km.log_predictions(
            deployment,
            pd.DataFrame(X, columns=[f"x{i}" for i in range(20)]),
            np.zeros(rows, int),
            latency_ms=rng.gamma(3.0, 4.0, rows),
            errors=np.zeros(rows, bool),
            model_name=spec.model_name,
            model_version=version,
        )


def automation_stage(ctx: QuickstartContext) -> None:
    """Define the retraining policy, let it act on the drift alert, print what it did."""
    import numpy as np
    from rich.markup import escape
    from rich.table import Table

    import keel.automation as ka
    from keel._utils import now_ms
    from keel.registry import models

    console, r = ctx.console, ctx.results
    model, deployment = r["model_name"], r["deployment"]
    started = time.perf_counter()
    console.print(
        f"[bold]Automation[/]: a policy retrains {model} when the monitor on '{r['monitor']}' "
        "reports data drift"
    )
    train, holdout = _recent_frames(ctx.seed)
    recent = keel.datasets.register(RECENT, train, description="Customers after the drift.")
    held = keel.datasets.register(HOLDOUT, holdout, description="Holdout after the drift.")
    # Judge "beats the champion" on today's customers, as the policy does.
    for gate in models.list_gates(model):
        if gate.kind == "beats":
            models.remove_gate(model, gate.name, alias=gate.alias or None)
    models.add_gate(
        model, keel.gates.beats("champion", metric="auc", holdout=held.ref, target=TARGET)
    )
    ka.policy(
        POLICY,
        when=ka.on_alert(r["monitor"], checks=["data_drift"], since=now_ms() - 15 * 60_000),
        run=retraining,
        params={"model": model, "seed": ctx.seed},
        promote=ka.champion_challenger(
            metric="roc_auc",
            holdout=f"{HOLDOUT}@latest",
            target=TARGET,
            deployment=deployment,
            rollout=ka.canary(STEPS, every=EVERY_S, rollback_if=["error_rate", "latency"]),
        ),
        cooldown="1h",
        approval="manual",
        replace=True,
    )
    triggers = ka.evaluate_policies(POLICY)
    if not triggers:
        console.print("No new drift alert for the policy to act on (a rerun?).\n")
        return
    trigger = triggers[0]
    if trigger.status == "awaiting_approval":
        console.print(
            f"Challenger v{trigger.challenger_version} beat the champion; waiting for approval: "
            f"'keel models approve {model} {trigger.challenger_version}' (done here as the "
            "reviewer)"
        )
        models.approve(model, int(trigger.challenger_version or 0), comment="quickstart review")
    rng = np.random.default_rng(ctx.seed + 9)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        trigger = ka.get_trigger(trigger.id)
        if not trigger.active:
            break
        spec = keel.serving.get_deployment(deployment).spec
        _traffic(deployment, (spec.canary_version, spec.canary_percent or 0.0), rng)
        ka.evaluate_policies(POLICY)
        time.sleep(EVERY_S / 4)
    trigger = ka.get_trigger(trigger.id)
    events = ka.trigger_events(trigger.id)
    comparison = trigger.details.get("comparison") or {}
    steps = [f"{e.details['percent']:g}%" for e in events if e.kind == "rollout_step"]
    took = time.perf_counter() - started
    if comparison:
        champion = comparison.get("champion")
        console.print(
            f"On {comparison['holdout']} ({comparison['rows']:,} rows): challenger "
            f"v{comparison['challenger_version']} {comparison['metric']} "
            f"{comparison['challenger']:.3f} vs champion v{comparison['champion_version']} "
            + ("-" if champion is None else f"{champion:.3f}")
        )
    table = Table(title=f"Trigger {trigger.id[:8]} of policy {POLICY}")
    table.add_column("event", style="bold")
    table.add_column("details")
    for e in events:
        table.add_row(e.kind, escape(_short(e.details)))
    console.print(table)
    chain = [f"alert {trigger.cause_id}"]
    if trigger.pipeline_run_id:
        chain.append(f"retrained (run {trigger.pipeline_run_id[:8]} on {recent.ref})")
    if steps:
        chain.append("canary " + " -> ".join(steps))
    chain.append(f"[bold]{trigger.status}[/]: {escape(trigger.message)}")
    console.print(f"Policy {POLICY}: {' -> '.join(chain)} ({took:.1f}s)\n")
    r.update(
        policy=POLICY,
        trigger_id=trigger.id,
        trigger_status=trigger.status,
        challenger_version=trigger.challenger_version,
        comparison=comparison,
        canary_steps=steps,
    )
    ctx.look += [f"keel policies history {POLICY} --events", "keel agent"]


def _short(details: dict[str, Any]) -> str:
    keep = {k: v for k, v in details.items() if k not in ("alert_deliveries", "health")}
    if "gates" in keep:
        keep["gates"] = "; ".join(
            f"{g['gate']} {'passed' if g['passed'] else 'failed'}" for g in keep["gates"]
        )
    text = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in keep.items()
    )
    return text[:110]

"""Quickstart stage: register the best model behind promotion gates and document it."""

from __future__ import annotations

from rich.table import Table

import keel
from keel.errors import ValidationFailedError
from keel.quickstart._context import QuickstartContext

MODEL = "quickstart-churn"
MIN_AUC = 0.75


def registry_stage(ctx: QuickstartContext) -> None:
    """Log the best run's model, register it with gates, promote it to champion, write a card."""
    from keel.config import get_settings
    from keel.registry import models
    from keel.tracking import get_client

    console, r = ctx.console, ctx.results
    X_test, y_test = r["X_test"], r["y_test"]
    console.print("[bold]4. Registry[/]: logging the best model and registering it")
    info = keel.log_model(
        r["best_model"],
        "model",
        input_example=X_test[:5],
        registered_name=MODEL,
        run_id=r["best_run_id"],
        description="SGD logistic regression on the generated churn data (quickstart).",
    )
    models.update_model(
        MODEL,
        description="Predicts which customers will churn next month.",
        intended_use="Demonstration model of 'keel quickstart', trained on generated data. "
        "Not for decisions about real customers.",
    )
    version = int(info.version or 0)  # set: registered_name was given
    console.print(
        f"Registered [bold]{MODEL}[/] v{version} ({info.flavor}, {info.serialization}); "
        f"manifest sha256 {info.manifest_digest[:12]}"
    )

    models.add_gate(MODEL, keel.gates.metric("auc", ">=", MIN_AUC))
    models.add_gate(
        MODEL, keel.gates.beats("champion", metric="auc", holdout=(X_test, y_test), target="churn")
    )
    models.add_gate(MODEL, keel.gates.approval(role="approver"))
    edges = get_client().store.list_lineage_edges(("run", r["best_run_id"]), "upstream")
    if any(e.source_kind == "dataset_version" for e in edges):
        models.add_gate(MODEL, keel.gates.data_validated())
    models.approve(MODEL, version, role="approver", comment="quickstart review")

    try:
        promotion = models.promote(MODEL, version, to="champion", reason="quickstart: best AUC")
        promoted = True
    except ValidationFailedError as exc:
        promotion_id = exc.details.get("promotion_id")
        promoted = False
    else:
        promotion_id = promotion.id
    table = Table(title=f"Gates for {MODEL} v{version} -> champion")
    table.add_column("gate", style="bold")
    table.add_column("result")
    table.add_column("why")
    for g in models.gate_results(MODEL, version):
        if g.promotion_id == promotion_id:
            table.add_row(
                g.gate_name, "[green]passed[/]" if g.passed else "[red]failed[/]", g.reason
            )
    console.print(table)
    champion = models.get_model(MODEL).aliases.get("champion")
    if promoted:
        console.print(f"Promoted v{version} to [bold green]champion[/].")
    else:
        console.print(
            f"Promotion refused (see the failed gates above); champion stays "
            f"{'v' + str(champion) if champion else 'unset'}."
        )
    card = models.write_card(
        MODEL, version, get_settings().home / "cards" / f"{MODEL}-v{version}.html"
    )
    console.print(f"Model card: [cyan]{card}[/]\n")
    r.update(
        model_name=MODEL,
        model_version=version,
        model_uri=f"models:/{MODEL}@champion",
        champion_version=champion,
        card_path=str(card),
    )
    ctx.look += [
        "keel models ls",
        f"keel models show {MODEL}",
        f"keel models card {MODEL} {version} --format md",
    ]

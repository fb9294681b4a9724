"""Quickstart stage: generated data, tracked training runs over a small sweep, best-run search."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import keel
from keel.errors import MissingDependencyError
from keel.quickstart._context import QuickstartContext

EXPERIMENT = "quickstart-churn"


def training_stage(ctx: QuickstartContext) -> None:
    """Train four tracked runs under one parent run and find the best by search."""
    console, seed, epochs = ctx.console, ctx.seed, ctx.epochs
    try:
        import numpy as np
        from sklearn.datasets import make_classification
        from sklearn.linear_model import SGDClassifier
        from sklearn.metrics import confusion_matrix, f1_score, log_loss, roc_auc_score
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise MissingDependencyError.for_extra("scikit-learn", "sklearn", "quickstart") from exc

    console.print("[bold]1. Data[/]: generating 5,000 customers with 20 features (churn labels)")
    X, y = make_classification(
        n_samples=5000, n_features=20, n_informative=8, weights=[0.8, 0.2], random_state=seed
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )

    console.print("[bold]2. Training[/]: 4 settings of alpha, each a tracked run")
    keel.set_experiment(EXPERIMENT)
    alphas = [1e-4, 1e-3, 1e-2, 1e-1]
    run_ids: list[str] = []
    fitted: dict[str, SGDClassifier] = {}  # run id -> model, for the registry stage
    classes = np.unique(y_train)
    with keel.start_run(run_name="alpha-sweep", tags={"stage": "quickstart"}) as parent:
        keel.log_params({"model": "SGDClassifier(log_loss)", "epochs": epochs, "seed": seed})
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} epochs"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            for alpha in alphas:
                task = progress.add_task(f"alpha={alpha:g}", total=epochs)
                with keel.start_run(run_name=f"alpha={alpha:g}", tags={"team": "risk"}) as run:
                    keel.log_params({"alpha": alpha, "epochs": epochs, "n_features": X.shape[1]})
                    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed)
                    for epoch in range(epochs):
                        model.partial_fit(X_train, y_train, classes=classes)
                        keel.log_metric(
                            "train_loss",
                            log_loss(y_train, model.predict_proba(X_train)),
                            step=epoch,
                        )
                        keel.log_metric(
                            "val_loss", log_loss(y_test, model.predict_proba(X_test)), step=epoch
                        )
                        progress.advance(task)
                    proba = model.predict_proba(X_test)[:, 1]
                    pred = (proba >= 0.5).astype(int)
                    keel.log_metrics(
                        {
                            "auc": float(roc_auc_score(y_test, proba)),
                            "f1": float(f1_score(y_test, pred)),
                        }
                    )
                    keel.log_dict(
                        {"labels": [0, 1], "matrix": confusion_matrix(y_test, pred).tolist()},
                        "confusion_matrix.json",
                    )
                    with tempfile.TemporaryDirectory() as tmp:
                        report = Path(tmp) / "coefficients.json"
                        report.write_text(
                            json.dumps({"coef": model.coef_.ravel().round(4).tolist()})
                        )
                        keel.log_artifact(report, "model")
                    run_ids.append(run.id)
                    fitted[run.id] = model

    console.print("\n[bold]3. Evaluation[/]: searching the runs for the best AUC")
    best = keel.search_runs(
        EXPERIMENT,
        filter=f"attributes.parent_run_id = '{parent.id}'",
        order_by=["metrics.auc DESC"],
        max_results=1,
    )[0]
    best_auc = best.data.metrics["auc"]
    console.print(
        f"Best run: [bold green]{best.info.name}[/] ({best.id[:8]}) with AUC {best_auc:.3f}, "
        f"F1 {best.data.metrics['f1']:.3f}\n"
    )
    ctx.results.update(
        experiment=EXPERIMENT,
        parent_run_id=parent.id,
        run_ids=run_ids,
        best_run_id=best.id,
        best_auc=best_auc,
        best_model=fitted[best.id],
        X_test=X_test,
        y_test=y_test,
    )
    ctx.look += [
        "keel experiments ls",
        f"keel runs ls --experiment {EXPERIMENT}",
        f"keel runs show {best.id[:8]}",
        f"keel runs compare {' '.join(r[:8] for r in run_ids[:2])}",
    ]

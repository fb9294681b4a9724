"""A small PyTorch classifier: trained, registered, its predictions logged and monitored.

    python run.py [WORKDIR]

1. Trains a two-layer network on tabular data in a tracked run (loss per epoch).
2. Registers it (flavor ``pytorch``, ``torch.export`` format: loads without the model's
   Python code) and loads it back from ``models:/torch-classifier@champion``.
3. Scores two hours of traffic with the loaded model and appends it to the deployment's
   prediction log; in the second hour the inputs drift. Labels arrive later.
4. A monitor compares each hour with the training data and checks accuracy on the labeled
   predictions: the first hour is ``ok``, the drifted one a ``breach``.

Serving the model over HTTP (``keel serve``) is not part of this example yet; the predictions
are logged with :func:`keel.monitoring.log_predictions`, which is what serving calls.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import make_classification

import keel

MODEL = "torch-classifier"
DEPLOYMENT = "torch-classifier-prod"
COLUMNS = [f"x{i}" for i in range(4)]


def data(rows: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Features (``shift`` added to the first two columns) and labels."""
    # One population (the same 5,000 generated rows); each call samples from it.
    X, y = make_classification(
        n_samples=5000, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=rows, replace=True)
    X, y = X[idx].astype("float32"), y[idx]
    X[:, :2] += shift
    return pd.DataFrame(X, columns=COLUMNS), y


def train(frame: pd.DataFrame, y: np.ndarray, epochs: int) -> torch.nn.Module:
    """Fit a 4-16-2 network with Adam, logging the loss of each epoch."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    X, target = torch.from_numpy(frame.to_numpy().copy()), torch.from_numpy(y).long()
    for epoch in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X), target)
        loss.backward()
        opt.step()
        keel.log_metric("loss", loss.item(), step=epoch)
    return net.eval()


def main(workdir: Path, rows: int = 2000, epochs: int = 150) -> dict[str, Any]:
    """Run the example; return the monitor's verdict per hour (for the test)."""
    keel.set_experiment("torch-classifier")
    reference, y = data(rows, seed=1)
    with keel.start_run(run_name="mlp"):
        net = train(reference, y, epochs)
        with torch.no_grad():
            scores = net(torch.from_numpy(reference.to_numpy().copy()))
        accuracy = float((scores.argmax(1).numpy() == y).mean())
        keel.log_metric("accuracy", accuracy)
        info = keel.log_model(net, "model", input_example=reference.head(8), registered_name=MODEL)
    assert info.version is not None
    keel.models.promote(MODEL, version=info.version, to="champion", reason="first model")
    model = keel.load_model(f"models:/{MODEL}@champion")

    # Two complete hours of traffic ending before now: the second one drifted.
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    for i, shift in enumerate((0.0, 3.0)):
        frame, labels = data(300, seed=10 + i, shift=shift)
        logits = model.predict(frame)
        when = hour - dt.timedelta(hours=2 - i) + dt.timedelta(minutes=30)
        batch = keel.monitoring.log_predictions(
            DEPLOYMENT,
            frame,
            predictions=logits.argmax(1),
            timestamps=when,
            model_name=MODEL,
            model_version=info.version,
        )
        keel.monitoring.log_labels(DEPLOYMENT, batch.prediction_ids, labels)
    keel.monitoring.create_monitor(
        DEPLOYMENT,
        reference=reference,
        window="1h",
        checks=[
            keel.monitoring.data_drift(share=0.3),
            keel.monitoring.performance("accuracy", min=0.75),
        ],
        start=hour - dt.timedelta(hours=2),
        replace=True,
    )
    results = keel.monitoring.run_monitor(DEPLOYMENT, until=hour)
    report = workdir / "monitor.html"
    keel.monitoring.monitor_report(DEPLOYMENT, str(report))
    return {
        "train_accuracy": accuracy,
        "statuses": [r.status for r in results],
        "accuracy_per_hour": [r.metrics.get("performance.accuracy") for r in results],
        "report": str(report),
    }


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))

"""Tabular classification with the feature store, drift detection and retraining on drift.

    python run.py [WORKDIR]

1. Writes a month of customer feature snapshots (Parquet) and churn labels.
2. Defines an entity and a feature view and applies them to the feature store.
3. Builds point-in-time correct training data, trains a classifier in a tracked run,
   registers it behind a gate and promotes it to ``champion``.
4. Materializes the latest features into the online store and looks some up.
5. A new week arrives whose features have drifted; the drift report finds it, which triggers
   retraining on the new labels and a promotion through the same gates.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import keel

MODEL = "churn-features"
FEATURES = ["customer_stats:avg_amount_7d", "customer_stats:tx_count_7d", "customer_stats:tenure"]
COLUMNS = [f.split(":")[1] for f in FEATURES]


def write_snapshots(
    folder: Path, day: pd.Timestamp, customers: int, shift: float, seed: int
) -> None:
    """Write one snapshot of every customer's features at ``day`` (``shift`` scales amounts)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(customers),
            "event_time": day,
            "avg_amount_7d": rng.lognormal(3.0, 0.6, customers) * shift,
            "tx_count_7d": rng.poisson(6, customers).astype("int64"),
            "tenure": rng.integers(1, 60, customers).astype("int64"),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / f"snapshot-{day:%Y%m%d}.parquet", index=False)


def labels_at(features: pd.DataFrame, day: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Churn labels at ``day``: few transactions and a short tenure make churn likely."""
    rng = np.random.default_rng(seed)
    score = (
        -0.4 * features["tx_count_7d"] - 0.05 * features["tenure"] + rng.normal(0, 1, len(features))
    )
    churn = (score > np.quantile(score, 0.75)).astype("int64")
    return pd.DataFrame(
        {"customer_id": features["customer_id"], "event_timestamp": day, "churn": churn}
    )


def train(fs: Any, labels: pd.DataFrame, reason: str) -> tuple[int, float, pd.DataFrame]:
    """Train on point-in-time features of ``labels``; register and promote behind the gates."""
    frame = fs.historical(labels, features=FEATURES)
    # historical() returns nullable integer columns (pd.Int64); models want plain floats.
    X, y = frame[COLUMNS].astype("float64"), frame["churn"].astype("int64")
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    with keel.start_run(run_name=reason):
        model = GradientBoostingClassifier(random_state=0).fit(X_train, y_train)
        auc = float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))
        keel.log_metric("auc", auc)
        info = keel.log_model(model, "model", input_example=X_train.head(5), registered_name=MODEL)
    assert info.version is not None
    keel.models.add_gate(MODEL, keel.gates.metric("auc", ">=", 0.6))
    keel.models.promote(MODEL, version=info.version, to="champion", reason=reason)
    return info.version, auc, frame


def main(workdir: Path, customers: int = 800) -> dict[str, Any]:
    """Run the whole example in ``workdir``; return what happened (for the test)."""
    data = workdir / "data" / "customer_stats"
    today = pd.Timestamp.now(tz="UTC").floor("D").tz_localize(None)
    for i, days_ago in enumerate((21, 14, 7)):
        write_snapshots(data, today - pd.Timedelta(days=days_ago), customers, 1.0, seed=i)
    keel.set_experiment("churn-features")

    customer = keel.features.Entity("customer", join_keys=["customer_id"])
    stats = keel.features.FeatureView(
        name="customer_stats",
        entities=[customer],
        source=str(data / "*.parquet"),
        timestamp="event_time",
        ttl="30d",
        features={"avg_amount_7d": "float64", "tx_count_7d": "int64", "tenure": "int64"},
    )
    fs = keel.features.store()
    fs.apply([customer, stats], show_diff=False)

    week = pd.read_parquet(data / f"snapshot-{today - pd.Timedelta(days=7):%Y%m%d}.parquet")
    v1, auc1, reference = train(fs, labels_at(week, today - pd.Timedelta(days=6), seed=10), "first")

    fs.materialize(["customer_stats"])
    online = fs.online(FEATURES[:2], entities=[{"customer_id": 1}, {"customer_id": 2}])

    # A new week: amounts tripled (a pricing change upstream); the labels follow.
    write_snapshots(data, today, customers, 3.0, seed=3)
    new = pd.read_parquet(data / f"snapshot-{today:%Y%m%d}.parquet")
    current = fs.historical(
        new[["customer_id"]].assign(event_timestamp=today + pd.Timedelta(hours=1)),
        features=FEATURES,
    )
    report = keel.monitoring.drift(
        reference[COLUMNS].astype("float64"), current[COLUMNS].astype("float64")
    )
    retrained = None
    if report.drifted_features:  # what an automation policy will do on its own
        retrained = train(fs, labels_at(new, today + pd.Timedelta(hours=1), seed=11), "drift")
    champion = keel.models.get_version_by_alias(MODEL, "champion").version
    return {
        "first_version": v1,
        "first_auc": auc1,
        "online": online,
        "drifted": list(report.drifted_features),
        "retrained_version": None if retrained is None else retrained[0],
        "champion": champion,
    }


if __name__ == "__main__":
    result = main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
    for key, value in result.items():
        print(f"{key}: {value}")

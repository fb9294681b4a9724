"""Quickstart stage: features over the quickstart's customers, offline and online.

Defines a ``customer`` entity and a ``customer_activity`` feature view over the dataset the
data stage registered (or over generated Parquet when that stage did not run), an on-demand
feature and a feature service; applies them, builds a point-in-time training frame,
materializes the latest values and looks one customer up online.
"""

from __future__ import annotations

from typing import Any

from keel.quickstart._context import QuickstartContext

SERVICE = "churn-model"


def _source(ctx: QuickstartContext) -> str:
    dataset = ctx.results.get("dataset")
    if dataset is not None:
        return str(dataset.ref)
    from keel.config import get_settings
    from keel.quickstart._data import make_churn_frame

    path = get_settings().home / "quickstart" / "features" / "customers.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    make_churn_frame(seed=ctx.seed).to_parquet(path)
    return str(path)


def charges_per_tx(df: Any) -> Any:
    """Monthly charges per transaction, and how a request's amount compares to it."""
    per_tx = df["monthly_charges"] / df["transactions_30d"].clip(lower=1)
    return {"charges_per_tx": per_tx, "amount_vs_usual": df["amount"] / per_tx}


def features_stage(ctx: QuickstartContext) -> None:
    """Apply feature definitions, build training data, materialize and look one customer up."""
    import pandas as pd

    import keel.features as kf

    console = ctx.console
    source = _source(ctx)
    customer = kf.Entity("customer", join_keys=["customer_id"], description="A customer.")
    activity = kf.FeatureView(
        name="customer_activity",
        entities=[customer],
        source=source,
        timestamp="last_active",
        ttl="90d",
        features={
            "monthly_charges": "float64",
            "transactions_30d": "int64",
            "support_calls": "int64",
            "tenure_months": "int64",
            "plan": "string",
        },
        description="Account activity as of each customer's last visit.",
    )
    ratio = kf.OnDemandFeatureView(
        "charges_ratio",
        sources=[activity[["monthly_charges", "transactions_30d"]]],
        request_schema={"amount": "float64"},
        features={"charges_per_tx": "float64", "amount_vs_usual": "float64"},
        function=charges_per_tx,
    )
    service = kf.FeatureService(
        SERVICE,
        [activity[["monthly_charges", "support_calls", "tenure_months"]], ratio],
        description="What the churn model reads.",
    )
    fs = kf.store()
    result = fs.apply([customer, activity, ratio, service], show_diff=False)
    changed = ", ".join(c.header()[2:] for c in result.changed) or "no changes"
    console.print(f"[bold]Features[/]: applied from {source}: {changed}")

    ids = pd.Series(range(100_001, 101_001), dtype="int64")
    now = pd.Timestamp.now(tz="UTC")
    entity_df = pd.DataFrame(
        {
            "customer_id": pd.concat([ids, ids], ignore_index=True),
            "event_timestamp": [now] * len(ids) + [now - pd.Timedelta(days=30)] * len(ids),
            "amount": [42.0] * (2 * len(ids)),
        }
    )
    train = fs.historical(entity_df, service)
    known_now = int(train["monthly_charges"].iloc[: len(ids)].notna().sum())
    known_then = int(train["monthly_charges"].iloc[len(ids) :].notna().sum())
    console.print(
        f"Training frame: {len(train):,} rows x {train.shape[1]} columns; features known for "
        f"{known_now:,} customers now and {known_then:,} thirty days ago (point in time)"
    )
    records = fs.materialize(["customer_activity"])
    written = sum(r.rows_written for r in records)
    console.print(
        f"Materialized {written:,} customers into {fs.online_store.display_uri} "
        f"in {sum(r.duration_s for r in records):.2f}s"
    )
    online = kf.get_online_features(
        SERVICE, [{"customer_id": 100_001}], request_data={"amount": 42.0}
    )
    shown = {k: (round(v[0], 3) if isinstance(v[0], float) else v[0]) for k, v in online.items()}
    console.print(f"Online lookup: {shown}\n")
    ctx.results.update(feature_service=fs.get_feature_service(SERVICE), training_frame=train)
    ctx.look += ["keel features ls", "keel features materialize"]

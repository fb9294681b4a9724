"""Quickstart stage: generate customer churn data, register it, validate it, glance at its profile.

The dataset version goes into ``ctx.results["dataset"]`` (a :class:`keel.data.DatasetVersion`)
so later stages can train on it and record it as their input with ``keel.log_input``.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from keel.quickstart._context import QuickstartContext

DATASET = "quickstart-churn"
SUITE = "churn-quality"


def make_churn_frame(n: int = 5000, seed: int = 7) -> Any:
    """Return ``n`` generated customers with their activity and a churn label (a DataFrame)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    plan = rng.choice(["basic", "standard", "premium"], n, p=[0.5, 0.35, 0.15])
    base = np.select([plan == "basic", plan == "standard"], [19.0, 39.0], 69.0)
    monthly = np.round(base + rng.normal(0, 4, n).clip(-10, 10), 2)
    tx_count = rng.poisson(12, n)
    support_calls = rng.poisson(1.2, n)
    last_seen_days = rng.exponential(6, n).clip(0, 60)
    # Churn grows with support calls, inactivity and short tenure.
    logit = -2.2 + 0.45 * support_calls + 0.08 * last_seen_days - 0.03 * tenure
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    return pd.DataFrame(
        {
            "customer_id": np.arange(100_001, 100_001 + n, dtype=np.int64),
            "country": rng.choice(["DE", "FR", "IT", "ES", "NL"], n),
            "plan": plan,
            "tenure_months": tenure.astype(np.int64),
            "monthly_charges": monthly,
            "total_charges": np.round(monthly * tenure, 2),
            "transactions_30d": tx_count.astype(np.int64),
            "avg_transaction": np.round(rng.gamma(2.0, 25.0, n), 2),
            "support_calls": support_calls.astype(np.int64),
            "last_active": now - pd.to_timedelta(np.round(last_seen_days * 86_400), unit="s"),
            "churned": churned,
        }
    )


def churn_suite() -> Any:
    """The quality suite the quickstart data must pass."""
    import keel.data as kd

    return kd.Suite(
        SUITE,
        description="Customer churn data as the quickstart generates it.",
        checks=[
            kd.schema(
                {
                    "customer_id": "int64",
                    "country": "string",
                    "monthly_charges": "float64",
                    "last_active": "timestamp",
                    "churned": "bool",
                }
            ),
            kd.not_null(["customer_id", "plan", "monthly_charges", "churned"]),
            kd.unique("customer_id"),
            kd.between("tenure_months", 1, 120),
            kd.between("monthly_charges", 0, 500),
            kd.in_set("plan", ["basic", "standard", "premium"]),
            kd.in_set("country", ["DE", "FR", "IT", "ES", "NL"]),
            kd.row_count(min=1_000),
            kd.fresh("last_active", max_age="90d"),
            kd.expression("total_charges >= monthly_charges", name="total covers one month"),
        ],
    )


def data_stage(ctx: QuickstartContext) -> None:
    """Register the generated churn data, validate it and print a short profile."""
    import keel.datasets

    console = ctx.console
    frame = make_churn_frame(seed=ctx.seed)
    ds = keel.datasets.register(
        DATASET, frame, description="Generated customers with a churn label (quickstart)."
    )
    note = " (same content as before: nothing stored)" if ds.reused else ""
    console.print(
        f"[bold]Dataset[/]: registered [bold green]{ds.ref}[/]: {ds.num_rows:,} customers x "
        f"{ds.num_columns} columns, digest {ds.digest[:12]}{note}"
    )
    suite = churn_suite()
    result = suite.validate(ds)
    verdict = "[bold green]passed[/]" if result.passed else "[bold red]FAILED[/]"
    console.print(
        f"[bold]Validation[/]: suite {suite.name!r} v{result.suite_version} {verdict} "
        f"({len(result.checks)} checks, {result.duration_s:.2f}s), recorded as {result.id}"
    )
    for failure in result.failures:
        console.print(f"  [red]FAIL[/] {failure.name}: {failure.message}")
    prof = ds.profile
    table = Table(title=f"Profile of {ds.ref} (excerpt)", title_justify="left")
    for col in ("column", "type", "nulls", "distinct", "min", "max", "mean"):
        table.add_column(col, justify="left" if col in ("column", "type") else "right")
    for c in prof.columns[:6] + [prof["churned"]]:
        table.add_row(
            c.name,
            c.type,
            f"{c.nulls:,}",
            f"{c.distinct:,}" if c.distinct is not None else "-",
            _short(c.min),
            _short(c.max),
            "-" if c.mean is None else f"{c.mean:.4g}",
        )
    console.print(table)
    churn_rate = (prof["churned"].true_count or 0) / max(prof.num_rows, 1)
    console.print(f"Churn rate: {churn_rate:.1%}\n")
    suite_path = ctx_home() / "quickstart" / "churn-suite.yaml"
    suite_path.parent.mkdir(parents=True, exist_ok=True)
    suite.to_yaml(suite_path)
    ctx.results.update(dataset=ds, data_validation=result)
    ctx.look += [
        f"keel data show {ds.ref}",
        f"keel data validate {ds.ref} --suite {suite_path}",
        f"keel data report {ds.ref} -o churn-report.html",
    ]


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text[:16]


def ctx_home() -> Any:
    """The Keel home folder, where the quickstart writes its suite file."""
    from keel.config import get_settings

    return get_settings().home

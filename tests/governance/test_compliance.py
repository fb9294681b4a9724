"""Compliance reports of a model version: every section, offline HTML and Markdown."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import keel.monitoring as km
from keel.cli._app import app
from keel.errors import InvalidArgumentError, NotFoundError
from keel.governance._compliance import compliance_report, render_compliance_report
from keel.registry import gates, models

from ._world import build, frame, gov_env, gov_sqlite  # noqa: F401

pytest.importorskip("sklearn")

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
HOUR = 3_600_000


def _serve_and_monitor(version: int) -> None:
    df = frame(300, seed=1)
    for hour in range(4):
        part = df.iloc[hour * 75 : (hour + 1) * 75][["tenure", "amount"]].copy()
        if hour >= 2:
            part["amount"] = part["amount"] + 400  # the traffic drifts
        start = int(T0.timestamp() * 1000) + hour * HOUR
        km.log_predictions(
            "churn-prod",
            part,
            predictions=np.zeros(len(part), dtype=int),
            timestamps=[start + i * 1000 for i in range(len(part))],
            model_name="churn",
            model_version=version,
        )
    km.create_monitor(
        "churn-prod-drift",
        deployment="churn-prod",
        reference="tx@v1",
        window="1h",
        start=T0,
        checks=[km.data_drift(share=0.3)],
    )
    km.run_monitor("churn-prod-drift", until=int(T0.timestamp() * 1000) + 4 * HOUR)


@pytest.mark.usefixtures("gov_env")
def test_compliance_report_sections(tmp_path: Path) -> None:
    world = build(tmp_path, predictions=False)
    v = world.model_version
    models.update_model(
        "churn", description="Churn risk", intended_use="Rank customers for retention calls."
    )
    models.add_gate("churn", gates.approval())
    models.approve("churn", v, comment="reviewed the validation results")
    models.promote("churn", v, to="champion", reason="first release")
    _serve_and_monitor(v)

    card = compliance_report("churn", v)
    titles = [s.title for s in card.sections]
    for title in (
        "Summary",
        "Intended use",
        "Training run",
        "Training data",
        "Data and its lineage",
        "Data validation",
        "Features",
        "Promotion gates",
        "Approvals",
        "Promotions",
        "Deployments",
        "Monitoring",
        "Alerts",
        "Resources",
        "Audit trail",
    ):
        assert title in titles, title
    assert "Lineage" not in titles  # replaced by the full walk
    md = render_compliance_report(card, "md")
    assert md.startswith(f"# Compliance report: churn v{v}")
    for text in (
        "Rank customers for retention calls.",
        "| tx@v1 | tx-quality@v1 | passed |",
        "churn_features@v1",
        "reviewed the validation results",
        "first release",
        "churn-prod-drift",
        "data_drift",
        "alert.fired",
        "model_version.approve",
        "registered_model.alias_set",
        "The audit chain verifies",
        "(chart in the HTML report)",
    ):
        assert text in md, text
    page = render_compliance_report(card, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page
    # Offline: no external resources (the SVG namespace is an identifier, not a fetch).
    assert re.findall(r"https?://", page.replace('xmlns="http://www.w3.org/2000/svg"', "")) == []
    with pytest.raises(InvalidArgumentError, match=r"'md' or 'html', not 'pdf'"):
        render_compliance_report(card, "pdf")


@pytest.mark.usefixtures("gov_sqlite")
def test_report_command(tmp_path: Path) -> None:
    world = build(tmp_path, predictions=False)
    runner = CliRunner()
    target = tmp_path / "report.html"
    out = runner.invoke(
        app,
        ["report", "compliance", "churn", str(world.model_version), "-o", str(target)],
    )
    assert out.exit_code == 0, out.output
    page = target.read_text()
    assert "Compliance report: churn v1" in page
    assert "No monitor watches a deployment of this version." in page
    out = runner.invoke(app, ["report", "compliance", "churn", "1", "--format", "md"])
    assert out.exit_code == 0, out.output
    assert "## Audit trail" in out.output
    with pytest.raises(NotFoundError):
        compliance_report("churn", 9)
    out = runner.invoke(app, ["report", "compliance", "churn", "9"])
    assert out.exit_code == 1

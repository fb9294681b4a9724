"""Model cards (Markdown and offline HTML) and the ``keel models`` commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import keel
from keel.cli._app import app
from keel.errors import InvalidArgumentError
from keel.registry import gates, models
from keel.tracking import TrackingClient

from .conftest import churn_frame

X, Y = churn_frame(200)


def _setup() -> int:
    from sklearn.linear_model import LogisticRegression

    with keel.start_run(run_name="train <b>bold</b>"):
        keel.log_params({"C": 1.0})
        keel.log_metric("auc", 0.91)
        info = keel.log_model(
            LogisticRegression().fit(X, Y), "model", input_example=X[:3], registered_name="churn"
        )
    models.update_model(
        "churn", intended_use="Rank customers for retention calls. <script>alert(1)</script>"
    )
    models.add_gate("churn", gates.metric("auc", ">=", 0.9))
    models.add_gate("churn", gates.approval())
    models.approve("churn", 1, comment="ok | fine")
    models.promote("churn", 1, to="champion", reason="first release")
    return int(info.version or 0)


def test_model_card_markdown_and_html(client: TrackingClient, tmp_path: Path) -> None:
    version = _setup()
    md = models.model_card("churn", version)
    for text in (
        "# Model card: churn v1",
        "Rank customers for retention calls.",
        "| auc | 0.91 |",
        "| metric:auc>=0.9 | champion | passed | auc = 0.91 >= 0.9 |",
        "| input | tenure | long |",
        "ok \\| fine",
        "first release",
        "The training run records no dataset inputs.",
        "scikit-learn",
    ):
        assert text in md, text
    path = models.write_card("churn", version, tmp_path / "card.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "</html>" in page
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "http://" not in page
    assert "https://" not in page
    assert "train &lt;b&gt;bold&lt;/b&gt;" in page
    assert '<span class="passed">passed</span>' in page
    written = models.write_card("churn", version, tmp_path / "c.md").read_text()
    assert written.splitlines()[:-1] == md.splitlines()[:-1]  # the last line has the time
    with pytest.raises(InvalidArgumentError, match=r"'md' or 'html', not 'pdf'"):
        models.model_card("churn", version, format="pdf")


def test_models_commands(client: TrackingClient, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    _setup()
    with keel.start_run():
        keel.log_metric("auc", 0.5)
        keel.log_model(LogisticRegression(C=0.01).fit(X, Y), registered_name="churn")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=code == 0)
        assert result.exit_code == code, result.output
        return result.output

    assert "churn" in run("models", "ls")
    assert "champion=v1" in run("models", "ls")
    shown = run("models", "show", "churn")
    assert "Versions" in shown
    assert "metric:auc>=0.9" in shown
    assert "first release" in shown
    detail = run("models", "show", "churn", "1")
    assert "Signature" in detail
    assert "tenure" in detail
    assert "compiled" in detail
    # v2 was logged without an input example: no compiled form, and the row says why.
    assert "not compiled" in run("models", "show", "churn", "2")
    assert "Lineage" in detail
    assert "FAILED" in run("models", "check", "churn", "2", "--to", "champion", code=1)
    result = runner.invoke(app, ["models", "promote", "churn", "2", "--to", "champion"])
    assert result.exit_code != 0
    assert "metric:auc>=0.9" in result.output
    assert "Approved churn v2" in run("models", "approve", "churn", "2", "-m", "fine")
    assert "-> v2" in run("models", "alias", "churn", "challenger", "2")
    assert "# Model card: churn v1" in run("models", "card", "churn", "1")
    out = tmp_path / "card.html"
    assert "Model card written" in run(
        "models", "card", "churn", "1", "--format", "html", "-o", str(out)
    )
    assert out.read_text().startswith("<!DOCTYPE html>")

"""``keel prompts``, ``keel eval`` and ``keel traces``, run through the real CLI app."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import keel
from keel.cli import app

from .conftest import FakeLLM

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_prompts_commands(keel_home: Path) -> None:
    keel.prompts.register(
        "support-answer", template="Answer [briefly]: {question}", model_params={"temperature": 0.2}
    )
    keel.prompts.register("support-answer", template="Answer kindly: {question}")
    keel.prompts.set_alias("support-answer", "production", 1, reason="launch")
    result = runner.invoke(app, ["prompts", "ls"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "support-answer" in result.output
    assert "production→1" in result.output
    result = runner.invoke(app, ["prompts", "show", "support-answer@production"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "Answer [briefly]: {question}" in result.output  # not eaten as markup
    assert "launch" in result.output
    result = runner.invoke(app, ["prompts", "diff", "support-answer/1", "support-answer/2"])
    assert result.exit_code == 0, result.output
    assert "+Answer kindly: {question}" in result.output
    result = runner.invoke(app, ["prompts", "show", "support-answr"])
    assert result.exit_code == 1
    assert "Did you mean 'support-answer'" in result.output


def test_eval_run_with_a_python_target_and_an_endpoint(
    support_eval: str, fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_app.py").write_text(
        "def answer(text):\n    return 'Paris' if 'France' in text else 'dunno'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    keel.prompts.register("qa", template="Q: {question}")
    report = tmp_path / "eval.html"
    result = runner.invoke(
        app,
        [
            "eval",
            "run",
            "--data",
            support_eval,
            "--prompt",
            "qa@latest",
            "--target",
            "my_app:answer",
            "--scorer",
            "exact_match",
            "--scorer",
            "regex:^P",
            "--report",
            str(report),
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert "exact_match" in result.output
    assert "0.25" in result.output
    assert report.exists()
    sys.modules.pop("my_app", None)

    fake_llm.answers = {"France": "Paris", "Italy": "Rome"}
    result = runner.invoke(
        app,
        [
            "eval",
            "run",
            "--data",
            support_eval,
            "--prompt",
            "qa/1",
            "--endpoint",
            fake_llm.base_url,
            "--model",
            "tiny",
            "--judge-model",
            "judge",
            "--scorer",
            "exact_match",
            "--scorer",
            "llm_judge:Is it right?",
            "--scorer",
            "token_cost",
        ],
        env=WIDE,
    )
    assert result.exit_code == 0, result.output
    assert "llm_judge" in result.output
    assert "0.75" in result.output  # the judge always says 4 of 1..5
    assert keel.llm.list_evaluations("qa/1", limit=5)[0].record.target == (
        f"tiny@{fake_llm.base_url}"
    )
    result = runner.invoke(
        app,
        ["eval", "run", "--data", support_eval, "--scorer", "bleu", "--target", "my_app:answer"],
    )
    assert result.exit_code == 1
    assert "Unknown scorer 'bleu'" in result.output


def test_traces_commands(keel_home: Path) -> None:
    with keel.trace("answer", inputs={"q": "[x] where?"}, deployment="bot") as t:
        with t.span("retrieval") as s:
            s.set_output(["doc [1]"])
        with t.span("llm", kind="llm") as s:
            s.set_usage(prompt_tokens=12, completion_tokens=3, cost=0.002)
            s.error = "RateLimitError: [429] slow down"
    result = runner.invoke(app, ["traces", "ls"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert t.trace_id[:8] in result.output
    assert "bot" in result.output
    assert "15" in result.output  # tokens
    result = runner.invoke(app, ["traces", "show", t.trace_id[:8]], env=WIDE)
    assert result.exit_code == 0, result.output
    for text in (
        "retrieval",
        "llm",
        "doc [1]",
        "[x] where?",
        "RateLimitError: [429] slow down",
        "tokens prompt 12 / completion 3",
        "cost 0.002",
    ):
        assert text in result.output
    result = runner.invoke(app, ["traces", "show", "nope"])
    assert result.exit_code == 1
    assert "No trace with id 'nope'" in result.output

"""``keel.evaluate`` against a local callable and an OpenAI-compatible endpoint on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import keel
from keel.errors import InvalidArgumentError
from keel.llm import Completion, EndpointError

from .conftest import FakeLLM

ANSWERS = {"France": "Paris", "Italy": "Rome", "two plus two": "4", "sky": "grey"}


def all_scorers(judge: Any) -> list[Any]:
    s = keel.scorers
    return [
        s.exact_match(),
        s.regex(r"^[A-Z]"),
        s.json_valid(),
        s.semantic_similarity(embedder="hashing"),
        s.latency(),
        s.token_cost(prompt_price=1.0, completion_price=2.0, per=1000),
        s.llm_judge("Is the answer correct?", judge=judge),
    ]


def test_a_callable_target_scored_by_every_scorer(support_eval: str) -> None:
    prompt = keel.prompts.register("support-answer", template="Answer briefly: {question}")
    calls: list[str] = []
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def app(text: str) -> Completion:
        with lock:
            calls.append(text)
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        answer = next((v for k, v in ANSWERS.items() if k in text), "?")
        return Completion(answer, {"prompt_tokens": 5, "completion_tokens": 1})

    result = keel.evaluate(
        app,
        support_eval,
        all_scorers(lambda p: '{"score": 5}' if "Paris" in p else "Score: 1"),
        prompt="support-answer",
        max_concurrency=2,
    )
    assert sorted(calls) == sorted(
        f"Answer briefly: {q}"
        for q in ["capital of France", "capital of Italy", "two plus two", "sky colour"]
    )
    assert most[0] <= 2
    assert result.prompt == "support-answer/1"
    rows = result.rows
    assert list(rows["output"]) == ["Paris", "Rome", "4", "grey"]
    assert list(rows["exact_match"]) == [1.0, 1.0, 1.0, 0.0]
    assert list(rows["regex"]) == [1.0, 1.0, 0.0, 0.0]
    assert list(rows["json_valid"]) == [0.0, 0.0, 1.0, 0.0]
    assert rows["semantic_similarity"][0] == pytest.approx(1.0)
    assert (rows["latency"] >= 20).all()
    assert list(rows["token_cost"]) == [pytest.approx(0.007)] * 4
    assert list(rows["llm_judge"]) == [1.0, 0.0, 0.0, 0.0]
    s = result.summary
    assert (s["num_rows"], s["num_errors"], s["error_rate"]) == (4, 0, 0.0)
    assert s["scores"]["exact_match"] == 0.75
    assert s["tokens"] == {"prompt": 20, "completion": 4}
    assert prompt.digest  # the evaluation is tied to the version, data and run
    assert result.record.data_ref == "support-eval@v1"

    run = keel.get_run(result.run_id or "")
    assert run.data.params["prompt"] == "support-answer/1"
    assert run.data.params["data"] == "support-eval@v1"
    assert run.data.metrics["score.exact_match"] == 0.75
    paths = {a.path for a in keel.list_artifacts(run.info.run_id, "evaluation")}
    assert paths == {"evaluation/rows.parquet", "evaluation/summary.json"}
    assert run.data.tags["llm.evaluation_id"] == result.id
    again = keel.llm.get_evaluation(result.id[:8])
    assert list(again.rows["output"]) == ["Paris", "Rome", "4", "grey"]


def test_an_endpoint_target_with_usage_caching_and_a_judge_endpoint(
    support_eval: str, fake_llm: FakeLLM
) -> None:
    fake_llm.answers = ANSWERS
    keel.prompts.register("qa", template="Q: {question}", model_params={"temperature": 0.1})
    target = keel.llm.endpoint(fake_llm.base_url, "tiny-model", timeout=5)
    judge = keel.llm.endpoint(fake_llm.base_url, "judge-model", timeout=5)
    first = keel.evaluate(target, support_eval, all_scorers(judge), prompt="qa@latest")
    assert list(first.rows["output"]) == ["Paris", "Rome", "4", "grey"]
    assert list(first.rows["prompt_tokens"]) == [4, 4, 4, 3]  # from the endpoint's usage
    assert list(first.rows["completion_tokens"]) == [1, 1, 1, 1]
    assert list(first.rows["llm_judge"]) == [0.75] * 4
    model_calls = [r for r in fake_llm.requests if r["model"] == "tiny-model"]
    assert len(model_calls) == 4
    assert all(r["temperature"] == 0.1 for r in model_calls)  # the prompt's model_params
    assert not first.rows["cached"].any()

    second = keel.evaluate(target, support_eval, [keel.scorers.exact_match()], prompt="qa/1")
    assert len([r for r in fake_llm.requests if r["model"] == "tiny-model"]) == 4  # all cached
    assert second.rows["cached"].all()
    assert second.summary["num_cached"] == 4
    assert second.scores == {"exact_match": 0.75}
    assert list(second.rows["prompt_tokens"]) == [4, 4, 4, 3]

    keel.evaluate(target, support_eval, [], prompt="qa/1", cache=False)
    assert len([r for r in fake_llm.requests if r["model"] == "tiny-model"]) == 8
    keel.prompts.register("qa", template="Question: {question}")
    keel.evaluate(target, support_eval, [], prompt="qa/2")  # a new version: new calls
    assert len([r for r in fake_llm.requests if r["model"] == "tiny-model"]) == 12


def test_timeouts_and_malformed_json_become_error_rows(fake_llm: FakeLLM, keel_home: Path) -> None:
    fake_llm.answers = {"hello": "hi"}
    fake_llm.slow_seconds = 1.0
    target = keel.llm.endpoint(fake_llm.base_url, "m", timeout=0.3)
    data = [
        {"input": "hello", "reference": "hi"},
        {"input": "SLOW hello", "reference": "hi"},
        {"input": "BROKEN hello", "reference": "hi"},
        {"input": "FLAKY hello", "reference": "hi"},
    ]
    result = keel.evaluate(
        target, data, [keel.scorers.exact_match()], retries=2, backoff=0.01, max_concurrency=4
    )
    rows = result.rows.set_index("input")
    assert pd.isna(rows.loc["hello", "error"])
    assert "did not answer within 0.3 s" in rows.loc["SLOW hello", "error"]
    assert "malformed JSON" in rows.loc["BROKEN hello", "error"]
    assert pd.isna(rows.loc["FLAKY hello", "error"])  # failed once, then answered
    assert rows.loc["FLAKY hello", "attempts"] == 2
    assert fake_llm.calls_with("SLOW") == 3  # one try and two retries
    assert fake_llm.calls_with("BROKEN") == 3
    assert rows.loc["SLOW hello", "attempts"] == 3
    assert result.summary["num_errors"] == 2
    assert result.summary["error_rate"] == 0.5
    assert result.scores == {"exact_match": 1.0}  # over the rows that answered
    assert keel.get_run(result.run_id or "").info.status.value == "FINISHED"


def test_a_failing_callable_and_a_failing_scorer_do_not_stop_the_evaluation(
    keel_home: Path,
) -> None:
    def app(text: str) -> str:
        if "bad" in text:
            raise ConnectionError("reset by peer")
        if "hang" in text:
            time.sleep(2)
        return text.upper()

    def judge(prompt: str) -> str:
        raise RuntimeError("judge down")

    data = [{"input": "good"}, {"input": "bad"}, {"input": "hang"}]
    result = keel.evaluate(
        app,
        data,
        [keel.scorers.json_valid(), keel.scorers.llm_judge("r", judge=judge, retries=0)],
        retries=1,
        backoff=0,
        timeout=0.2,
    )
    rows = result.rows
    assert rows["output"][0] == "GOOD"
    assert rows["output"][1:].isna().all()
    assert rows["error"][1] == "ConnectionError: reset by peer"
    assert "did not answer within 0.2 s" in rows["error"][2]
    assert "judge down" in rows["llm_judge_error"][0]
    assert result.scores == {"json_valid": 0.0, "llm_judge": None}


def test_bad_arguments_are_refused_before_any_call(keel_home: Path) -> None:
    keel.prompts.register("p", template="Say {greeting} to {name}")
    calls: list[str] = []
    with pytest.raises(InvalidArgumentError, match="needs variable\\(s\\) 'name'"):
        keel.evaluate(calls.append, [{"greeting": "hi"}], prompt="p")
    with pytest.raises(InvalidArgumentError, match="'input' column"):
        keel.evaluate(calls.append, [{"text": "hi"}])
    with pytest.raises(InvalidArgumentError, match="share a name"):
        keel.evaluate(
            calls.append, [{"input": "x"}], [keel.scorers.regex("a"), keel.scorers.regex("b")]
        )
    with pytest.raises(InvalidArgumentError, match="target is a callable"):
        keel.evaluate("gpt-4", [{"input": "x"}])  # type: ignore[arg-type]
    assert calls == []
    with pytest.raises(EndpointError, match="Cannot reach"):
        keel.llm.endpoint("http://127.0.0.1:9/v1", "m", timeout=1)("hi")


def test_the_html_report_compares_with_the_last_evaluation(keel_home: Path, tmp_path: Path) -> None:
    keel.prompts.register("p", template="{input}")
    data = [{"input": "a", "reference": "A"}, {"input": "b", "reference": "B"}]
    first = keel.evaluate(
        lambda t: t.upper() if t == "a" else "?", data, [keel.scorers.exact_match()], prompt="p"
    )
    assert first.previous() is None
    second = keel.evaluate(str.upper, data, [keel.scorers.exact_match()], prompt="p", cache=False)
    assert second.previous() is not None
    assert second.previous().id == first.id  # type: ignore[union-attr]
    path = tmp_path / "eval.html"
    text = second.to_html(str(path))
    assert path.read_text() == text
    assert "<svg" in text
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # offline
    assert f"previous (p/1, {first.id[:8]})" in text
    assert "+0.5" in text  # exact_match went from 0.5 to 1.0
    assert '<td class="text">A</td>' in text


def test_different_python_targets_do_not_share_cached_answers(keel_home: Path) -> None:
    data = [{"input": "a", "reference": "A"}]
    first = keel.evaluate(lambda t: t.upper(), data, [keel.scorers.exact_match()])
    second = keel.evaluate(lambda t: t * 2, data, [keel.scorers.exact_match()])
    assert not second.rows["cached"].any()
    assert (first.scores["exact_match"], second.scores["exact_match"]) == (1.0, 0.0)
    third = keel.evaluate(str.upper, data, [keel.scorers.exact_match()])
    again = keel.evaluate(str.upper, data, [keel.scorers.exact_match()])
    assert not third.rows["cached"].any()
    assert again.rows["cached"].all()


def test_data_may_be_a_dataset_version_object(support_eval: str) -> None:
    version = keel.datasets.get(support_eval)
    result = keel.evaluate(lambda t: "?", version, [], input_column="question")
    assert result.record.data_ref == support_eval
    assert result.record.data_digest == version.digest
    assert result.summary["num_rows"] == 4

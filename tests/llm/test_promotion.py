"""Promotion of a prompt version is gated on evaluations of the same evaluation set."""

from __future__ import annotations

from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError, InvalidStateError, ValidationFailedError
from keel.llm._client import get_llm_client

from .conftest import FakeLLM

ANSWERS = {"France": "Paris", "Italy": "Rome", "two plus two": "4", "sky": "blue"}


def model(text: str) -> str:
    """A fake model that answers well only when the prompt asks it to be precise."""
    if "precise" not in text:
        return "not sure"
    return next((v for k, v in ANSWERS.items() if k in text), "?")


def test_promotion_is_gated_on_the_same_evaluation_set(keel_env: Any, support_eval: str) -> None:
    scorers = [keel.scorers.exact_match(), keel.scorers.latency()]
    keel.prompts.register("qa", template="Be precise: {question}")
    keel.prompts.register("qa", template="Chat about: {question}")
    keel.prompts.register("qa", template="Be precise and short: {question}")
    e1 = keel.evaluate(model, support_eval, scorers, prompt="qa/1")
    e2 = keel.evaluate(model, support_eval, scorers, prompt="qa/2")
    e3 = keel.evaluate(model, support_eval, scorers, prompt="qa/3")
    assert (e1.scores["exact_match"], e2.scores["exact_match"]) == (1.0, 0.0)

    first = keel.prompts.promote("qa", 1, to="production", evaluation=e1)  # nothing to beat
    assert (first.from_version, first.to_version) == (None, 1)

    with pytest.raises(ValidationFailedError, match=r"exact_match 0\.0 vs 1\.0") as info:
        keel.prompts.promote("qa", 2, to="production", evaluation=e2)
    assert "'production' still points at 1" in str(info.value)
    assert keel.prompts.get("qa@production").version == 1

    with pytest.raises(InvalidArgumentError, match="is of prompt 'qa/1', not qa/3"):
        keel.prompts.promote("qa", 3, to="production", evaluation=e1)

    move = keel.prompts.promote("qa", 3, to="production", evaluation=e3.id, reason="tie is ok")
    assert keel.prompts.get("qa@production").version == 3
    assert move.evaluation_id == e3.id
    assert move.details["baseline_evaluation"] == e1.id
    assert move.details["comparison"]["exact_match"]["passed"] is True
    assert "latency" not in move.details["comparison"]  # operational scorers are not gated
    history = keel.prompts.alias_history("qa", "production")
    assert [(m.action, m.to_version, m.evaluation_id) for m in history] == [
        ("promote", 1, e1.id),
        ("promote", 3, e3.id),
    ]

    store = get_llm_client().store
    edges = store.list_lineage_edges(("prompt_version", "qa/3"), "upstream")
    assert ("llm_evaluation", e3.id, "justified") in {
        (e.source_kind, e.source_id, e.relation) for e in edges
    }
    assert ("llm_evaluation", e3.id, "evaluated") in {
        (e.target_kind, e.target_id, e.relation)
        for e in store.list_lineage_edges(("prompt_version", "qa/3"), "downstream")
    }
    promoted = [e for e in store.list_audit_events() if e.action == "prompt.alias.promote"]
    assert [e.details["to_version"] for e in promoted] == [1, 3]
    assert promoted[-1].details["evaluation_id"] == e3.id


def test_a_current_version_without_an_evaluation_on_the_set_blocks_promotion(
    keel_home: Any, support_eval: str
) -> None:
    keel.prompts.register("qa", template="Be precise: {question}")
    keel.prompts.register("qa", template="Be precise, please: {question}")
    keel.prompts.set_alias("qa", "production", 1)  # moved by hand, never evaluated
    other_set = [{"question": "capital of France", "reference": "Paris"}]
    candidate = keel.evaluate(model, other_set, [keel.scorers.exact_match()], prompt="qa/2")
    with pytest.raises(InvalidStateError, match="qa/1 has no evaluation on the same set"):
        keel.prompts.promote("qa", 2, evaluation=candidate)
    keel.evaluate(model, other_set, [keel.scorers.exact_match()], prompt="qa/1")
    keel.prompts.promote("qa", 2, evaluation=candidate)
    assert keel.prompts.get("qa@production").version == 2


def test_lower_is_better_metrics_and_error_rates_are_compared(keel_home: Any) -> None:
    keel.prompts.register("qa", template="{input}")
    keel.prompts.register("qa", template="Please: {input}")
    data = [{"input": "a"}, {"input": "b"}]
    cheap = keel.scorers.token_cost(prompt_price=1, completion_price=1, per=1)
    e1 = keel.evaluate(lambda t: "x", data, [cheap], prompt="qa/1")
    keel.prompts.promote("qa", 1, evaluation=e1)
    e2 = keel.evaluate(lambda t: "x" * 400, data, [cheap], prompt="qa/2")
    with pytest.raises(ValidationFailedError, match="token_cost"):
        keel.prompts.promote("qa", 2, evaluation=e2, metrics=["token_cost"])
    with pytest.raises(InvalidArgumentError, match="not in both evaluations"):
        keel.prompts.promote("qa", 2, evaluation=e2, metrics=["exact_match"])

    def flaky(text: str) -> str:
        if text.endswith("b"):
            raise RuntimeError("down")
        return "x"

    keel.prompts.register("qa", template="Kindly: {input}")
    e3 = keel.evaluate(flaky, data, [cheap], prompt="qa/3", retries=0)
    with pytest.raises(ValidationFailedError, match="error_rate 0.5 vs 0.0"):
        keel.prompts.promote("qa", 3, evaluation=e3)


def test_promotion_of_prompts_served_by_an_endpoint(support_eval: str, fake_llm: FakeLLM) -> None:
    fake_llm.answers = {
        "Be precise: capital of France": "Paris",
        "Be precise: capital of Italy": "Rome",
        "Be precise: two plus two": "4",
        "Be precise: sky": "blue",
    }
    llm = keel.llm.endpoint(fake_llm.base_url, "tiny")
    scorers = [keel.scorers.exact_match(), keel.scorers.semantic_similarity(embedder="hashing")]
    keel.prompts.register("qa", template="Be precise: {question}")
    keel.prompts.register("qa", template="Tell me: {question}")
    good = keel.evaluate(llm, support_eval, scorers, prompt="qa/1")
    keel.prompts.promote("qa", 1, evaluation=good)
    bad = keel.evaluate(llm, support_eval, scorers, prompt="qa/2")
    with pytest.raises(ValidationFailedError, match="semantic_similarity"):
        keel.prompts.promote("qa", 2, evaluation=bad)
    assert keel.prompts.get("qa@production").version == 1

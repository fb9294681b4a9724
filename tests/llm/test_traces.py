"""Traces: nested spans recorded and shown, stored as segments, and monitored like predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError, NotFoundError
from keel.llm import Completion
from keel.llm._client import get_llm_client

from .conftest import FakeLLM


def answer(question: str, *, deployment: str = "support-bot", fail: bool = False) -> str:
    """A small RAG app instrumented with keel.trace."""
    prompt = keel.prompts.get("support-answer@production")
    with keel.trace(
        "answer",
        inputs={"question": question},
        deployment=deployment,
        prompt=prompt,
        prices={"prompt": 1.0, "completion": 2.0, "per": 1000},
    ) as t:
        with t.span("retrieval", kind="retriever", inputs=question) as s:
            docs = [f"doc about {question}"]
            s.set_output(docs)
        with t.span("llm", kind="llm") as s:
            text = prompt.format(question=question, context=docs[0])
            s.set_inputs(text)
            if fail:
                raise TimeoutError("model timed out")
            s.set_output(Completion("Here you go.", {"prompt_tokens": 30, "completion_tokens": 4}))
        with t.span("postprocess") as s:
            s.set_output("Here you go!")
        t.set_output("Here you go!")
        t.set_score("helpfulness", 0.9)
    return "Here you go!"


@pytest.fixture
def production_prompt(keel_home: Path) -> None:
    keel.prompts.register("support-answer", template="Q: {question}\nContext: {context}")
    keel.prompts.set_alias("support-answer", "production", 1)


def test_traces_are_recorded_with_nested_spans(production_prompt: None) -> None:
    answer("where is my order?")
    with pytest.raises(TimeoutError):
        answer("refund please", fail=True)
    traces = keel.llm.list_traces("support-bot")
    assert len(traces) == 2
    ok, failed = traces.iloc[1], traces.iloc[0]  # newest first
    assert ok["prompt"] == "support-answer/1"
    assert ok["num_spans"] == 4
    assert (ok["prompt_tokens"], ok["completion_tokens"]) == (30, 4)
    assert ok["cost"] == pytest.approx((30 * 1.0 + 4 * 2.0) / 1000)
    assert json.loads(ok["inputs"]) == {"question": "where is my order?"}
    assert json.loads(ok["scores"]) == {"helpfulness": 0.9}
    assert ok["error"] is None
    assert failed["error"] == "TimeoutError: model timed out"

    spans = keel.llm.get_trace(failed["trace_id"][:10])
    assert list(spans["name"]) == ["answer", "retrieval", "llm"]
    assert spans["parent_id"][1] == spans["trace_id"][0]
    assert spans["error"][2] == "TimeoutError: model timed out"
    assert (spans["latency_ms"] >= 0).all()
    assert spans["latency_ms"][0] >= spans["latency_ms"][1]

    with keel.trace("nested") as t, t.span("outer") as outer, t.span("inner"), outer.span("x"):
        pass
    tree = keel.llm.get_trace(t.trace_id).set_index("name")
    assert tree.loc["inner", "parent_id"] == tree.loc["outer", "span_id"]
    assert tree.loc["x", "parent_id"] == tree.loc["outer", "span_id"]
    with pytest.raises(NotFoundError, match="No trace with id 'zzz'"):
        keel.llm.get_trace("zzz")


def test_handled_span_failures_and_the_current_trace(production_prompt: None) -> None:
    def rerank(docs: list[str]) -> list[str]:
        t = keel.llm.current_trace()
        assert t is not None
        with t.span("rerank"):
            return sorted(docs)

    assert keel.llm.current_trace() is None
    with keel.trace("answer", prompt="support-answer@production") as t:
        try:
            with t.span("primary-model"):
                raise ConnectionError("model down")
        except ConnectionError:
            with t.span("fallback-model") as s:
                s.set_output("ok")
        rerank(["b", "a"])
    assert keel.llm.current_trace() is None
    spans = keel.llm.get_trace(t.trace_id).set_index("name")
    assert spans.loc["answer", "error"] is None  # handled: the request succeeded
    assert spans.loc["answer", "prompt"] == "support-answer/1"  # the alias, resolved
    assert spans.loc["primary-model", "error"] == "ConnectionError: model down"
    assert spans.loc["rerank", "parent_id"] == t.trace_id


def test_traces_are_written_in_segments_linked_to_prompt_and_deployment(keel_env: Any) -> None:
    keel.prompts.register("support-answer", template="Q: {question}\nContext: {context}")
    keel.prompts.set_alias("support-answer", "production", 1)
    keel.llm.set_trace_flush_size(3)
    for i in range(7):
        answer(f"question {i}", deployment="bot-a" if i % 2 else "bot-b")
    repo = get_llm_client().repo
    assert len(repo.list_trace_segments()) == 4  # two flushes of 3, split by deployment
    assert keel.llm.flush_traces() > 0  # the seventh
    segments = repo.list_trace_segments()
    assert sum(s.num_traces for s in segments) == 7
    assert {s.deployment for s in segments} == {"bot-a", "bot-b"}
    assert all(s.prompts == ["support-answer/1"] for s in segments)
    store = get_llm_client().store
    edges = store.list_lineage_edges(("prompt_version", "support-answer/1"), "downstream")
    assert {e.target_kind for e in edges} == {"trace_batch"}
    assert len(keel.llm.list_traces("bot-a")) == 3
    assert len(keel.llm.list_traces(name="answer", limit=None)) == 7
    assert [e.action for e in store.list_audit_events()].count("traces.append") == len(segments)


def test_traces_are_monitored_like_predictions(production_prompt: None) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    topics_before = ["password reset", "login help", "account locked"]
    topics_after = ["invoice vat number", "billing refund euros", "tax receipt pdf"]
    rows = []
    for i in range(120):
        drifted = i >= 60
        topic = (topics_after if drifted else topics_before)[i % 3]
        rows.append(
            {
                "trace_id": f"t{i}",
                "name": "answer",
                "deployment": "support-bot",
                "prompt": "support-answer/1",
                "start_ms": i,
                "latency_ms": float(rng.normal(900 if drifted else 300, 30)),
                "inputs": json.dumps({"question": f"{topic} {i}"}),
                "outputs": '"ok"',
                "prompt_tokens": 30,
                "completion_tokens": 5,
                "cost": 0.001,
                "error": "TimeoutError: x" if drifted and i % 4 == 0 else None,
                "scores": json.dumps({"helpfulness": float(rng.uniform(0.8, 1.0))}),
            }
        )
    frame = pd.DataFrame(rows)
    report = keel.llm.monitor_traces(
        reference=frame[:60],
        current=frame[60:],
        embedder="hashing",
        max_error_rate=0.1,
        max_latency_p95_ms=500,
    )
    assert report.drifted
    assert report.drift is not None
    assert "latency_ms" in report.drift.drifted_features
    assert "score.helpfulness" not in report.drift.drifted_features
    assert report.embedding_drift["drifted"] is True
    assert report.embedding_drift["embedder"] == "hashing-256"
    assert report.current["error_rate"] == 0.25
    assert report.reference["error_rate"] == 0.0
    assert any("error rate 25.0%" in a for a in report.alerts)
    assert any("latency p95" in a for a in report.alerts)
    same = keel.llm.monitor_traces(reference=frame[:30], current=frame[30:60], embedder="hashing")
    assert not same.embedding_drift["drifted"]
    assert same.alerts == []
    assert json.dumps(report.to_dict())


def test_monitoring_reads_windows_of_stored_traces(production_prompt: None) -> None:
    for i in range(8):
        answer(f"where is order {i}")
    traces = keel.llm.list_traces("support-bot", limit=None)
    middle = int(traces["start_ms"].median())
    report = keel.llm.monitor_traces(
        "support-bot", reference=(0, middle), current=(middle, 2**62), embedder="hashing"
    )
    assert report.reference["num_traces"] + report.current["num_traces"] == 8
    assert report.current["cost"]["mean"] == pytest.approx(0.038)
    assert keel.llm.trace_metrics(traces)["tokens"] == {"prompt": 240, "completion": 32}
    with pytest.raises(InvalidArgumentError, match="reference window holds no traces"):
        keel.llm.monitor_traces("support-bot", reference=(0, 1), current=(0, 2**62))


def test_an_endpoint_call_inside_a_trace(production_prompt: None, fake_llm: FakeLLM) -> None:
    fake_llm.answers = {"order": "It shipped."}
    llm = keel.llm.endpoint(fake_llm.base_url, "tiny")
    with keel.trace("answer", deployment="bot") as t, t.span("llm", kind="llm") as s:
        s.set_output(llm("where is my order"))
    row = keel.llm.list_traces("bot").iloc[0]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (4, 2)
    assert json.loads(keel.llm.get_trace(t.trace_id)["outputs"][1]) == "It shipped."

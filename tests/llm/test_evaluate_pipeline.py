"""``keel.evaluate`` as a Keel pipeline: shards as steps, same results as in-process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import keel
from keel.errors import InvalidArgumentError
from keel.llm import Completion

from .conftest import FakeLLM

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

QUESTIONS = [
    f"question {i} about {topic}" for i, topic in enumerate(["France", "Italy", "sky"] * 4)
]
ANSWERS = {"France": "Paris", "Italy": "Rome", "sky": "grey"}
ROWS = [{"question": q, "reference": "Paris" if "France" in q else "blue"} for q in QUESTIONS]

CALLS: list[str] = []
_calls_lock = threading.Lock()


def answer(text: str) -> Completion:
    """A module-level target: picklable by reference, so process and Ray workers can run it."""
    with _calls_lock:
        CALLS.append(text)
    reply = next((v for k, v in ANSWERS.items() if k in text), "?")
    return Completion(reply, {"prompt_tokens": len(text.split()), "completion_tokens": 1})


@pytest.fixture(autouse=True)
def _no_calls_yet() -> Iterator[None]:
    CALLS.clear()
    yield
    CALLS.clear()


def scorers() -> list[Any]:
    s = keel.scorers
    return [
        s.exact_match(),
        s.regex(r"^[A-Z]"),
        s.semantic_similarity(embedder="hashing"),
        s.token_cost(prompt_price=1.0, completion_price=2.0, per=1000),
    ]


def stable(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without what legitimately differs between two runs (timings, cache use)."""
    return {k: v for k, v in summary.items() if k not in ("latency_ms", "num_cached")}


def same_rows(a: Any, b: Any) -> None:
    columns = ["row", "question", "prompt_input", "output", "error", "exact_match", "regex"]
    assert a.rows[columns].equals(b.rows[columns])
    assert list(a.rows.columns) == list(b.rows.columns)


def test_a_sharded_evaluation_matches_the_in_process_one(keel_home: Path) -> None:
    keel.prompts.register("qa", template="Answer: {question}")
    local = keel.evaluate(answer, ROWS, scorers(), prompt="qa", cache=False)
    assert local.pipeline_run_id is None
    seen: list[tuple[int, int]] = []
    sharded = keel.evaluate(
        answer,
        ROWS,
        scorers(),
        prompt="qa",
        cache=False,
        shard_size=5,
        progress=lambda d, n: seen.append((d, n)),
    )
    assert stable(sharded.summary) == stable(local.summary)
    assert sharded.summary["num_rows"] == 12
    same_rows(sharded, local)
    assert seen[-1] == (12, 12)
    assert "Answer: question 0 about France" in sharded.to_html()

    # The shards are steps of a pipeline run that is a child of the evaluation's run.
    run = keel.pipelines.get_run(sharded.pipeline_run_id or "")
    assert run.status == "FINISHED"
    assert list(run.steps) == ["shard_0", "shard_1", "shard_2", "merge"]
    assert run.executor == "inline"
    from keel.llm._client import get_llm_client

    store = get_llm_client().store
    assert store.get_run(run.id).info.parent_run_id == sharded.run_id
    edges = store.list_lineage_edges(("run", run.id), "downstream")
    assert {(e.target_kind, e.target_id, e.relation) for e in edges} >= {
        ("run", sharded.run_id, "part_of"),
        ("llm_evaluation", sharded.id, "computed"),
    }
    assert keel.llm.get_evaluation(sharded.id).pipeline_run_id == run.id


def test_a_rerun_of_a_sharded_evaluation_hits_the_call_cache(keel_home: Path) -> None:
    first = keel.evaluate(answer, ROWS, scorers(), input_column="question", executor="inline")
    assert len(CALLS) == 12
    assert first.summary["num_cached"] == 0
    again = keel.evaluate(answer, ROWS, scorers(), input_column="question", shard_size=4)
    assert len(CALLS) == 12  # no new call
    assert again.summary["num_cached"] == 12
    assert again.rows["cached"].all()
    assert stable(again.summary) == stable(first.summary)


def test_large_evaluations_become_pipelines_on_their_own(
    keel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.llm import _evaluate

    monkeypatch.setattr(_evaluate, "PIPELINE_THRESHOLD", 5)
    monkeypatch.setattr(_evaluate, "DEFAULT_SHARD_SIZE", 6)
    result = keel.evaluate(answer, ROWS, scorers(), input_column="question")
    run = keel.pipelines.get_run(result.pipeline_run_id or "")
    assert list(run.steps) == ["shard_0", "shard_1", "merge"]


def test_a_local_callable_that_cannot_be_pickled_gets_a_clear_error(keel_home: Path) -> None:
    lock = threading.Lock()

    def app(text: str) -> str:
        with lock:
            return "x"

    # Inline, nothing is pickled: any callable works.
    assert (
        keel.evaluate(app, ROWS[:2], input_column="question", shard_size=1).summary["num_errors"]
        == 0
    )
    with pytest.raises(InvalidArgumentError, match=r"executor='process'.*cannot be pickled"):
        keel.evaluate(app, ROWS[:2], input_column="question", executor="process")
    with pytest.raises(InvalidArgumentError, match=r"Unknown executor 'proces'"):
        keel.evaluate(app, ROWS[:2], input_column="question", executor="proces")
    with pytest.raises(InvalidArgumentError, match=r"shard_size is a positive number"):
        keel.evaluate(app, ROWS[:2], input_column="question", shard_size=0)
    assert len(keel.llm.list_evaluations()) == 1  # only the inline one was recorded


@pytest.mark.slow
def test_the_process_executor_runs_shards_in_workers(fake_llm: FakeLLM, keel_home: Path) -> None:
    fake_llm.answers = ANSWERS
    target = keel.llm.endpoint(fake_llm.base_url, "tiny-model", timeout=5)
    local = keel.evaluate(target, ROWS, scorers(), input_column="question", cache=False)
    calls = len(fake_llm.requests)
    sharded = keel.evaluate(
        target, ROWS, scorers(), input_column="question", executor="process", shard_size=6
    )
    assert len(fake_llm.requests) == calls + 12
    assert stable(sharded.summary) == stable(local.summary)
    same_rows(sharded, local)
    run = keel.pipelines.get_run(sharded.pipeline_run_id or "")
    assert run.executor == "process"
    assert os.getpid() not in {s.record.pid for s in run.steps.values()}
    # The workers wrote the per-call cache in the same store: a re-run sends nothing.
    again = keel.evaluate(
        target, ROWS, scorers(), input_column="question", executor="process", shard_size=6
    )
    assert len(fake_llm.requests) == calls + 12
    assert again.summary["num_cached"] == 12

    # A module-level function target in worker processes: the same summary as in-process.
    by_function = keel.evaluate(
        answer, ROWS, scorers(), input_column="question", executor="process", shard_size=6
    )
    assert stable(by_function.summary) == stable(
        keel.evaluate(answer, ROWS, scorers(), input_column="question", cache=False).summary
    )


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray for this module (reused if a Ray is already up; stopped only if ours)."""
    try:
        import ray
    except ImportError:
        message = "Ray is not available: ray is not installed (pip install 'keel[ray]')"
        if IN_CI:
            pytest.fail(f"{message} (CI=true, so backend tests may not skip)")
        pytest.skip(message)
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
def test_the_ray_executor_runs_shards_on_ray(
    fake_llm: FakeLLM, keel_home: Path, ray_local: Any
) -> None:
    fake_llm.answers = ANSWERS
    target = keel.llm.endpoint(fake_llm.base_url, "tiny-model", timeout=5)
    local = keel.evaluate(target, ROWS, scorers(), input_column="question", cache=False)
    sharded = keel.evaluate(
        target, ROWS, scorers(), input_column="question", executor="ray", shard_size=6
    )
    assert stable(sharded.summary) == stable(local.summary)
    same_rows(sharded, local)
    run = keel.pipelines.get_run(sharded.pipeline_run_id or "")
    assert run.executor == "ray"
    assert list(run.steps) == ["shard_0", "shard_1", "merge"]
    by_function = keel.evaluate(
        answer, ROWS, scorers(), input_column="question", executor="ray", shard_size=6
    )
    assert by_function.summary["scores"]["exact_match"] == pytest.approx(4 / 12)


def test_a_pickled_endpoint_leaves_its_key_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ep = keel.llm.endpoint("http://127.0.0.1:9/v1", "m", api_key="sk-secret")
    data = pickle.dumps(ep)
    assert b"sk-secret" not in data
    monkeypatch.setenv("OPENAI_API_KEY", "sk-worker")
    copy = pickle.loads(data)
    assert copy.identity == ep.identity
    assert copy._api_key == "sk-worker"

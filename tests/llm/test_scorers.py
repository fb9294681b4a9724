"""Every scorer on hand-made rows, the judge's score parser, and the embedding backends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest

import keel
from keel.errors import InvalidArgumentError
from keel.llm import HashingEmbedder
from keel.scorers import ScoreContext, parse_judge_score


def ctx(output: str, reference: object = None, **kw: object) -> ScoreContext:
    return ScoreContext(
        input=str(kw.pop("input", "question")), output=output, reference=reference, **kw
    )  # type: ignore[arg-type]


def test_exact_match() -> None:
    s = keel.scorers.exact_match()
    assert s.score(ctx(" Paris\n", "Paris")) == 1.0
    assert s.score(ctx("paris", "Paris")) == 0.0
    assert keel.scorers.exact_match(ignore_case=True).score(ctx("paris", "Paris")) == 1.0
    assert s.score(ctx("Paris", None)) is None
    assert s.score(ctx("Paris", float("nan"))) is None


def test_regex_and_json_valid() -> None:
    r = keel.scorers.regex(r"^\{.*\}$")
    assert r.score(ctx('{"a": 1}')) == 1.0
    assert r.score(ctx('here: {"a": 1}')) == 0.0
    assert r.spec()["pattern"] == r"^\{.*\}$"
    with pytest.raises(InvalidArgumentError, match="does not compile"):
        keel.scorers.regex("(")
    j = keel.scorers.json_valid()
    assert j.score(ctx('{"a": [1, 2]}')) == 1.0
    assert j.score(ctx("{'a': 1}")) == 0.0


def test_latency_and_token_cost() -> None:
    lat = keel.scorers.latency()
    assert lat.score(ctx("x", latency_ms=12.5)) == 12.5
    assert lat.higher_is_better is False
    cost = keel.scorers.token_cost(prompt_price=1.0, completion_price=2.0, per=1000)
    reported = ctx("out", usage={"prompt_tokens": 100, "completion_tokens": 50})
    assert cost.score(reported) == pytest.approx((100 * 1.0 + 50 * 2.0) / 1000)
    # Without usage, tokens are estimated at about 4 characters each.
    estimated = ctx("x" * 40, input="y" * 80)
    assert cost.score(estimated) == pytest.approx((20 * 1.0 + 10 * 2.0) / 1000)
    assert keel.scorers.estimate_tokens("") == 0
    with pytest.raises(InvalidArgumentError, match="non-negative"):
        keel.scorers.token_cost(prompt_price=-1)


def test_semantic_similarity_with_the_hashing_backend() -> None:
    s = keel.scorers.semantic_similarity(embedder="hashing")
    scores = s.score_batch(
        [
            ctx("The capital of France is Paris.", "Paris is the capital of France."),
            ctx("Bananas are yellow.", "Paris is the capital of France."),
            ctx("anything", None),
        ]
    )
    assert scores[0] is not None
    assert scores[1] is not None
    assert scores[0] > 0.6 > scores[1]
    assert scores[2] is None
    assert s.spec()["embedder"] == "hashing-256"


def test_semantic_similarity_with_the_shipped_static_model() -> None:
    pytest.importorskip("static_model")
    s = keel.scorers.semantic_similarity(embedder="static-model")
    close, far = s.score_batch(
        [ctx("give me my money back", "refund my order"), ctx("the cat sat", "refund my order")]
    )
    assert close is not None
    assert far is not None
    assert close > far + 0.2  # meaning, not spelling: the two share no word


def test_the_static_model_loads_offline_from_the_wheel() -> None:
    pytest.importorskip("static_model")
    code = (
        "from keel.llm import StaticModelEmbedder\n"
        "v = StaticModelEmbedder().embed(['hello world', ''])\n"
        "print(v.shape, bool((v[0] ** 2).sum() > 0.99))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip() == "(2, 64) True"


def test_embedders_are_pluggable_and_deterministic() -> None:
    class Constant:
        name = "constant"

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return np.ones((len(texts), 3))

    s = keel.scorers.semantic_similarity(embedder=Constant())
    assert s.score(ctx("a", "completely different")) == pytest.approx(1.0)
    a = HashingEmbedder().embed(["reset my password"])
    b = HashingEmbedder().embed(["reset my password"])
    assert np.array_equal(a, b)
    assert np.linalg.norm(a) == pytest.approx(1.0)
    with pytest.raises(InvalidArgumentError, match="Unknown embedder"):
        keel.llm.get_embedder("bert")
    keel.llm.set_default_embedder("hashing")
    try:
        assert keel.llm.default_embedder().name == "hashing-256"
    finally:
        keel.llm.set_default_embedder(None)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 5, "reason": "perfect"}', 1.0),
        ('```json\n{"rating": 3}\n```', 0.5),
        ("Reasoning: fine.\nScore: 4", 0.75),
        ("**Score:** 2/5", 0.4),
        ("I rate it 8 out of 10.", 0.8),
        ("3", 0.5),
        ('{"score": "4"}', 0.75),
        ("Score: 9", None),  # outside the 1..5 scale
        ("no idea", None),
    ],
)
def test_judge_scores_are_read_robustly(reply: str, expected: float | None) -> None:
    assert parse_judge_score(reply) == (None if expected is None else pytest.approx(expected))


def test_llm_judge_retries_and_reports_unparseable_replies() -> None:
    replies = iter(["hmm", "Score: 5"])
    judge = keel.scorers.llm_judge("Is it correct?", judge=lambda prompt: next(replies))
    assert judge.score(ctx("Paris", "Paris")) == 1.0
    stubborn = keel.scorers.llm_judge("Is it correct?", judge=lambda p: "no score", retries=1)
    with pytest.raises(RuntimeError, match="no score in the judge's reply"):
        stubborn.score(ctx("Paris", "Paris"))
    prompts: list[str] = []
    keel.scorers.llm_judge("Be kind.", judge=lambda p: prompts.append(p) or "4").score(
        ctx("out", "ref", input="the question")
    )
    assert "Be kind." in prompts[0]
    assert "the question" in prompts[0]
    with pytest.raises(InvalidArgumentError, match="judge is a callable"):
        keel.scorers.llm_judge("r", judge="gpt")  # type: ignore[arg-type]

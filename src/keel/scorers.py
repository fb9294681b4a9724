"""Scorers for :func:`keel.evaluate`: ``keel.scorers.exact_match()``, ``llm_judge(...)``...

A thin namespace over :mod:`keel.llm._scorers`, where the table of what each scorer measures
lives.
"""

from __future__ import annotations

from keel.llm._scorers import (
    DEFAULT_PRICES,
    ScoreContext,
    Scorer,
    estimate_tokens,
    exact_match,
    json_valid,
    latency,
    llm_judge,
    parse_judge_score,
    regex,
    semantic_similarity,
    token_cost,
)

__all__ = [
    "DEFAULT_PRICES",
    "ScoreContext",
    "Scorer",
    "estimate_tokens",
    "exact_match",
    "json_valid",
    "latency",
    "llm_judge",
    "parse_judge_score",
    "regex",
    "semantic_similarity",
    "token_cost",
]

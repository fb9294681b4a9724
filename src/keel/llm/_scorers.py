"""Scorers: what :func:`keel.evaluate` measures on each row.

Every scorer has a ``name`` (its column in the rows and its key in the summary), a
``higher_is_better`` direction (which promotion gates use), and ``score_batch(contexts)``
returning one number per row, or ``None`` where it does not apply. Write your own by
subclassing :class:`Scorer` and overriding :meth:`Scorer.score`.

=========================  =================================================================
scorer                     value
=========================  =================================================================
``exact_match()``          1.0 if the output equals the reference (stripped; optionally
                           case-insensitive), else 0.0
``regex(pattern)``         1.0 if ``re.search(pattern, output)`` finds a match
``json_valid()``           1.0 if the output parses as JSON
``semantic_similarity()``  cosine similarity of output and reference embeddings (see
                           :mod:`keel.llm._embed` for the backends)
``latency()``              milliseconds the target took (lower is better)
``token_cost()``           money the call cost: tokens from the endpoint's ``usage``, else
                           estimated (about 4 characters a token), times the configured prices
``llm_judge(rubric, ...)`` a judge model's score of the output against a rubric, read from
                           its reply (JSON ``{"score": 4}``, ``Score: 4``, ``4/5``...) and
                           scaled to 0..1
=========================  =================================================================
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError
from keel.llm._endpoint import as_completion

if TYPE_CHECKING:
    from keel.llm._embed import Embedder

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

#: Prices per million tokens used by :func:`token_cost` when none are given (placeholders in
#: the range of small hosted models; set your own).
DEFAULT_PRICES = {"prompt": 0.15, "completion": 0.60}


@dataclass(frozen=True)
class ScoreContext:
    """What a scorer sees of one row.

    Attributes:
        input: The text sent to the target (the formatted prompt, or the row's input).
        output: The target's answer.
        reference: The expected answer, if the data has one.
        row: The row of the evaluation data.
        latency_ms: How long the target took.
        usage: Token counts the endpoint reported (may be empty).
    """

    input: str
    output: str
    reference: Any = None
    row: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    usage: Mapping[str, Any] = field(default_factory=dict)


class Scorer:
    """Base of scorers: override :meth:`score` (or :meth:`score_batch` to batch).

    Args:
        name: The scorer's column and summary key.
        higher_is_better: The direction a promotion gate compares in.
    """

    def __init__(self, name: str, *, higher_is_better: bool = True) -> None:
        self.name = name
        self.higher_is_better = higher_is_better

    def score(self, ctx: ScoreContext) -> float | None:
        """Return the row's score, or ``None`` if it does not apply."""
        raise NotImplementedError

    def score_batch(self, contexts: Sequence[ScoreContext]) -> list[float | None]:
        """Score many rows; by default one at a time."""
        return [self.score(c) for c in contexts]

    def spec(self) -> dict[str, Any]:
        """Return a JSON description (kept with the evaluation)."""
        return {
            "name": self.name,
            "kind": type(self).__name__,
            "higher_is_better": self.higher_is_better,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _need_reference(ctx: ScoreContext, scorer: str) -> Any:
    if ctx.reference is None:
        return None
    if isinstance(ctx.reference, float) and math.isnan(ctx.reference):
        return None
    return ctx.reference


class _ExactMatch(Scorer):
    def __init__(self, name: str, ignore_case: bool) -> None:
        super().__init__(name)
        self.ignore_case = ignore_case

    def score(self, ctx: ScoreContext) -> float | None:
        ref = _need_reference(ctx, self.name)
        if ref is None:
            return None
        a, b = ctx.output.strip(), str(ref).strip()
        if self.ignore_case:
            a, b = a.casefold(), b.casefold()
        return float(a == b)


def exact_match(*, ignore_case: bool = False, name: str = "exact_match") -> Scorer:
    """1.0 when the output equals the reference (both stripped of surrounding whitespace).

    Rows without a reference score ``None``.
    """
    return _ExactMatch(name, ignore_case)


class _Regex(Scorer):
    def __init__(self, name: str, pattern: re.Pattern[str]) -> None:
        super().__init__(name)
        self.pattern = pattern

    def score(self, ctx: ScoreContext) -> float | None:
        return float(self.pattern.search(ctx.output) is not None)

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "pattern": self.pattern.pattern}


def regex(pattern: str, *, flags: int = re.DOTALL, name: str = "regex") -> Scorer:
    """1.0 when ``re.search(pattern, output)`` matches (anchor with ``^``/``$`` for a full match).

    Raises:
        InvalidArgumentError: The pattern does not compile.
    """
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise InvalidArgumentError(f"Pattern {pattern!r} does not compile: {exc}.") from exc
    return _Regex(name, compiled)


class _JsonValid(Scorer):
    def score(self, ctx: ScoreContext) -> float | None:
        try:
            json.loads(ctx.output)
        except ValueError:
            return 0.0
        return 1.0


def json_valid(*, name: str = "json_valid") -> Scorer:
    """1.0 when the output parses as JSON."""
    return _JsonValid(name)


class _Semantic(Scorer):
    def __init__(self, name: str, embedder: Embedder | str | None) -> None:
        super().__init__(name)
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        from keel.llm._embed import get_embedder

        return get_embedder(self._embedder)

    def score_batch(self, contexts: Sequence[ScoreContext]) -> list[float | None]:
        from keel.llm._embed import cosine

        pairs = [(i, _need_reference(c, self.name)) for i, c in enumerate(contexts)]
        keep = [(i, str(ref)) for i, ref in pairs if ref is not None]
        out: list[float | None] = [None] * len(contexts)
        if not keep:
            return out
        embedder = self.embedder
        outputs = embedder.embed([contexts[i].output for i, _ in keep])
        refs = embedder.embed([ref for _, ref in keep])
        for (i, _), value in zip(keep, cosine(outputs, refs), strict=True):
            out[i] = float(value)
        return out

    def score(self, ctx: ScoreContext) -> float | None:
        return self.score_batch([ctx])[0]

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "embedder": self.embedder.name}


def semantic_similarity(
    *, embedder: Embedder | str | None = None, name: str = "semantic_similarity"
) -> Scorer:
    """Cosine similarity of the output's and the reference's embeddings.

    Args:
        embedder: An :class:`~keel.llm.Embedder`, a backend name (``"static-model"``,
            ``"hashing"``), or ``None`` for :func:`~keel.llm.default_embedder`.
        name: The score's name.
    """
    return _Semantic(name, embedder)


class _Latency(Scorer):
    def score(self, ctx: ScoreContext) -> float | None:
        return float(ctx.latency_ms)


def latency(*, name: str = "latency") -> Scorer:
    """The target's latency in milliseconds (lower is better; a cached call keeps its own)."""
    return _Latency(name, higher_is_better=False)


def estimate_tokens(text: str) -> int:
    """Estimate a text's token count: about one token per four characters (OpenAI's rule)."""
    return math.ceil(len(text) / 4) if text else 0


class _TokenCost(Scorer):
    def __init__(self, name: str, prompt_price: float, completion_price: float, per: int) -> None:
        super().__init__(name, higher_is_better=False)
        self.prompt_price = prompt_price
        self.completion_price = completion_price
        self.per = per

    def score(self, ctx: ScoreContext) -> float | None:
        prompt = ctx.usage.get("prompt_tokens")
        completion = ctx.usage.get("completion_tokens")
        prompt = estimate_tokens(ctx.input) if prompt is None else int(prompt)
        completion = estimate_tokens(ctx.output) if completion is None else int(completion)
        return (prompt * self.prompt_price + completion * self.completion_price) / self.per

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "prompt_price": self.prompt_price,
            "completion_price": self.completion_price,
            "per": self.per,
        }


def token_cost(
    *,
    prompt_price: float = DEFAULT_PRICES["prompt"],
    completion_price: float = DEFAULT_PRICES["completion"],
    per: int = 1_000_000,
    name: str = "token_cost",
) -> Scorer:
    """The cost of the call: prompt and completion tokens times their prices (lower is better).

    Token counts come from the endpoint's ``usage`` when it reports them, otherwise from
    :func:`estimate_tokens` over the input and output text.

    Args:
        prompt_price: Price of ``per`` prompt (input) tokens.
        completion_price: Price of ``per`` completion (output) tokens.
        per: The number of tokens the prices are for (a million by default).
        name: The score's name.
    """
    if prompt_price < 0 or completion_price < 0 or per <= 0:
        raise InvalidArgumentError(
            f"Prices are non-negative and per is positive; got {prompt_price!r}, "
            f"{completion_price!r}, per={per!r}."
        )
    return _TokenCost(name, float(prompt_price), float(completion_price), int(per))


_NUMBER = r"(-?\d+(?:\.\d+)?)"


def parse_judge_score(text: str, scale: tuple[float, float] = (1, 5)) -> float | None:
    """Read a score from a judge's reply and scale it to 0..1 (``None`` if there is none).

    Understands, in this order: a JSON object with ``score`` or ``rating`` (anywhere in the
    text, also inside a code fence), ``Score: 4`` / ``Rating = 4/5``, ``4/5`` or
    ``4 out of 5``, and a number alone within the scale. A fraction is scaled by its own
    denominator; other values by ``scale``; values outside the scale give ``None``.

    Examples:
        >>> parse_judge_score('{"score": 5, "reason": "ok"}')
        1.0
        >>> parse_judge_score("Reasoning... Score: 3/5")
        0.6
        >>> parse_judge_score("I'd give it 2.")
        0.25
    """
    lo, hi = scale

    def scaled(value: float, top: float | None = None) -> float | None:
        if top is not None and top > 0:
            return value / top if 0 <= value <= top else None
        if lo <= value <= hi and hi > lo:
            return (value - lo) / (hi - lo)
        return None

    for match in re.finditer(r"\{[^{}]*\}", text, re.DOTALL):
        try:
            obj = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict):
            for key in ("score", "rating", "grade"):
                value = obj.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return scaled(float(value))
                if isinstance(value, str):
                    return parse_judge_score(value, scale)
    m = re.search(
        rf"(?:score|rating|grade)\W{{0,3}}\s*[:=]?\s*\**\s*{_NUMBER}"
        rf"(?:\s*(?:/|out of)\s*{_NUMBER})?",
        text,
        re.IGNORECASE,
    )
    if m:
        return scaled(float(m.group(1)), float(m.group(2)) if m.group(2) else None)
    m = re.search(rf"{_NUMBER}\s*(?:/|out of)\s*{_NUMBER}", text, re.IGNORECASE)
    if m:
        return scaled(float(m.group(1)), float(m.group(2)))
    for m in re.finditer(_NUMBER, text):
        value = scaled(float(m.group(1)))
        if value is not None:
            return value
    return None


_JUDGE_PROMPT = """You are grading the answer of an AI assistant.

Rubric: {rubric}

Question or input:
{input}

Reference answer (may be empty):
{reference}

Answer to grade:
{output}

Reply with a JSON object {{"score": N, "reason": "..."}} where N is a number from {lo} to {hi}."""


class _Judge(Scorer):
    def __init__(
        self,
        name: str,
        rubric: str,
        judge: Callable[..., Any],
        scale: tuple[float, float],
        retries: int,
    ) -> None:
        super().__init__(name)
        self.rubric = rubric
        self.judge = judge
        self.scale = scale
        self.retries = retries

    def score(self, ctx: ScoreContext) -> float | None:
        ref = _need_reference(ctx, self.name)
        prompt = _JUDGE_PROMPT.format(
            rubric=self.rubric,
            input=ctx.input,
            reference="" if ref is None else ref,
            output=ctx.output,
            lo=_fmt(self.scale[0]),
            hi=_fmt(self.scale[1]),
        )
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                reply = as_completion(self.judge(prompt)).text
            except Exception as exc:  # the judge is user code or a remote endpoint
                last = exc
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            value = parse_judge_score(reply, self.scale)
            if value is not None:
                return value
            last = ValueError(f"no score in the judge's reply {reply[:120]!r}")
        raise RuntimeError(f"judge failed after {self.retries + 1} attempts: {last}")

    def spec(self) -> dict[str, Any]:
        return {
            **super().spec(),
            "rubric": self.rubric,
            "scale": list(self.scale),
            "judge": repr(self.judge),
        }


def _fmt(x: float) -> str:
    return f"{x:g}"


def llm_judge(
    rubric: str,
    *,
    judge: Callable[..., Any],
    scale: tuple[float, float] = (1, 5),
    retries: int = 2,
    name: str = "llm_judge",
) -> Scorer:
    """A judge model grades each output against ``rubric``; the score is scaled to 0..1.

    The judge gets one prompt (the rubric, the input, the reference and the output) and is
    asked for ``{"score": N, "reason": ...}``; :func:`parse_judge_score` reads the number from
    whatever it answers. A judge that fails or answers without a score is asked again
    (``retries``); then the row's score is empty and the error is kept in the row.

    Args:
        rubric: What a good answer is.
        judge: A callable taking the prompt text (returning text or a
            :class:`~keel.llm.Completion`), such as :func:`keel.llm.endpoint`.
        scale: The lowest and highest score the judge gives.
        retries: Extra attempts when the judge fails or gives no score.
        name: The score's name.
    """
    if not callable(judge):
        raise InvalidArgumentError(
            f"judge is a callable such as keel.llm.endpoint(base_url, model), got {judge!r}."
        )
    if not rubric or not isinstance(rubric, str):
        raise InvalidArgumentError(f"rubric is a non-empty string, got {rubric!r}.")
    if scale[1] <= scale[0]:
        raise InvalidArgumentError(f"scale is (lowest, highest), got {scale!r}.")
    return _Judge(name, rubric, judge, (float(scale[0]), float(scale[1])), retries)

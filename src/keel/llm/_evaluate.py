"""``keel.evaluate``: run a target over an evaluation set, score every row, record it all.

An evaluation is a tracked run (params, a metric per scorer, the per-row table as a Parquet
artifact) and a row of ``llm_evaluations`` that promotion gates read. Rows run in parallel on a
bounded thread pool (model calls wait on the network, so threads are the right tool). Each call
is retried with exponential backoff; a row whose call still fails becomes an error row, and the
evaluation completes. Successful calls are cached in the metadata store by
(target, prompt version, input text, model parameters): evaluating the same prompt on the same
data again makes no call.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, StoreUnavailableError
from keel.llm._client import get_llm_client
from keel.llm._endpoint import Completion, Endpoint, as_completion
from keel.llm._prompts import PromptVersion
from keel.llm._scorers import ScoreContext, Scorer
from keel.store._llm import CachedCall, EvaluationRecord, NewEvaluation

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EvaluationResult", "evaluate", "get_evaluation", "list_evaluations"]


@dataclass
class _Outcome:
    text: str | None
    usage: dict[str, Any]
    latency_ms: float
    error: str | None
    attempts: int
    cached: bool


class EvaluationResult:
    """The outcome of :func:`evaluate`: summary, per-row table, report.

    Attributes:
        record: The stored evaluation (id, prompt, data, run, summary).
    """

    def __init__(self, record: EvaluationRecord, rows: pd.DataFrame | None = None) -> None:
        self.record = record
        self._rows = rows

    @property
    def id(self) -> str:
        """The evaluation's id (give it to ``keel.prompts.promote(evaluation=...)``)."""
        return self.record.id

    @property
    def run_id(self) -> str | None:
        """The tracked run that recorded the evaluation."""
        return self.record.run_id

    @property
    def prompt(self) -> str | None:
        """The evaluated prompt version, ``name/3`` (``None`` without a prompt)."""
        r = self.record
        return f"{r.prompt_name}/{r.prompt_version}" if r.prompt_name else None

    @property
    def summary(self) -> dict[str, Any]:
        """Aggregates: ``num_rows``, ``num_errors``, ``error_rate``, ``scores`` (means)..."""
        return self.record.summary

    @property
    def scores(self) -> dict[str, float | None]:
        """The mean of each scorer over the rows it scored."""
        return dict(self.record.summary.get("scores", {}))

    @property
    def rows(self) -> pd.DataFrame:
        """One row per evaluation row: inputs, output, error, latency, tokens, scores."""
        if self._rows is None:
            import pandas as pd

            data = get_llm_client().artifacts.get_bytes(self.record.rows_digest)
            self._rows = pd.read_parquet(io.BytesIO(data))
        return self._rows

    def previous(self) -> EvaluationResult | None:
        """The last evaluation of the same prompt before this one (the same set preferred)."""
        r = self.record
        if r.prompt_name is None:
            return None
        earlier = [
            e
            for e in get_llm_client().repo.list_evaluations(prompt_name=r.prompt_name)
            if e.id != r.id and (e.created_at, e.id) < (r.created_at, r.id)
        ]
        same_set = [e for e in earlier if e.data_digest == r.data_digest]
        picks = same_set or earlier
        return EvaluationResult(picks[0]) if picks else None

    def to_html(self, path: str | None = None, *, compare: bool = True) -> str:
        """Write a self-contained HTML report (no network): chart, aggregates, per-row scores.

        Args:
            path: Where to write it (the text is returned either way).
            compare: Show the comparison with :meth:`previous`.
        """
        from keel.llm._html import evaluation_html

        text = evaluation_html(self, self.previous() if compare else None)
        if path is not None:
            from pathlib import Path

            Path(path).write_text(text, encoding="utf-8")
        return text

    def __repr__(self) -> str:
        scores = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.scores.items()
        )
        return (
            f"<EvaluationResult {self.id[:8]} prompt={self.prompt} data={self.record.data_ref!r} "
            f"rows={self.record.num_rows} errors={self.record.num_errors} {scores}>"
        )


def get_evaluation(ident: str) -> EvaluationResult:
    """Return a stored evaluation by id (or unique id prefix)."""
    return EvaluationResult(get_llm_client().repo.get_evaluation(ident))


def list_evaluations(prompt: str | None = None, *, limit: int = 50) -> list[EvaluationResult]:
    """Return evaluations, newest first (only of prompt ``name`` or ``name/3``)."""
    name, version = None, None
    if prompt is not None:
        name, _, v = prompt.partition("/")
        version = int(v) if v.isdigit() else None
    records = get_llm_client().repo.list_evaluations(
        prompt_name=name, prompt_version=version, limit=limit
    )
    return [EvaluationResult(r) for r in records]


# -- data -------------------------------------------------------------------------------------


def _load_data(data: Any) -> tuple[pd.DataFrame, str, str, Any]:
    """Return (frame, reference, digest, dataset version or None)."""
    import pandas as pd

    if isinstance(data, str):
        from keel.data._versions import get as get_dataset

        version = get_dataset(data)
        return version.to_pandas(), version.ref, version.digest, version
    if hasattr(data, "to_pandas") and hasattr(data, "ref") and hasattr(data, "digest"):
        return data.to_pandas(), str(data.ref), str(data.digest), data  # a DatasetVersion
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=True)
    elif isinstance(data, Sequence) and all(isinstance(r, Mapping) for r in data):
        frame = pd.DataFrame([dict(r) for r in data])
    else:
        raise InvalidArgumentError(
            f"data is a registered dataset ('support-eval@v2'), a DataFrame or a list of dicts; "
            f"got {type(data).__name__}."
        )
    if frame.empty:
        raise InvalidArgumentError("The evaluation data has no rows.")
    records = frame.to_dict(orient="records")
    text = json.dumps(records, sort_keys=True, default=str)
    return frame, "<frame>", hashlib.sha256(text.encode()).hexdigest(), None


def _resolve_prompt(prompt: PromptVersion | str | None) -> PromptVersion | None:
    if prompt is None or isinstance(prompt, PromptVersion):
        return prompt
    from keel.llm._prompts import get

    return get(prompt)


def _target_identity(target: Any) -> str:
    """Name the target for the record, and tell its versions apart for the cache."""
    if isinstance(target, Endpoint):
        return target.identity
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{getattr(target, '__module__', '')}:{name}"


def _target_version(target: Any) -> str:
    """The code hash of a Python target: editing the function (or two lambdas) misses the cache."""
    if isinstance(target, Endpoint):
        return ""
    from keel.pipelines._codehash import code_hash

    try:
        return code_hash(target)
    except Exception:  # code without inspectable source or bytecode: name only
        return ""


def _cache_key(identity: str, prompt: PromptVersion | None, text: str, params: Any) -> str:
    payload = {
        "target": identity,  # with the code hash of a Python target
        "prompt": None if prompt is None else [prompt.ref, prompt.digest],
        "input": text,
        "params": params,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _call_with_timeout(fn: Callable[[], Any], timeout: float | None) -> Any:
    if timeout is None:
        return fn()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the target did not answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def evaluate(
    target: Callable[..., Any],
    data: Any,
    scorers: Sequence[Scorer] = (),
    *,
    prompt: PromptVersion | str | None = None,
    max_concurrency: int = 8,
    retries: int = 3,
    backoff: float = 0.5,
    timeout: float | None = None,
    cache: bool = True,
    input_column: str = "input",
    reference_column: str = "reference",
    run_name: str | None = None,
    experiment: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Run ``target`` on every row of ``data``, score the answers, and record the evaluation.

    With a ``prompt``, each row's columns fill the prompt's variables and the formatted text is
    sent (with the prompt's ``model_params`` when the target is an endpoint); without one, the
    row's ``input_column`` is sent. The target's answer may be text, a
    :class:`~keel.llm.Completion`, or a dict with ``text`` and ``usage``.

    Args:
        target: Any callable taking the input text, or :func:`keel.llm.endpoint`.
        data: A registered dataset (``"support-eval@v2"`` or the version object), a DataFrame
            or a list of dicts;
            ``reference_column`` holds expected answers where there are any.
        scorers: What to measure (:mod:`keel.scorers`).
        prompt: A prompt version or reference (``"support-answer@production"``).
        max_concurrency: Rows in flight at once.
        retries: Extra attempts for a failing call (timeouts, HTTP errors, malformed replies,
            exceptions), with exponential backoff and jitter.
        backoff: Seconds before the first retry; doubled on each one (capped at 10 s).
        timeout: Seconds to wait for one call of a callable target (an endpoint has its own
            ``timeout``). A call that overruns counts as failed; its thread is abandoned.
        cache: Reuse the answers of identical earlier calls (and store new ones).
        input_column: The column sent as input when there is no prompt.
        reference_column: The column of expected answers.
        run_name: The tracked run's name (``evaluate <prompt>`` by default).
        experiment: The experiment of the run (the current one by default).
        progress: Called with (rows done, rows in all) as rows finish, in row order.

    Returns:
        The result: ``.summary``, ``.rows``, ``.to_html(path)``.

    Raises:
        InvalidArgumentError: The data lacks a column the prompt needs, or an argument is bad.
    """
    import keel.tracking as tracking

    if not callable(target):
        raise InvalidArgumentError(
            f"target is a callable or keel.llm.endpoint(base_url, model), got {target!r}."
        )
    if max_concurrency < 1 or retries < 0 or backoff < 0:
        raise InvalidArgumentError(
            f"max_concurrency >= 1, retries >= 0 and backoff >= 0 are required; got "
            f"{max_concurrency!r}, {retries!r}, {backoff!r}."
        )
    scorers = list(scorers)
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise InvalidArgumentError(
            f"Two scorers share a name in {names!r}; pass name= to tell them apart."
        )
    version = _resolve_prompt(prompt)
    frame, data_ref, data_digest, dataset = _load_data(data)
    columns = [str(c) for c in frame.columns]
    if version is not None:
        missing = [v for v in version.variables if v not in columns]
        if missing:
            raise InvalidArgumentError(
                f"Prompt {version.ref!r} needs variable(s) {', '.join(map(repr, missing))}, "
                f"which the data does not have. Its columns: {', '.join(map(repr, columns))}.",
                details={"missing": missing},
            )
    elif input_column not in columns:
        raise InvalidArgumentError(
            f"Without a prompt, each row's {input_column!r} column is sent to the target, but "
            f"the data has only {', '.join(map(repr, columns))}. Pass input_column= or prompt=."
        )
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")
    ]
    params = dict(version.model_params) if version is not None else {}
    identity = _target_identity(target)
    code = _target_version(target)
    cache_identity = f"{identity}#{code}" if code else identity
    repo = get_llm_client().repo

    def text_of(row: Mapping[str, Any]) -> str:
        if version is None:
            return str(row[input_column])
        return version.format(**{v: row[v] for v in version.variables})

    def call(text: str) -> Completion:
        if isinstance(target, Endpoint):
            return target(text, **params)
        return as_completion(_call_with_timeout(lambda: target(text), timeout))

    def run_row(row: Mapping[str, Any]) -> _Outcome:
        text = text_of(row)
        key = _cache_key(cache_identity, version, text, params)
        if cache:
            hit = repo.cache_get(key)
            if hit is not None:
                return _Outcome(hit.output, dict(hit.usage), hit.latency_ms, None, 0, True)
        error = ""
        for attempt in range(retries + 1):
            started = time.perf_counter()
            try:
                answer = call(text)
            except Exception as exc:  # any failure of the target is retried, then recorded
                error = _error_text(exc)
                if attempt < retries:
                    delay = min(backoff * 2**attempt, 10.0)
                    time.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 (jitter)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if cache:
                # The cache only saves calls: a store too busy to keep this answer must not
                # turn a good answer into an error row.
                with contextlib.suppress(StoreUnavailableError):
                    repo.cache_put(key, CachedCall(answer.text, dict(answer.usage), elapsed))
            return _Outcome(answer.text, dict(answer.usage), elapsed, None, attempt + 1, False)
        return _Outcome(None, {}, 0.0, error, retries + 1, False)

    per_row = [s for s in scorers if type(s).score_batch is Scorer.score_batch]
    batched = [s for s in scorers if s not in per_row]

    def score_row(row: Mapping[str, Any], outcome: _Outcome) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if outcome.error is not None or outcome.text is None:
            return values
        ctx = _context(row, outcome)
        for scorer in per_row:
            try:
                values[scorer.name] = scorer.score(ctx)
            except Exception as exc:  # a scorer's failure is kept with the row
                values[f"{scorer.name}_error"] = _error_text(exc)
        return values

    def _context(row: Mapping[str, Any], outcome: _Outcome) -> ScoreContext:
        return ScoreContext(
            input=text_of(row),
            output=outcome.text or "",
            reference=row.get(reference_column),
            row=row,
            latency_ms=outcome.latency_ms,
            usage=outcome.usage,
        )

    def job(row: Mapping[str, Any]) -> tuple[_Outcome, dict[str, Any]]:
        outcome = run_row(row)
        return outcome, score_row(row, outcome)

    name = run_name or f"evaluate {version.ref if version else identity.rsplit(':', 1)[-1]}"
    with tracking.start_run(run_name=name, experiment=experiment) as run:
        tracking.log_params(
            {
                "prompt": version.ref if version else "",
                "target": identity,
                "data": data_ref,
                "max_concurrency": max_concurrency,
                "retries": retries,
                "scorers": ",".join(names),
                **{f"model.{k}": v for k, v in params.items()},
            }
        )
        if dataset is not None:
            tracking.log_input(dataset)
        if version is not None:
            tracking.log_input(version)
        results: list[tuple[_Outcome, dict[str, Any]]] = []
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            futures = [pool.submit(job, row) for row in records]
            for future in futures:
                results.append(future.result())
                if progress is not None:
                    progress(len(results), len(records))
        ok = [i for i, (o, _) in enumerate(results) if o.error is None]
        for scorer in batched:
            contexts = [_context(records[i], results[i][0]) for i in ok]
            try:
                values = scorer.score_batch(contexts)
            except Exception as exc:  # recorded on every row it could not score
                for i in ok:
                    results[i][1][f"{scorer.name}_error"] = _error_text(exc)
                continue
            for i, value in zip(ok, values, strict=True):
                results[i][1][scorer.name] = value
        rows = _rows_frame(frame, records, results, text_of, names)
        summary = _summary(rows, names)
        tracking.log_metrics(
            {
                **{f"score.{k}": v for k, v in summary["scores"].items() if v is not None},
                "error_rate": summary["error_rate"],
                "num_errors": summary["num_errors"],
            }
        )
        buffer = io.BytesIO()
        rows.to_parquet(buffer, index=False)
        payload = buffer.getvalue()
        client = get_llm_client()
        digest = client.artifacts.put_bytes(payload)
        tracking.log_dict(summary, "evaluation/summary.json")
        _log_rows_artifact(payload)
        record = client.repo.add_evaluation(
            NewEvaluation(
                prompt_name=version.name if version else None,
                prompt_version=version.version if version else None,
                target=identity,
                data_ref=data_ref,
                data_digest=data_digest,
                run_id=run.id,
                num_rows=len(rows),
                num_errors=int(summary["num_errors"]),
                summary=summary,
                scorers=[s.spec() for s in scorers],
                rows_digest=digest,
            )
        )
        tracking.set_tag("llm.evaluation_id", record.id)
    return EvaluationResult(record, rows)


def _log_rows_artifact(payload: bytes) -> None:
    import tempfile
    from pathlib import Path

    import keel.tracking as tracking

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.parquet"
        path.write_bytes(payload)
        tracking.log_artifact(path, "evaluation")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict | list | tuple | set):
        return json.dumps(value, default=str, sort_keys=True)
    return value


def _rows_frame(
    frame: pd.DataFrame,
    records: list[dict[str, Any]],
    results: list[tuple[_Outcome, dict[str, Any]]],
    text_of: Callable[[Mapping[str, Any]], str],
    names: list[str],
) -> pd.DataFrame:
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_jsonable)
    out.insert(0, "row", range(len(out)))
    out["prompt_input"] = [text_of(r) for r in records]
    out["output"] = [o.text for o, _ in results]
    out["error"] = [o.error for o, _ in results]
    out["latency_ms"] = [o.latency_ms if o.error is None else None for o, _ in results]
    out["prompt_tokens"] = pd.array(
        [o.usage.get("prompt_tokens") for o, _ in results], dtype="Int64"
    )
    out["completion_tokens"] = pd.array(
        [o.usage.get("completion_tokens") for o, _ in results], dtype="Int64"
    )
    out["cached"] = [o.cached for o, _ in results]
    out["attempts"] = [o.attempts for o, _ in results]
    extra = sorted({k for _, s in results for k in s if k not in names})
    for name in [*names, *extra]:
        values = [s.get(name) for _, s in results]
        if name in names:
            out[name] = pd.array([None if v is None else float(v) for v in values], dtype="Float64")
        else:
            out[name] = values
    return out


def _summary(rows: pd.DataFrame, names: list[str]) -> dict[str, Any]:
    n = len(rows)
    errors = int(rows["error"].notna().sum())
    latency = rows["latency_ms"].dropna()
    scores: dict[str, float | None] = {}
    for name in names:
        col = rows[name].dropna()
        scores[name] = float(col.mean()) if len(col) else None
    return {
        "num_rows": n,
        "num_errors": errors,
        "error_rate": errors / n if n else 0.0,
        "num_cached": int(rows["cached"].sum()),
        "scores": scores,
        "latency_ms": {
            "p50": float(latency.quantile(0.5)) if len(latency) else None,
            "p95": float(latency.quantile(0.95)) if len(latency) else None,
        },
        "tokens": {
            "prompt": int(rows["prompt_tokens"].fillna(0).sum()),
            "completion": int(rows["completion_tokens"].fillna(0).sum()),
        },
    }

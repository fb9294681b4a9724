"""``keel.evaluate``: run a target over an evaluation set, score every row, record it all.

An evaluation is a tracked run (params, a metric per scorer, the per-row table as a Parquet
artifact) and a row of ``llm_evaluations`` that promotion gates read. Rows run in parallel on a
bounded thread pool (model calls wait on the network, so threads are the right tool). A large
evaluation (or one given ``executor=`` / ``shard_size=``) runs as a Keel pipeline instead: one
step per shard of rows, each with its own bounded thread pool, on the inline, process or Ray
executor, and a final step that merges and aggregates; the pipeline run is a child of the
evaluation's run. Each call
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

from keel._utils import new_id
from keel.errors import InvalidArgumentError, StoreUnavailableError
from keel.llm._client import get_llm_client
from keel.llm._endpoint import Completion, Endpoint, as_completion
from keel.llm._prompts import PromptVersion
from keel.llm._scorers import ScoreContext, Scorer
from keel.store._llm import CachedCall, EvaluationRecord, NewEvaluation

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "PIPELINE_THRESHOLD",
    "EvaluationResult",
    "evaluate",
    "get_evaluation",
    "list_evaluations",
]


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
    def pipeline_run_id(self) -> str | None:
        """The pipeline run that computed a sharded evaluation (``None`` when in-process)."""
        edges = get_llm_client().store.list_lineage_edges(
            ("llm_evaluation", self.record.id), "upstream"
        )
        found = [e for e in edges if e.relation == "computed" and e.source_kind == "run"]
        return found[0].source_id if found else None

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


@dataclass
class _Plan:
    """Everything needed to run and score rows: the same object in a thread or a worker."""

    target: Any
    version: PromptVersion | None
    params: dict[str, Any]
    identity: str
    cache_identity: str
    input_column: str
    reference_column: str
    retries: int
    backoff: float
    timeout: float | None
    cache: bool
    scorers: list[Scorer]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scorers]

    @property
    def per_row(self) -> list[Scorer]:
        return [s for s in self.scorers if type(s).score_batch is Scorer.score_batch]

    @property
    def batched(self) -> list[Scorer]:
        per_row = self.per_row
        return [s for s in self.scorers if s not in per_row]

    def text_of(self, row: Mapping[str, Any]) -> str:
        if self.version is None:
            return str(row[self.input_column])
        return self.version.format(**{v: row[v] for v in self.version.variables})

    def call(self, text: str) -> Completion:
        target = self.target
        if isinstance(target, Endpoint):
            return target(text, **self.params)
        return as_completion(_call_with_timeout(lambda: target(text), self.timeout))

    def run_row(self, row: Mapping[str, Any]) -> _Outcome:
        repo = get_llm_client().repo  # in a worker: the store of the coordinating process
        text = self.text_of(row)
        key = _cache_key(self.cache_identity, self.version, text, self.params)
        if self.cache:
            hit = repo.cache_get(key)
            if hit is not None:
                return _Outcome(hit.output, dict(hit.usage), hit.latency_ms, None, 0, True)
        error = ""
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                answer = self.call(text)
            except Exception as exc:  # any failure of the target is retried, then recorded
                error = _error_text(exc)
                if attempt < self.retries:
                    delay = min(self.backoff * 2**attempt, 10.0)
                    time.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 (jitter)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if self.cache:
                # The cache only saves calls: a store too busy to keep this answer must not
                # turn a good answer into an error row.
                with contextlib.suppress(StoreUnavailableError):
                    repo.cache_put(key, CachedCall(answer.text, dict(answer.usage), elapsed))
            return _Outcome(answer.text, dict(answer.usage), elapsed, None, attempt + 1, False)
        return _Outcome(None, {}, 0.0, error, self.retries + 1, False)

    def context(self, row: Mapping[str, Any], outcome: _Outcome) -> ScoreContext:
        return ScoreContext(
            input=self.text_of(row),
            output=outcome.text or "",
            reference=row.get(self.reference_column),
            row=row,
            latency_ms=outcome.latency_ms,
            usage=outcome.usage,
        )

    def score_row(self, row: Mapping[str, Any], outcome: _Outcome) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if outcome.error is not None or outcome.text is None:
            return values
        ctx = self.context(row, outcome)
        for scorer in self.per_row:
            try:
                values[scorer.name] = scorer.score(ctx)
            except Exception as exc:  # a scorer's failure is kept with the row
                values[f"{scorer.name}_error"] = _error_text(exc)
        return values

    def job(self, row: Mapping[str, Any]) -> _Result:
        outcome = self.run_row(row)
        return outcome, self.score_row(row, outcome)

    def run_rows(
        self,
        records: list[dict[str, Any]],
        max_concurrency: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[_Result]:
        """Call and score ``records`` on a bounded thread pool, in row order."""
        results: list[_Result] = []
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            futures = [pool.submit(self.job, row) for row in records]
            for future in futures:
                results.append(future.result())
                if progress is not None:
                    progress(len(results), len(records))
        return results

    def score_batches(self, records: list[dict[str, Any]], results: list[_Result]) -> None:
        """Run the batching scorers over every answered row (in place)."""
        ok = [i for i, (o, _) in enumerate(results) if o.error is None]
        for scorer in self.batched:
            contexts = [self.context(records[i], results[i][0]) for i in ok]
            try:
                values = scorer.score_batch(contexts)
            except Exception as exc:  # recorded on every row it could not score
                for i in ok:
                    results[i][1][f"{scorer.name}_error"] = _error_text(exc)
                continue
            for i, value in zip(ok, values, strict=True):
                results[i][1][scorer.name] = value

    def finish(
        self, frame: pd.DataFrame, records: list[dict[str, Any]], results: list[_Result]
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Batch-score, then build the per-row table and the summary."""
        self.score_batches(records, results)
        rows = _rows_frame(frame, records, results, self.text_of, self.names)
        return rows, _summary(rows, self.names)


_Result = tuple[_Outcome, dict[str, Any]]

# -- evaluation as a pipeline -------------------------------------------------------------------
#
# Large evaluations (or any with executor=) run as a Keel pipeline: one step per shard of rows
# (calls with bounded concurrency inside), then one step that merges the shards, runs the
# batching scorers and aggregates. The pipeline run is a child of the evaluation's tracked run.
# The plan reaches the steps as a token of this process (inline executor: nothing is pickled,
# so any callable works) or as cloudpickle bytes (process and Ray workers).

#: Above this many rows, evaluate() runs as a pipeline even without executor= or shard_size=.
PIPELINE_THRESHOLD = 2000
#: Rows per shard when shard_size= is not given.
DEFAULT_SHARD_SIZE = 250

_plans: dict[str, _Plan] = {}
_plans_lock = threading.Lock()


@dataclass(frozen=True)
class _Rows:
    """Rows handed to a step: one pickled blob instead of one literal per value."""

    start: int
    records: list[dict[str, Any]]
    frame: Any = None


def _open_plan(plan: str | bytes) -> _Plan:
    if isinstance(plan, bytes):
        import cloudpickle

        opened = cloudpickle.loads(plan)
        if not isinstance(opened, _Plan):  # pragma: no cover - only this module writes it
            raise TypeError(f"expected an evaluation plan, got {type(opened).__name__}")
        return opened
    with _plans_lock:
        found = _plans.get(plan)
    if found is None:
        raise InvalidArgumentError(
            f"Evaluation plan {plan!r} is not in this process: an inline evaluation step ran "
            "elsewhere. Re-run keel.evaluate(...) instead of the recorded pipeline."
        )
    return found


def _score_shard(plan: Any, rows: Any, max_concurrency: int) -> Any:
    """Call the target on one shard of rows and score each answer."""
    return _open_plan(plan).run_rows(rows.records, max_concurrency)


def _merge_shards(plan: Any, data: Any, shards: Any) -> Any:
    """Concatenate the shards in row order, batch-score, build the table and the summary."""
    results = [r for shard in shards for r in shard]
    rows, summary = _open_plan(plan).finish(data.frame, data.records, results)
    return {"rows": rows, "summary": summary}


def _pickled_plan(plan: _Plan, executor: str) -> bytes:
    import cloudpickle

    try:
        return bytes(cloudpickle.dumps(plan))
    except Exception as exc:
        raise InvalidArgumentError(
            f"executor={executor!r} sends the target and the scorers to worker processes, but "
            f"they cannot be pickled ({type(exc).__name__}: {exc}). Pass a module-level "
            "function or keel.llm.endpoint(...) as the target (not a lambda or closure holding "
            "locks, clients or open files), use picklable scorers, or evaluate with "
            "executor='inline'."
        ) from exc


def _open_executor(executor: Any, max_workers: int | None) -> tuple[Any, bool]:
    """Return (executor, whether this evaluation owns it and must shut it down)."""
    from keel.pipelines.executors import Executor, get_executor

    if isinstance(executor, Executor):
        return executor, False
    options = {} if max_workers is None else {"max_workers": max_workers}
    return get_executor(executor, **options), True


def _run_sharded(
    plan: _Plan,
    frame: pd.DataFrame,
    records: list[dict[str, Any]],
    *,
    executor: Any,
    payload: str | bytes,
    shard_size: int,
    max_concurrency: int,
    experiment: str | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[pd.DataFrame, dict[str, Any], Any]:
    """Run the evaluation as a pipeline; return (rows, summary, pipeline run)."""
    from keel.pipelines import Pipeline, PipelineEvent, Step

    bounds = [(a, min(a + shard_size, len(records))) for a in range(0, len(records), shard_size)]
    shard_step = Step(_score_shard, cache=False)
    merge_step = Step(_merge_shards, name="merge", cache=False)

    def evaluation() -> Any:
        shards = [
            shard_step.with_options(name=f"shard_{i}")(
                payload, _Rows(a, records[a:b]), max_concurrency
            )
            for i, (a, b) in enumerate(bounds)
        ]
        return merge_step(payload, _Rows(0, records, frame), shards)

    done = [0]
    sizes = {f"shard_{i}": b - a for i, (a, b) in enumerate(bounds)}

    def on_event(event: PipelineEvent) -> None:
        if progress is not None and event.kind == "step_finished" and event.step in sizes:
            done[0] += sizes[event.step]
            progress(done[0], len(records))

    run = Pipeline(evaluation, name="llm-evaluation").run(
        executor=executor,
        experiment=experiment,
        on_event=on_event,
        tags={"llm.shards": len(bounds), "llm.shard_size": shard_size},
    )
    merged = run.outputs  # raises PipelineFailedError with the step's error
    return merged["rows"], merged["summary"], run


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
    executor: str | Any = None,
    shard_size: int | None = None,
    max_workers: int | None = None,
) -> EvaluationResult:
    """Run ``target`` on every row of ``data``, score the answers, and record the evaluation.

    With a ``prompt``, each row's columns fill the prompt's variables and the formatted text is
    sent (with the prompt's ``model_params`` when the target is an endpoint); without one, the
    row's ``input_column`` is sent. The target's answer may be text, a
    :class:`~keel.llm.Completion`, or a dict with ``text`` and ``usage``.

    Small evaluations run in this process on a thread pool. With ``executor=`` or
    ``shard_size=``, or above ``PIPELINE_THRESHOLD`` rows, the evaluation runs as a Keel
    pipeline: one step per shard of rows (``max_concurrency`` calls in flight inside each),
    then a ``merge`` step that joins the rows and aggregates. That pipeline run is recorded as
    a child of the evaluation's tracked run, with lineage edges to it and to the evaluation;
    the results, summary and report are the same as in-process. Shard steps are never reused
    from the step cache (an error row must be retried on the next run); the per-call cache
    makes a re-run cheap instead.

    Args:
        target: Any callable taking the input text, or :func:`keel.llm.endpoint`. With the
            ``process`` or ``ray`` executor it must be picklable (an endpoint, or a
            module-level function).
        data: A registered dataset (``"support-eval@v2"`` or the version object), a DataFrame
            or a list of dicts;
            ``reference_column`` holds expected answers where there are any.
        scorers: What to measure (:mod:`keel.scorers`).
        prompt: A prompt version or reference (``"support-answer@production"``).
        max_concurrency: Rows in flight at once (per shard, when sharded).
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
        progress: Called with (rows done, rows in all) as rows (or shards) finish.
        executor: Run as a pipeline on this executor: ``"inline"``, ``"process"``, ``"ray"``
            or a :class:`keel.pipelines.Executor`.
        shard_size: Rows per pipeline step (``DEFAULT_SHARD_SIZE`` by default); giving it
            runs the evaluation as a pipeline (inline unless ``executor`` says otherwise).
        max_workers: Shards in parallel on the ``process`` or ``ray`` executor.

    Returns:
        The result: ``.summary``, ``.rows``, ``.to_html(path)``, ``.pipeline_run_id``.

    Raises:
        InvalidArgumentError: The data lacks a column the prompt needs, an argument is bad, or
            the target cannot be pickled for a process or Ray executor.
        PipelineFailedError: A sharded evaluation's pipeline failed (a worker died).
    """
    if not callable(target):
        raise InvalidArgumentError(
            f"target is a callable or keel.llm.endpoint(base_url, model), got {target!r}."
        )
    if max_concurrency < 1 or retries < 0 or backoff < 0:
        raise InvalidArgumentError(
            f"max_concurrency >= 1, retries >= 0 and backoff >= 0 are required; got "
            f"{max_concurrency!r}, {retries!r}, {backoff!r}."
        )
    if shard_size is not None and (
        isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1
    ):
        raise InvalidArgumentError(
            f"shard_size is a positive number of rows per pipeline step, got {shard_size!r}."
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
    plan = _Plan(
        target=target,
        version=version,
        params=params,
        identity=identity,
        cache_identity=f"{identity}#{code}" if code else identity,
        input_column=input_column,
        reference_column=reference_column,
        retries=retries,
        backoff=backoff,
        timeout=timeout,
        cache=cache,
        scorers=scorers,
    )
    sharded = executor is not None or shard_size is not None or len(records) > PIPELINE_THRESHOLD
    size = shard_size or DEFAULT_SHARD_SIZE
    pool: Any = None
    owns_pool = False
    token = ""
    if sharded:
        # Everything that can be refused is refused before the tracked run starts.
        pool, owns_pool = _open_executor(executor or "inline", max_workers)
    try:
        payload: str | bytes = ""
        if pool is not None:
            if pool.isolated:
                payload = _pickled_plan(plan, pool.name)
            else:  # same process: the steps find the plan by a token, nothing is pickled
                token = payload = new_id()
                with _plans_lock:
                    _plans[token] = plan
        return _evaluate(
            plan,
            frame,
            records,
            pool=pool,
            payload=payload,
            shard_size=size,
            max_concurrency=max_concurrency,
            run_name=run_name,
            experiment=experiment,
            progress=progress,
            data_ref=data_ref,
            data_digest=data_digest,
            dataset=dataset,
        )
    finally:
        if token:
            with _plans_lock:
                _plans.pop(token, None)
        if owns_pool:
            pool.shutdown()


def _evaluate(
    plan: _Plan,
    frame: pd.DataFrame,
    records: list[dict[str, Any]],
    *,
    pool: Any,
    payload: str | bytes,
    shard_size: int,
    max_concurrency: int,
    run_name: str | None,
    experiment: str | None,
    progress: Callable[[int, int], None] | None,
    data_ref: str,
    data_digest: str,
    dataset: Any,
) -> EvaluationResult:
    """Run and record a checked evaluation (in-process, or as a pipeline on ``pool``)."""
    import keel.tracking as tracking

    version, params, scorers, names = plan.version, plan.params, plan.scorers, plan.names
    identity = plan.identity

    name = run_name or f"evaluate {version.ref if version else identity.rsplit(':', 1)[-1]}"
    pipeline_run: Any = None
    with tracking.start_run(run_name=name, experiment=experiment) as run:
        tracking.log_params(
            {
                "prompt": version.ref if version else "",
                "target": identity,
                "data": data_ref,
                "max_concurrency": max_concurrency,
                "retries": plan.retries,
                "scorers": ",".join(names),
                **{f"model.{k}": v for k, v in params.items()},
                **({"executor": pool.name, "shard_size": shard_size} if pool is not None else {}),
            }
        )
        if dataset is not None:
            tracking.log_input(dataset)
        if version is not None:
            tracking.log_input(version)
        if pool is not None:
            rows, summary, pipeline_run = _run_sharded(
                plan,
                frame,
                records,
                executor=pool,
                payload=payload,
                shard_size=shard_size,
                max_concurrency=max_concurrency,
                experiment=_experiment_name(run.info.experiment_id),
                progress=progress,
            )
            tracking.set_tag("llm.pipeline_run_id", pipeline_run.id)
        else:
            results = plan.run_rows(records, max_concurrency, progress)
            rows, summary = plan.finish(frame, records, results)
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
        if pipeline_run is not None:
            # The pipeline run is already a child of the evaluation's run; these edges let
            # the lineage graph lead from either run to the other and to the evaluation.
            source = ("run", pipeline_run.id)
            client.store.add_lineage_edge(source, ("run", run.id), "part_of", {"kind": "llm"})
            client.store.add_lineage_edge(source, ("llm_evaluation", record.id), "computed")
    return EvaluationResult(record, rows)


def _experiment_name(experiment_id: str) -> str | None:
    try:
        return get_llm_client().store.get_experiment(experiment_id).name
    except Exception:  # the pipeline then uses its own experiment
        return None


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

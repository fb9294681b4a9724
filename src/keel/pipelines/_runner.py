"""The runner: walks a checked DAG on an executor, with caching, retries and timeouts.

For each step whose inputs are ready the runner computes the cache key (the step's code hash,
the digests of its inputs, its literal arguments, with dataset references and model URIs in
them resolved to the versions they name now: see :mod:`keel.pipelines._pins`), reuses a cache
entry whose blobs all still exist, or submits an attempt to the executor. Failed attempts are
retried after a growing delay; an attempt past its timeout is stopped (by the worker, or by
killing it). A step that fails for good fails the run: its error is recorded with the
traceback, and every step downstream of it is marked ``SKIPPED``; independent branches still
finish (their results are cached for the next run) unless ``fail_fast`` is set.

Everything is recorded in the one store: the pipeline run is a tracked run, each step a step
row; lineage edges lead from inputs (dataset versions, blobs) through the step to its outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel._utils import new_id, now_ms
from keel.pipelines._codehash import code_hash
from keel.pipelines._dag import Dag, Node, OutputHandle
from keel.pipelines._pins import Pinner
from keel.pipelines._recorder import AsyncBlobWriter, Recorder
from keel.pipelines._run import PipelineRun, StepStatus
from keel.pipelines._serializers import serialize, type_name
from keel.pipelines._worker import (
    OutputRef,
    Ref,
    StepOutcome,
    StepTask,
    WorkerContext,
    run_step_task,
)
from keel.pipelines.executors import Executor, get_executor
from keel.store._pipelines import (
    CacheEntry,
    Edge,
    NewPipelineRun,
    NewStepRun,
    PipelineRepository,
    RecordBatch,
)

if TYPE_CHECKING:
    from keel.store import RunInfo

__all__ = ["PipelineEvent", "RunOptions", "execute"]

log = logging.getLogger("keel.pipelines")

_SCALARS = (str, int, float, bool, type(None))
_MAX_INPUT_SUMMARY = 2000


@dataclass(frozen=True)
class PipelineEvent:
    """Progress of a pipeline run, for live displays (``keel pipeline run`` draws these).

    Attributes:
        kind: ``run_started``, ``step_started``, ``step_retrying``, ``step_finished`` or
            ``run_finished``.
        run_id: The pipeline run.
        step: The step concerned (``None`` for run events).
        status: The step's or the run's status after the event.
        attempt: The attempt number, for step events.
        cache_hit: Whether the step's outputs came from the cache.
        duration_s: The step's or run's duration, when finished.
        error: The error of a failed attempt or run.
        steps: For ``run_started``: the step names in DAG order.
    """

    kind: str
    run_id: str
    step: str | None = None
    status: str | None = None
    attempt: int = 0
    cache_hit: bool = False
    duration_s: float | None = None
    error: str | None = None
    steps: tuple[str, ...] = ()


@dataclass
class RunOptions:
    """How to run a pipeline (see :meth:`keel.pipelines.Pipeline.run`)."""

    executor: str | Executor = "inline"
    cache: bool = True
    max_workers: int | None = None
    fail_fast: bool = False
    experiment: str | None = None
    run_name: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    on_event: Callable[[PipelineEvent], None] | None = None
    schedule_id: str | None = None
    target: str | None = None


@dataclass
class _State:
    node: Node
    step_id: str
    status: StepStatus = StepStatus.PENDING
    template: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, OutputRef] = field(default_factory=dict)
    input_nodes: list[tuple[str, str, str]] = field(default_factory=list)  # kind, id, param
    remaining: int = 0
    attempts: int = 0
    first_start: int | None = None
    cache_key: str | None = None
    code: str | None = None
    outputs: list[OutputRef] = field(default_factory=list)
    task_id: int | None = None
    submitted: float = 0.0
    canon: dict[str, Any] | None = None
    cancelled: bool = False
    last: StepOutcome | None = None
    function_payload: Any = None


def _canon(value: Any, refs: dict[str, OutputRef], pin: Callable[[str], Any] | None = None) -> Any:
    """A JSON form of an argument template that changes whenever the arguments do.

    ``pin`` maps a string that names a moving reference (``churn@latest``) to the canonical
    form of the version it names now, or to ``None`` for plain text.
    """
    if isinstance(value, Ref):
        return {"$ref": refs[value.key].digest}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, str) and pin is not None:
        pinned = pin(value)
        return value if pinned is None else pinned
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list):
        return [_canon(v, refs, pin) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_canon(v, refs, pin) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[k, _canon(v, refs, pin)] for k, v in value.items()]}
    raise TypeError(f"unexpected template value {value!r}")


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


class _Run:
    def __init__(self, pipeline_name: str, dag: Dag, params: dict[str, Any], opts: RunOptions):
        from keel.tracking import get_client

        self.name = pipeline_name
        self.dag = dag
        self.params = params
        self.opts = opts
        self.client = get_client()
        self.repo = PipelineRepository(self.client.store)
        self.artifacts = self.client.artifacts
        self.settings = self.client.settings
        self.pinner = Pinner(self.client)
        self.executor: Executor | None = None
        self.writer: AsyncBlobWriter | None = None
        self.recorder: Recorder | None = None
        self.states: dict[str, _State] = {}
        self.failed: list[str] = []
        self.stop_dispatch = False
        self.t0 = time.perf_counter()

    # -- events and recording -------------------------------------------------------------

    def emit(self, event: PipelineEvent) -> None:
        if self.opts.on_event is not None:
            try:
                self.opts.on_event(event)
            except Exception as exc:  # a broken display must not break the run
                log.warning("pipeline event handler failed: %s", exc)

    def record(self, batch: RecordBatch, blobs: tuple[str, ...] = ()) -> None:
        assert self.recorder is not None
        self.recorder.submit(batch, blobs if self.writer is not None else ())

    # -- setup ----------------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        if self.writer is not None:
            return self.writer.put(data)
        return self.artifacts.put_bytes(data)

    def _template(self, state: _State, param: str, value: Any) -> Any:
        if isinstance(value, OutputHandle):
            key = f"{value.node}:{value.index}"
            state.refs.setdefault(key, OutputRef("", "", "", 0))  # filled when upstream ends
            return Ref(key)
        if type(value) in _SCALARS:
            return value
        if type(value) is list:
            return [self._template(state, param, v) for v in value]
        if type(value) is tuple:
            return tuple(self._template(state, param, v) for v in value)
        if type(value) is dict and all(type(k) is str for k in value):
            return {k: self._template(state, param, v) for k, v in value.items()}
        name = state.node.name
        if any(True for _ in _handles(value)):
            from keel.pipelines._errors import PipelineDefinitionError

            raise PipelineDefinitionError(
                f"Step {name!r} argument {param!r} holds step outputs inside a "
                f"{type(value).__name__}; Keel looks for outputs in lists, tuples and dicts "
                "with string keys only. Pass them in one of those.",
                details={"step": name, "param": param},
            )
        data, serializer = serialize(value, what=f"Step {name!r} argument {param!r} is")
        digest = self.put(data)
        key = f"$lit:{digest}"
        state.refs[key] = OutputRef(digest, serializer, type_name(value), len(data))
        node = getattr(value, "lineage_node", None)
        if callable(node):
            try:
                kind, ident = node()
                state.input_nodes.append((str(kind), str(ident), param))
            except Exception:
                pass
        return Ref(key)

    # -- the run --------------------------------------------------------------------------

    def execute(self) -> PipelineRun:
        import keel.tracking as tracking

        opts = self.opts
        executor_options = {} if opts.max_workers is None else {"max_workers": opts.max_workers}
        self.executor = get_executor(opts.executor, **executor_options)
        owns_executor = not isinstance(opts.executor, Executor)
        tags = {
            "keel.pipeline": self.name,
            "keel.executor": self.executor.name,
            **({"keel.schedule": opts.schedule_id} if opts.schedule_id else {}),
            **opts.tags,
        }
        active = tracking.start_run(
            run_name=opts.run_name or self.name, tags=tags, experiment=opts.experiment
        )
        self.run_info: RunInfo = active.info
        status = "FAILED"
        try:
            if self.params:
                self.client.log_params(active.id, self.params)
            if not self.executor.isolated:
                self.writer = AsyncBlobWriter(self.artifacts)
            self.context = WorkerContext.of(self.settings)
            for name in self.dag.order:
                node = self.dag.nodes[name]
                state = _State(node=node, step_id=new_id())
                state.template = {p: self._template(state, p, v) for p, v in node.arguments.items()}
                state.remaining = len(node.depends_on)
                self.states[name] = state
            self.repo.create_run(
                NewPipelineRun(
                    run_id=active.id,
                    pipeline=self.name,
                    target=opts.target,
                    executor=self.executor.name,
                    params={k: _json_safe(v) for k, v in self.params.items()},
                    dag=self.dag.describe(),
                    cache_enabled=opts.cache,
                    steps=[
                        NewStepRun(s.step_id, n, s.node.step.function_ref, i)
                        for i, (n, s) in enumerate(self.states.items())
                    ],
                    schedule_id=opts.schedule_id,
                )
            )
            self.recorder = Recorder(self.repo, self.writer)
            self.cache_reader = self.repo.cache_reader()
            self.children: dict[str, list[str]] = {n: [] for n in self.states}
            for name, state in self.states.items():
                for dep in state.node.depends_on:
                    self.children[dep].append(name)
            self._param_lineage(active.id)
            self.emit(PipelineEvent("run_started", active.id, steps=tuple(self.dag.order)))
            self._loop()
            self._skip_pending()
            status = "FAILED" if self.failed else "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            self._abort("KILLED", "the pipeline run was interrupted")
            raise
        except BaseException as exc:
            status = "FAILED"
            self._abort("KILLED", f"the runner failed: {exc}")
            self._run_error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            try:
                status = self._finish(status, active.id)
            finally:
                if owns_executor and self.executor is not None:
                    self.executor.shutdown()
                active.end(status)
                self.emit(
                    PipelineEvent(
                        "run_finished",
                        active.id,
                        status=status,
                        duration_s=time.perf_counter() - self.t0,
                        error=self._failure_text(),
                    )
                )
        return self._result(active.id, status)

    def _param_lineage(self, run_id: str) -> None:
        edges: list[Edge] = []
        for name, value in self.params.items():
            if isinstance(value, str):  # "churn@latest": the version it names for this run
                found = self.pinner.pin(value)
                if found is not None and found[1] is not None:
                    edges.append((found[1], ("run", run_id), "input", {"param": name}))
                continue
            node = getattr(value, "lineage_node", None)
            if callable(node):
                try:
                    kind, ident = node()
                except Exception:
                    continue
                edges.append(((str(kind), str(ident)), ("run", run_id), "input", {"param": name}))
        if edges:
            self.record(RecordBatch(run_id, edges=edges))

    def _loop(self) -> None:
        assert self.executor is not None
        ready: deque[str] = deque(n for n in self.dag.order if self.states[n].remaining == 0)
        running: dict[int, str] = {}
        retries: list[tuple[float, int, str]] = []
        seq = 0
        while True:
            while ready and len(running) < self.executor.capacity and not self.stop_dispatch:
                name = ready.popleft()
                if self.states[name].status is not StepStatus.PENDING:
                    continue
                self._start(name, running, ready)
            if self.stop_dispatch:
                ready.clear()
                retries.clear()
            if not running and not retries and not ready:
                break
            now = time.monotonic()
            horizon = [r[0] for r in retries]
            for task_id, n in running.items():
                deadline = self._deadline(task_id, self.states[n])
                if deadline is not None:
                    horizon.append(deadline)
            timeout = max(min(horizon) - now, 0.0) if horizon else None
            if running:
                results = self.executor.wait(timeout)
            else:
                if timeout:
                    time.sleep(timeout)
                results = []
            for result in results:
                if result.task_id not in running:
                    continue
                name = running.pop(result.task_id)
                state = self.states[name]
                state.task_id = None
                outcome = self._outcome_of(state, result)
                retry_at = self._finish_attempt(state, outcome, ready)
                if retry_at is not None:
                    seq += 1
                    heapq.heappush(retries, (retry_at, seq, name))
            now = time.monotonic()
            for task_id, name in list(running.items()):
                state = self.states[name]
                deadline = self._deadline(task_id, state)
                if deadline is not None and now >= deadline and not state.cancelled:
                    state.cancelled = True
                    self.executor.cancel(task_id)  # reported by the next wait() as failed
            while retries and retries[0][0] <= time.monotonic():
                _, _, name = heapq.heappop(retries)
                self._submit(name, running)

    def _deadline(self, task_id: int, state: _State) -> float | None:
        # The worker stops an attempt at its timeout itself; this is the backstop for a step
        # stuck where signals do not reach (inside C code), or a worker that does not answer.
        assert self.executor is not None
        timeout = state.node.step.timeout
        if timeout is None or not self.executor.isolated:
            return None
        started = self.executor.started(task_id)
        if started is None:  # not known to have started: allow for a worker starting up
            return state.submitted + timeout + max(60.0, timeout)
        return started + timeout + max(5.0, 0.25 * timeout)

    def _outcome_of(self, state: _State, result: Any) -> StepOutcome:
        if result.ok and isinstance(result.value, StepOutcome):
            return result.value
        step = state.node.step
        timed_out = state.cancelled and step.timeout is not None
        if timed_out:
            error = (
                f"StepTimeoutError: Step {state.node.name!r} ran longer than its timeout of "
                f"{step.timeout:g}s and its worker was killed. Make it faster, or raise the "
                "timeout: @keel.step(timeout=...)."
            )
        else:
            error = f"WorkerError: {(result.error or 'the worker failed').strip().splitlines()[-1]}"
        now = now_ms()
        return StepOutcome(
            node=state.node.name,
            ok=False,
            start_time=state.first_start or now,
            end_time=now,
            error=error,
            error_type="keel.pipelines.WorkerError",
            traceback=result.error,
            retryable=True,
            timed_out=timed_out,
        )

    # -- one step ---------------------------------------------------------------------------

    def _start(self, name: str, running: dict[int, str], ready: deque[str]) -> None:
        state = self.states[name]
        step = state.node.step
        state.code = code_hash(step.func)
        state.canon = {p: self._canon_arg(state, p, v) for p, v in state.template.items()}
        material = {
            "code": state.code,
            "args": state.canon,
            "n": step.n_outputs,
            "version": step.version,
        }
        state.cache_key = hashlib.sha256(
            json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        if self.opts.cache and step.cache and not self._fresh_input(state):
            entry = self.cache_reader.get(state.cache_key)
            if entry is not None and self._usable(entry):
                self._cached(state, entry, ready)
                return
        self._submit(name, running)

    def _canon_arg(self, state: _State, param: str, value: Any) -> Any:
        # References in the argument are resolved once per run (the pinner remembers them);
        # the versions they name become lineage inputs of the step.
        def pin(text: str) -> Any:
            found = self.pinner.pin(text)
            if found is None:
                return None
            canon, node = found
            if node is not None and (*node, param) not in state.input_nodes:
                state.input_nodes.append((*node, param))
            return canon

        return _canon(value, state.refs, pin)

    def _fresh_input(self, state: _State) -> bool:
        # An input blob that this run stored for the first time cannot be in any cache key
        # written before: the look-up would miss, so skip it (a chain of new results then
        # costs no reads). Isolated executors write blobs in the workers: always look up.
        if self.writer is None:
            return False
        return any(self.writer.is_fresh(ref.digest) for ref in state.refs.values())

    def _usable(self, entry: CacheEntry) -> bool:
        exists = self.writer.exists if self.writer is not None else self.artifacts.exists
        try:
            return all(exists(o["digest"]) for o in entry.outputs)
        except Exception:
            return False  # an unreadable store is a miss, never a broken hit

    def _inputs_summary(self, state: _State) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        canons = state.canon or {p: _canon(v, state.refs) for p, v in state.template.items()}
        for param, canon in canons.items():
            text = json.dumps(canon, separators=(",", ":"))
            if len(text) > _MAX_INPUT_SUMMARY:
                canon = {"$sha256": hashlib.sha256(text.encode()).hexdigest()}
            summary[param] = canon
        return summary

    def _input_edges(self, state: _State, run_id: str) -> list[Edge]:
        target = ("step_run", state.step_id)
        edges: list[Edge] = []
        for key, ref in state.refs.items():
            source = key.rpartition(":")[0] if not key.startswith("$lit:") else None
            props: dict[str, Any] = {"step": state.node.name}
            if source:
                props["from_step"] = source
            edges.append((("artifact", ref.digest), target, "input", props))
        for kind, ident, param in state.input_nodes:
            edges.append(((kind, ident), target, "input", {"param": param}))
        edges.append((target, ("run", run_id), "part_of", {"step": state.node.name}))
        return edges

    def _cached(self, state: _State, entry: CacheEntry, ready: deque[str]) -> None:
        run_id = self.run_info.id
        state.outputs = [OutputRef.from_dict(o) for o in entry.outputs]
        state.status = StepStatus.CACHED
        now = now_ms()
        target = ("step_run", state.step_id)
        edges = self._input_edges(state, run_id)
        edges.append((("step_run", entry.step_run_id), target, "reused_by", {}))
        edges += [
            (target, ("artifact", o.digest), "output", {"index": i, "cached": True})
            for i, o in enumerate(state.outputs)
        ]
        self.record(
            RecordBatch(
                run_id,
                step_updates={
                    state.step_id: {
                        "status": StepStatus.CACHED.value,
                        "cache_hit": True,
                        "cached_from": entry.step_run_id,
                        "cache_key": state.cache_key,
                        "code_hash": state.code,
                        "start_time": now,
                        "end_time": now,
                        "inputs": self._inputs_summary(state),
                        "outputs": [o.to_dict() for o in state.outputs],
                    }
                },
                edges=edges,
            )
        )
        self.emit(
            PipelineEvent(
                "step_finished",
                run_id,
                state.node.name,
                StepStatus.CACHED.value,
                cache_hit=True,
                duration_s=0.0,
            )
        )
        self._release(state, ready)

    def _submit(self, name: str, running: dict[int, str]) -> None:
        assert self.executor is not None
        state = self.states[name]
        step = state.node.step
        state.attempts += 1
        state.status = StepStatus.RUNNING
        isolated = self.executor.isolated
        if state.function_payload is None:
            if isolated:
                import cloudpickle

                state.function_payload = cloudpickle.dumps(step.func)
            else:
                state.function_payload = step.func
        task = StepTask(
            node=name,
            function=state.function_payload,
            arguments=state.template,
            refs=state.refs,
            n_outputs=step.n_outputs,
            timeout=step.timeout,
            retry_on=step.retry_on,
            track=step.track,
            run=self.run_info,
            context=self.context,
            attempt=state.attempts,
            isolated=isolated,
            sink=self.writer,
        )
        if state.first_start is None:
            state.first_start = now_ms()
        self.emit(
            PipelineEvent("step_started", self.run_info.id, name, "RUNNING", attempt=state.attempts)
        )
        state.submitted = time.monotonic()
        state.cancelled = False
        if state.attempts == 1:  # merged with the final update when the step is quick
            self.record(
                RecordBatch(
                    self.run_info.id,
                    step_updates={
                        state.step_id: {"status": "RUNNING", "start_time": state.first_start}
                    },
                )
            )
        task_id = self.executor.submit(run_step_task, task)
        state.task_id = task_id
        running[task_id] = name

    def _finish_attempt(
        self, state: _State, outcome: StepOutcome, ready: deque[str]
    ) -> float | None:
        step = state.node.step
        run_id = self.run_info.id
        state.last = outcome
        if state.first_start is None or outcome.start_time < state.first_start:
            state.first_start = outcome.start_time
        base = {
            "attempts": state.attempts,
            "start_time": state.first_start,
            "end_time": outcome.end_time,
            "wall_time_s": outcome.wall_time_s,
            "cpu_time_s": outcome.cpu_time_s,
            "peak_rss_bytes": outcome.peak_rss_bytes,
            "hostname": outcome.hostname,
            "pid": outcome.pid,
            "tracked_run_id": outcome.tracked_run_id,
            "cache_key": state.cache_key,
            "code_hash": state.code,
        }
        if outcome.ok:
            state.outputs = outcome.outputs
            state.status = StepStatus.COMPLETED
            target = ("step_run", state.step_id)
            edges = self._input_edges(state, run_id)
            edges += [
                (target, ("artifact", o.digest), "output", {"index": i, "type": o.type})
                for i, o in enumerate(outcome.outputs)
            ]
            edges += [(target, n, "output", {}) for n in outcome.output_nodes]
            if outcome.tracked_run_id:
                edges.append((target, ("run", outcome.tracked_run_id), "tracked_as", {}))
            batch = RecordBatch(
                run_id,
                step_updates={
                    state.step_id: {
                        **base,
                        "status": StepStatus.COMPLETED.value,
                        "error": None,
                        "traceback": None,
                        "inputs": self._inputs_summary(state),
                        "outputs": [o.to_dict() for o in outcome.outputs],
                    }
                },
                edges=edges,
            )
            if step.cache and state.cache_key:
                batch.cache_entries.append(
                    CacheEntry(
                        cache_key=state.cache_key,
                        step=state.node.name,
                        code_hash=state.code or "",
                        outputs=[o.to_dict() for o in outcome.outputs],
                        step_run_id=state.step_id,
                        created_at=now_ms(),
                    )
                )
            self.record(batch, tuple(o.digest for o in outcome.outputs))
            self.emit(
                PipelineEvent(
                    "step_finished",
                    run_id,
                    state.node.name,
                    StepStatus.COMPLETED.value,
                    attempt=state.attempts,
                    duration_s=(outcome.end_time - state.first_start) / 1000,
                )
            )
            self._release(state, ready)
            return None
        if outcome.retryable and state.attempts <= step.retries and not self.stop_dispatch:
            delay = min(
                step.retry_delay * step.backoff ** (state.attempts - 1), step.max_retry_delay
            )
            self.emit(
                PipelineEvent(
                    "step_retrying",
                    run_id,
                    state.node.name,
                    "RUNNING",
                    attempt=state.attempts,
                    error=outcome.error,
                )
            )
            log.info(
                "Step %r attempt %d failed (%s); retrying in %.3gs",
                state.node.name,
                state.attempts,
                outcome.error,
                delay,
            )
            self.record(
                RecordBatch(
                    run_id,
                    step_updates={
                        state.step_id: {
                            "attempts": state.attempts,
                            "error": outcome.error,
                            "traceback": outcome.traceback,
                        }
                    },
                )
            )
            return time.monotonic() + delay
        state.status = StepStatus.FAILED
        self.failed.append(state.node.name)
        downstream = self.dag.downstream(state.node.name)
        updates: dict[str, dict[str, Any]] = {
            state.step_id: {
                **base,
                "status": StepStatus.FAILED.value,
                "error": outcome.error,
                "traceback": outcome.traceback,
                "inputs": self._inputs_summary(state),
            }
        }
        for name in downstream:
            other = self.states[name]
            if other.status is StepStatus.PENDING:
                other.status = StepStatus.SKIPPED
                updates[other.step_id] = {
                    "status": StepStatus.SKIPPED.value,
                    "error": f"Skipped: upstream step {state.node.name!r} failed.",
                }
                self.emit(PipelineEvent("step_finished", run_id, name, "SKIPPED"))
        self.record(
            RecordBatch(
                run_id,
                step_updates=updates,
                edges=self._input_edges(state, run_id),
            )
        )
        self.emit(
            PipelineEvent(
                "step_finished",
                run_id,
                state.node.name,
                StepStatus.FAILED.value,
                attempt=state.attempts,
                duration_s=(outcome.end_time - state.first_start) / 1000,
                error=outcome.error,
            )
        )
        if self.opts.fail_fast:
            self.stop_dispatch = True
        return None

    def _skip_pending(self) -> None:
        # Steps left PENDING when the loop ends were never started: fail_fast stopped them.
        first = self.failed[0] if self.failed else None
        updates: dict[str, dict[str, Any]] = {}
        for name, state in self.states.items():
            if state.status is StepStatus.PENDING:
                state.status = StepStatus.SKIPPED
                updates[state.step_id] = {
                    "status": StepStatus.SKIPPED.value,
                    "error": f"Skipped: step {first!r} failed and fail_fast is set.",
                }
                self.emit(PipelineEvent("step_finished", self.run_info.id, name, "SKIPPED"))
        if updates:
            self.record(RecordBatch(self.run_info.id, step_updates=updates))

    def _release(self, state: _State, ready: deque[str]) -> None:
        name = state.node.name
        for child in self.children[name]:
            other = self.states[child]
            if other.status is StepStatus.PENDING:
                for key in other.refs:
                    producer, _, index = key.rpartition(":")
                    if producer == name:
                        other.refs[key] = state.outputs[int(index)]
                other.remaining -= 1
                if other.remaining == 0:
                    ready.append(other.node.name)

    # -- the end ------------------------------------------------------------------------------

    def _abort(self, status: str, why: str) -> None:
        if self.executor is not None:
            for state in self.states.values():
                if state.task_id is not None:
                    with contextlib.suppress(Exception):
                        self.executor.cancel(state.task_id)
        if self.recorder is None:
            return
        updates: dict[str, dict[str, Any]] = {}
        for state in self.states.values():
            if state.status is StepStatus.RUNNING:
                state.status = StepStatus.KILLED
                updates[state.step_id] = {"status": status, "end_time": now_ms(), "error": why}
            elif state.status is StepStatus.PENDING:
                state.status = StepStatus.SKIPPED
                updates[state.step_id] = {"status": "SKIPPED", "error": f"Skipped: {why}."}
        if updates:
            self.record(RecordBatch(self.run_info.id, step_updates=updates))

    def _failure_text(self) -> str | None:
        if getattr(self, "_run_error", None):
            return str(self._run_error)
        if not self.failed:
            return None
        last = self.states[self.failed[0]].last
        return last.error if last is not None else None

    def _outputs_json(self, value: Any, edges: list[Edge], run_id: str) -> Any:
        if isinstance(value, OutputHandle):
            state = self.states[value.node]
            if not state.outputs:
                return None
            ref = state.outputs[value.index]
            edges.append(
                (("run", run_id), ("artifact", ref.digest), "output", {"step": value.node})
            )
            return {"$output": {**ref.to_dict(), "step": value.node, "index": value.index}}
        if type(value) in _SCALARS and _json_safe(value) is value:
            return value
        if type(value) is list:
            return [self._outputs_json(v, edges, run_id) for v in value]
        if type(value) is tuple:
            return {"$tuple": [self._outputs_json(v, edges, run_id) for v in value]}
        if type(value) is dict and all(type(k) is str for k in value):
            return {"$dict": [[k, self._outputs_json(v, edges, run_id)] for k, v in value.items()]}
        data, serializer = serialize(value, what=f"Pipeline {self.name!r} returned")
        digest = self.put(data)
        return {
            "$output": {
                "digest": digest,
                "serializer": serializer,
                "type": type_name(value),
                "size": len(data),
            }
        }

    def _finish(self, status: str, run_id: str) -> str:
        reader = getattr(self, "cache_reader", None)
        if reader is not None:
            reader.close()
        if self.recorder is None:
            if self.writer is not None:
                self.writer.close()
            return status
        edges: list[Edge] = []
        outputs = None
        if status == "FINISHED":
            try:
                outputs = self._outputs_json(self.dag.outputs, edges, run_id)
            except Exception as exc:
                status = "FAILED"
                self._run_error = f"{type(exc).__name__}: {exc}"
        failed_step = self.failed[0] if self.failed else None
        self.record(
            RecordBatch(
                run_id,
                edges=edges,
                run_update={
                    "status": status,
                    "end_time": now_ms(),
                    "error": self._failure_text(),
                    "failed_step": failed_step,
                    "outputs": outputs,
                },
            ),
            tuple(e[1][1] for e in edges),
        )
        try:
            self.recorder.flush()
        finally:
            self.recorder.close()
            if self.writer is not None:
                self.writer.close()
        return status

    def _result(self, run_id: str, status: str) -> PipelineRun:
        return PipelineRun.from_record(self.repo.get_run(run_id))


def _handles(value: Any) -> Any:
    from keel.pipelines._dag import iter_handles

    return iter_handles(value)


def execute(pipeline_name: str, dag: Dag, params: dict[str, Any], opts: RunOptions) -> PipelineRun:
    """Run a checked DAG and return the recorded run (see :meth:`Pipeline.run`)."""
    return _Run(pipeline_name, dag, params, opts).execute()

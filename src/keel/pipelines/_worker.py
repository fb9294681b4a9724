"""Running one step attempt wherever an executor puts it: this process, a worker, a Ray node.

A :class:`StepTask` carries everything the attempt needs and nothing that ties it to the
coordinating process: the function (pickled by cloudpickle), argument templates whose step
outputs are :class:`Ref` placeholders, the digests those placeholders stand for, and the URIs
of the stores. The worker loads inputs from the artifact store (verifying digests), calls the
function under its timeout, stores each output through a serializer, and returns a
:class:`StepOutcome` with digests, timings, resource use and any error with its traceback.
"""

from __future__ import annotations

import functools
import inspect
import os
import resource
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from keel._utils import now_ms
from keel.pipelines._errors import StepTimeoutError, UnserializableOutputError
from keel.pipelines._serializers import deserialize, serialize, type_name

if TYPE_CHECKING:
    from keel.artifacts import ArtifactStore
    from keel.config import Settings
    from keel.store import RunInfo

__all__ = [
    "BlobSink",
    "OutputRef",
    "Ref",
    "StepOutcome",
    "StepTask",
    "SyncSink",
    "WorkerContext",
    "call_with_timeout",
    "ensure_context",
    "materialize",
    "run_step_task",
]


@dataclass(frozen=True)
class WorkerContext:
    """Where a worker finds the stores, and the import paths of the coordinating process."""

    store_uri: str
    artifact_uri: str
    s3_endpoint_url: str | None
    user: str
    home: str
    code_paths: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> WorkerContext:
        """Return the context of ``settings``, with this process's import paths."""
        return cls(
            store_uri=settings.store_uri,
            artifact_uri=settings.artifact_uri,
            s3_endpoint_url=settings.s3_endpoint_url,
            user=settings.user,
            home=str(settings.home),
            code_paths=tuple(p for p in sys.path if p and os.path.isdir(p)),
        )


@dataclass(frozen=True)
class OutputRef:
    """A stored output: its blob digest, the serializer that wrote it, its type and size."""

    digest: str
    serializer: str
    type: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form stored in step rows and cache entries."""
        return {
            "digest": self.digest,
            "serializer": self.serializer,
            "type": self.type,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputRef:
        """Rebuild from :meth:`to_dict`."""
        return cls(data["digest"], data["serializer"], data["type"], int(data["size"]))


@dataclass(frozen=True)
class Ref:
    """A placeholder in an argument template for the stored value named ``key``."""

    key: str


class BlobSink(Protocol):
    """Where a step attempt writes its outputs and reads its inputs."""

    def put(self, data: bytes) -> str:
        """Store bytes; return their digest."""
        ...

    def get(self, digest: str) -> bytes:
        """Return verified bytes of a blob."""
        ...


class SyncSink:
    """Reads and writes the artifact store directly (a worker process, a Ray task)."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    def put(self, data: bytes) -> str:
        """Store bytes now; return their digest."""
        return self.artifacts.put_bytes(data)

    def get(self, digest: str) -> bytes:
        """Return the blob's bytes, digest verified."""
        return self.artifacts.get_bytes(digest)


@dataclass
class StepTask:
    """One attempt of one step, ready to ship to an executor.

    Attributes:
        node: The step's name in the pipeline.
        function: The step function, or its cloudpickle bytes for another process.
        arguments: Bound arguments; stored inputs appear as :class:`Ref` placeholders.
        refs: What each placeholder stands for.
        n_outputs: How many outputs the function returns.
        timeout: Seconds the attempt may take.
        retry_on: Exception types worth another attempt.
        track: Whether the step gets its own nested tracked run.
        run: The pipeline's tracked run (made active while the step runs).
        context: Where the stores are.
        attempt: 1 for the first attempt.
        isolated: Whether the attempt runs in a process of its own (CPU time is the process's).
        sink: The blob sink to use in this process (``None``: open the artifact store).
    """

    node: str
    function: Any
    arguments: dict[str, Any]
    refs: dict[str, OutputRef]
    n_outputs: int
    timeout: float | None
    retry_on: tuple[type[BaseException], ...]
    track: bool
    run: RunInfo
    context: WorkerContext
    attempt: int = 1
    isolated: bool = False
    sink: BlobSink | None = None


@dataclass
class StepOutcome:
    """What one attempt produced: outputs, or an error; with timings and resource use."""

    node: str
    ok: bool
    outputs: list[OutputRef] = field(default_factory=list)
    output_nodes: list[tuple[str, str]] = field(default_factory=list)
    start_time: int = 0
    end_time: int = 0
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0
    peak_rss_bytes: int | None = None
    hostname: str | None = None
    pid: int | None = None
    tracked_run_id: str | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    retryable: bool = False
    timed_out: bool = False


_artifact_stores: dict[tuple[str, str | None], Any] = {}
_functions: dict[bytes, Any] = {}
_context_lock = threading.Lock()
_applied_context: WorkerContext | None = None


def ensure_context(context: WorkerContext) -> None:
    """Point this process's settings at the coordinator's stores (once per process)."""
    global _applied_context
    if _applied_context == context:
        return
    with _context_lock:
        if _applied_context == context:
            return
        for path in reversed(context.code_paths):
            if path not in sys.path and os.path.isdir(path):
                sys.path.insert(0, path)
        from keel.config import get_settings, override_settings

        current = get_settings()
        if (current.store_uri, current.artifact_uri, current.s3_endpoint_url) != (
            context.store_uri,
            context.artifact_uri,
            context.s3_endpoint_url,
        ):
            from pathlib import Path

            override_settings(
                store_uri=context.store_uri,
                artifact_uri=context.artifact_uri,
                s3_endpoint_url=context.s3_endpoint_url,
                user=context.user,
                home=Path(context.home),
            )
            module = sys.modules.get("keel.tracking._client")
            if module is not None:
                module.reset_client()
        _applied_context = context


@functools.cache
def _hostname() -> str:
    return socket.gethostname()


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def _sink_for(task: StepTask) -> BlobSink:
    if task.sink is not None:
        return task.sink
    key = (task.context.artifact_uri, task.context.s3_endpoint_url)
    store = _artifact_stores.get(key)
    if store is None:
        from keel.artifacts import open_artifact_store

        store = open_artifact_store(key[0], s3_endpoint_url=key[1])
        _artifact_stores[key] = store
    return SyncSink(store)


def _function(payload: Any) -> Callable[..., Any]:
    if not isinstance(payload, bytes):
        return payload  # type: ignore[no-any-return]
    func = _functions.get(payload)
    if func is None:
        import cloudpickle

        func = cloudpickle.loads(payload)
        if len(_functions) > 256:
            _functions.clear()
        _functions[payload] = func
    return func  # type: ignore[no-any-return]


def materialize(template: Any, values: dict[str, Any]) -> Any:
    """Replace every :class:`Ref` in ``template`` by its value (containers are rebuilt)."""
    if isinstance(template, Ref):
        return values[template.key]
    if isinstance(template, list):
        return [materialize(v, values) for v in template]
    if isinstance(template, tuple):
        return tuple(materialize(v, values) for v in template)
    if isinstance(template, dict):
        return {k: materialize(v, values) for k, v in template.items()}
    return template


def _timeout_error(node: str, timeout: float) -> StepTimeoutError:
    return StepTimeoutError(
        f"Step {node!r} ran longer than its timeout of {timeout:g}s and was stopped. Make it "
        "faster, or raise the timeout: @keel.step(timeout=...).",
        details={"step": node, "timeout": timeout},
    )


def call_with_timeout(
    node: str, func: Callable[..., Any], args: Any, kwargs: Any, timeout: float | None
) -> Any:
    """Call ``func``; raise :class:`StepTimeoutError` if it runs longer than ``timeout``.

    In the main thread the call is interrupted by ``SIGALRM`` (an outer alarm, such as a test
    runner's, is kept and still fires on time). Elsewhere the call runs in a helper thread that
    is abandoned on timeout: Python cannot stop a thread, so an in-process step that ignores
    its timeout off the main thread keeps running in the background.
    """
    if timeout is None:
        return func(*args, **kwargs)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_with_alarm(node, func, args, kwargs, timeout)
    return _call_in_thread(node, func, args, kwargs, timeout)


def _call_with_alarm(
    node: str, func: Callable[..., Any], args: Any, kwargs: Any, timeout: float
) -> Any:
    started = time.monotonic()
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    outer_handler = signal.getsignal(signal.SIGALRM)
    ours = not outer_delay or timeout < outer_delay

    def on_alarm(signum: int, frame: Any) -> None:
        if ours:
            raise _timeout_error(node, timeout)
        if callable(outer_handler):  # the outer alarm was due first: hand it over
            outer_handler(signum, frame)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout if ours else outer_delay)
    try:
        return func(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_delay:
            left = outer_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), outer_interval)


def _call_in_thread(
    node: str, func: Callable[..., Any], args: Any, kwargs: Any, timeout: float
) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"keel-step-{node}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _timeout_error(node, timeout)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _split(node: str, result: Any, n_outputs: int) -> list[Any]:
    if n_outputs == 1:
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != n_outputs:
        shown = type(result).__name__
        length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise UnserializableOutputError(
            f"Step {node!r} declares {n_outputs} outputs but returned a {shown}{length}. "
            f"Return a tuple of {n_outputs} values, or fix the return annotation / n_outputs.",
            details={"step": node},
        )
    return list(result)


def _cpu_now(isolated: bool) -> float:
    if isolated:
        return time.process_time()
    return time.thread_time()


def _peak_rss() -> int:
    scale = 1 if sys.platform == "darwin" else 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)


def run_step_task(task: StepTask) -> StepOutcome:
    """Run one attempt of a step and return its outcome (never raises for step errors).

    ``KeyboardInterrupt`` and ``SystemExit`` raised by the step propagate.
    """
    if task.isolated:
        ensure_context(task.context)
    outcome = StepOutcome(node=task.node, ok=False, hostname=_hostname(), pid=os.getpid())
    sink = _sink_for(task)
    wall0 = time.perf_counter()
    cpu0 = _cpu_now(task.isolated)
    outcome.start_time = now_ms()
    phase = "load"
    tracked = None
    try:
        func = _function(task.function)
        values = {
            key: deserialize(sink.get(ref.digest), ref.serializer) for key, ref in task.refs.items()
        }
        arguments = materialize(task.arguments, values)
        bound = inspect.BoundArguments(_signature(func), arguments)
        phase = "run"
        if task.track:
            tracked = _start_tracked(task)
        from keel.pipelines._tracking import activated

        with activated(tracked.info if tracked is not None else task.run):
            result = call_with_timeout(task.node, func, bound.args, bound.kwargs, task.timeout)
        phase = "store"
        outputs = _split(task.node, result, task.n_outputs)
        for value in outputs:
            data, serializer = serialize(value, what=f"Step {task.node!r} returned")
            digest = sink.put(data)
            outcome.outputs.append(OutputRef(digest, serializer, type_name(value), len(data)))
            node = getattr(value, "lineage_node", None)
            if callable(node):
                try:
                    kind, ident = node()
                    outcome.output_nodes.append((str(kind), str(ident)))
                except Exception:  # lineage is best effort for foreign objects
                    pass
        outcome.ok = True
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.error_type = type_name(exc)
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__ and tb.tb_next:
            tb = tb.tb_next  # start the traceback at the user's code, not Keel's machinery
        outcome.traceback = "".join(traceback.format_exception(type(exc), exc, tb))
        outcome.timed_out = isinstance(exc, StepTimeoutError)
        outcome.retryable = phase == "run" and (outcome.timed_out or isinstance(exc, task.retry_on))
    finally:
        outcome.end_time = now_ms()
        outcome.wall_time_s = time.perf_counter() - wall0
        outcome.cpu_time_s = _cpu_now(task.isolated) - cpu0
        outcome.peak_rss_bytes = _peak_rss()
        if tracked is not None:
            outcome.tracked_run_id = tracked.id
            _end_tracked(tracked, outcome)
        from keel.pipelines._tracking import flush_tracking

        flush_tracking()
    return outcome


def _start_tracked(task: StepTask) -> Any:
    from keel.tracking import ActiveRun, get_client

    client = get_client()
    info = client.create_run(
        task.run.experiment_id,
        task.node,
        {"keel.pipeline_run": task.run.id, "keel.step": task.node, "keel.attempt": task.attempt},
        task.run.id,
    )
    return ActiveRun(info)


def _end_tracked(run: Any, outcome: StepOutcome) -> None:
    from keel.store import RunStatus
    from keel.tracking import get_client

    get_client().end_run(
        run.id,
        RunStatus.FINISHED if outcome.ok else RunStatus.FAILED,
        (outcome.wall_time_s, outcome.cpu_time_s, outcome.peak_rss_bytes or 0),
    )

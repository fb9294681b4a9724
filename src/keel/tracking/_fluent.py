"""The module-level tracking API: ``keel.set_experiment``, ``keel.start_run``, ``keel.log_*``."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

from keel.errors import InvalidArgumentError, InvalidStateError
from keel.store import ArtifactEntry, Metric, Run, RunInfo, RunStatus
from keel.tracking._client import get_client
from keel.tracking._environment import ResourceClock

__all__ = [
    "ActiveRun",
    "RunList",
    "active_run",
    "download_artifacts",
    "end_run",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "load_dict",
    "log_artifact",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_output",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]

DEFAULT_EXPERIMENT = "Default"


class _State(threading.local):
    def __init__(self) -> None:
        self.stack: list[ActiveRun] = []


_state = _State()
_experiment: dict[str, str] = {}


class ActiveRun:
    """A run started by :func:`start_run`; ends when its ``with`` block ends.

    A block that raises marks the run FAILED (KILLED for ``KeyboardInterrupt``), otherwise
    FINISHED. Resource use (wall time, CPU seconds, peak RSS) is recorded at the end.
    """

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self._clock = ResourceClock()
        self._ended = False

    @property
    def id(self) -> str:
        """The run id."""
        return self.info.id

    @property
    def name(self) -> str:
        """The run name."""
        return self.info.name

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id!r} name={self.name!r}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        self.end(status)

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """End the run with ``status`` (ending twice does nothing)."""
        if self._ended:
            return
        self._ended = True
        if self in _state.stack:
            _state.stack.remove(self)
        get_client().end_run(self.id, RunStatus(status), self._clock.stop())


class RunList(list[Run]):
    """A page of runs; ``next_page_token`` fetches the next page (``None`` on the last)."""

    next_page_token: str | None = None


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment new runs go into, creating it if needed.

    Returns:
        The experiment id.
    """
    exp = get_client().get_or_create_experiment(name)
    _experiment["id"] = exp.id
    _experiment["name"] = exp.name
    return exp.id


def _experiment_id() -> str:
    if "id" not in _experiment:
        set_experiment(os.environ.get("KEEL_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT)
    return _experiment["id"]


def start_run(
    run_name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    nested: bool = True,
) -> ActiveRun:
    """Start a run and make it the active run of this thread.

    Use it as a context manager: ``with keel.start_run(run_name="baseline") as run: ...``.
    A run started while another is active becomes its child (set ``nested=False`` to refuse).

    Args:
        run_name: A readable name; the first 8 characters of the id by default.
        tags: Tags to set at once.
        experiment: An experiment name to use instead of the current one.
        nested: Whether a run may start inside the active one.

    Raises:
        InvalidStateError: A run is active and ``nested`` is false.
    """
    client = get_client()
    parent = _state.stack[-1] if _state.stack else None
    if parent is not None and not nested:
        raise InvalidStateError(
            f"Run {parent.id!r} is still active. End it first, or pass nested=True to start "
            "a child run inside it."
        )
    exp_id = client.get_or_create_experiment(experiment).id if experiment else _experiment_id()
    info = client.create_run(exp_id, run_name, tags, parent.id if parent else None)
    run = ActiveRun(info)
    _state.stack.append(run)
    return run


def active_run() -> ActiveRun | None:
    """Return this thread's active run, or ``None``."""
    return _state.stack[-1] if _state.stack else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run (nothing happens if no run is active)."""
    if _state.stack:
        _state.stack[-1].end(status)


def _run_id() -> str:
    if not _state.stack:
        raise InvalidStateError(
            "No run is active. Start one with 'with keel.start_run(): ...' before logging."
        )
    return _state.stack[-1].id


def log_param(key: str, value: Any) -> None:
    """Record a param of the active run; see :func:`log_params`."""
    get_client().log_params(_run_id(), {key: value})


def log_params(params: Mapping[str, Any]) -> None:
    """Record params of the active run.

    Params are immutable: logging the same value again is fine, a different one is an error.
    Non-string values are stored as JSON text (``6`` -> ``"6"``, ``True`` -> ``"true"``).
    Values are limited to 65,536 characters.

    Raises:
        InvalidArgumentError: A key already has another value, or a value is too long.
    """
    get_client().log_params(_run_id(), params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log one metric point of the active run.

    The point is buffered and written in a batch (within ``KEEL_FLUSH_INTERVAL`` seconds, at
    run end, before reads, and at exit). NaN and infinities are kept. Without ``step``, the
    step is one more than the last step logged for this key in this process (0 first).
    """
    get_client().log_metric(_run_id(), key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metric points of the active run at one step."""
    get_client().log_metrics(_run_id(), metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run (tags, unlike params, can change)."""
    get_client().set_tags(_run_id(), {key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags of the active run."""
    get_client().set_tags(_run_id(), tags)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None
) -> list[ArtifactEntry]:
    """Upload a file or a folder into the active run's artifacts.

    Content is stored once per digest. ``artifact_path`` is a folder inside the run's namespace;
    absolute paths, ``..`` and symlinks leading out of a logged folder are rejected.
    """
    return get_client().log_artifact(_run_id(), local_path, artifact_path)


def log_dict(obj: Any, artifact_file: str) -> ArtifactEntry:
    """Store ``obj`` as a JSON artifact file of the active run.

    NumPy arrays and scalars are written as lists and numbers; any other object JSON cannot
    encode is an error (it would not read back as what was logged).
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"Cannot write {artifact_file!r} as JSON: {exc}.") from exc
    return get_client().log_bytes(_run_id(), text.encode(), artifact_file)


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)  # NumPy arrays and scalars
    if callable(tolist):
        return tolist()
    raise TypeError(
        f"Object of type {type(value).__name__} is not JSON serializable; convert it to "
        "lists, dicts, strings and numbers first"
    )


def log_text(text: str, artifact_file: str) -> ArtifactEntry:
    """Store ``text`` (UTF-8) as an artifact file of the active run."""
    return get_client().log_bytes(_run_id(), text.encode(), artifact_file)


def _node(obj: Any, id: str | None) -> tuple[str, str]:
    if id is not None:
        if not isinstance(obj, str):
            raise InvalidArgumentError(
                f"With an id, the first argument is a kind string, got {obj!r}."
            )
        return obj, id
    node = getattr(obj, "lineage_node", None)
    if callable(node):
        kind, ident = node()
        return str(kind), str(ident)
    if isinstance(obj, tuple) and len(obj) == 2:
        return str(obj[0]), str(obj[1])
    raise InvalidArgumentError(
        f"Cannot record {obj!r} as a run input or output: pass an object with a lineage_node() "
        "method (a dataset version, a model version) or a kind and an id."
    )


def log_input(obj: Any, id: str | None = None, *, role: str | None = None) -> None:
    """Record that the active run read ``obj`` (a lineage edge ``obj -> run``).

    ``obj`` is an object with a ``lineage_node()`` method, a ``(kind, id)`` pair, or a kind
    with ``id`` given separately: ``keel.log_input("dataset_version", "tx@v3")``.
    """
    get_client().log_io(_run_id(), _node(obj, id), "input", role)


def log_output(obj: Any, id: str | None = None, *, role: str | None = None) -> None:
    """Record that the active run produced ``obj`` (a lineage edge ``run -> obj``)."""
    get_client().log_io(_run_id(), _node(obj, id), "output", role)


def get_run(run_id: str) -> Run:
    """Return a run with its latest metrics, params and tags.

    Raises:
        NotFoundError: No run has that id.
    """
    return get_client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Return every point of a run's metric, by step.

    Raises:
        NotFoundError: No such run, or it has no metric ``key``.
    """
    return get_client().get_metric_history(run_id, key)


@overload
def search_runs(
    experiments: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: list[str] | None = ...,
    max_results: int = ...,
    page_token: str | None = ...,
    output: Literal["list"] = ...,
) -> RunList: ...


@overload
def search_runs(
    experiments: str | Sequence[str] | None = ...,
    filter: str | None = ...,
    order_by: list[str] | None = ...,
    max_results: int = ...,
    page_token: str | None = ...,
    *,
    output: Literal["pandas"],
) -> Any: ...


def search_runs(
    experiments: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: list[str] | None = None,
    max_results: int = 100_000,
    page_token: str | None = None,
    output: Literal["list", "pandas"] = "list",
) -> RunList | Any:
    """Find runs with a filter, compiled to SQL.

    Args:
        experiments: Experiment names or ids; the current experiment by default.
        filter: For example ``"metrics.auc > 0.9 and params.depth = '6'"``. Fields are
            ``metrics.``, ``params.``, ``tags.`` and ``attributes.`` (``status``, ``run_name``,
            ``user``, ``start_time`` ...); operators ``= != < <= > >= like ilike``; clauses
            joined by ``and``.
        order_by: For example ``["metrics.auc DESC", "attributes.start_time"]``.
        max_results: Page size.
        page_token: ``next_page_token`` of the previous page.
        output: ``"list"`` for :class:`Run` objects, ``"pandas"`` for a DataFrame with one row
            per run and ``metrics.*``, ``params.*``, ``tags.*`` columns.

    Raises:
        InvalidArgumentError: The filter or ordering is malformed (the message says where).
        NotFoundError: An experiment does not exist.
    """
    if output not in ("list", "pandas"):
        raise InvalidArgumentError(f"output must be 'list' or 'pandas', got {output!r}.")
    client = get_client()
    exps: str | Sequence[str] = experiments if experiments is not None else _experiment_id()
    runs, token = client.search_runs(exps, filter, order_by, max_results, page_token)
    if output == "pandas":
        import pandas as pd

        frame = pd.DataFrame([r.to_flat_dict() for r in runs])
        frame.attrs["next_page_token"] = token
        return frame
    result = RunList(runs)
    result.next_page_token = token
    return result


def list_artifacts(run_id: str, path: str | None = None) -> list[ArtifactEntry]:
    """Return a run's artifact files (under ``path`` if given)."""
    return get_client().list_artifacts(run_id, path)


def download_artifacts(
    run_id: str, path: str | None = None, dst_path: str | os.PathLike[str] | None = None
) -> Path:
    """Download a run's artifact file or folder (digests verified); return the local path."""
    return get_client().download_artifacts(run_id, path, dst_path)


def load_dict(run_id: str, artifact_file: str) -> Any:
    """Read back a JSON artifact written by :func:`log_dict`."""
    return json.loads(get_client().read_artifact(run_id, artifact_file))

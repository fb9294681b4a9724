"""``TrackingClient``: the tracking API over one metadata store and one artifact store."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keel._utils import now_ms, validate_key
from keel.artifacts import (
    ArtifactStore,
    check_local_source,
    iter_folder,
    join_artifact_path,
    normalize_artifact_path,
    open_artifact_store,
)
from keel.config import Settings, get_settings
from keel.errors import InvalidArgumentError, NotFoundError
from keel.store import (
    ArtifactEntry,
    Experiment,
    Metric,
    NewRun,
    Run,
    RunInfo,
    RunStatus,
)
from keel.store._rest import is_remote_uri, open_metadata_store, remote_artifact_store
from keel.store._runids import resolve_run_prefix
from keel.tracking._buffer import MetricBuffer
from keel.tracking._environment import git_info, package_snapshot, process_identity, source_file

__all__ = ["TrackingClient", "get_client", "reset_client", "stringify_param"]


def stringify_param(value: Any) -> str:
    """Turn a param value into the text Keel stores.

    Strings are kept as they are. Everything else is written as JSON (``6`` -> ``"6"``,
    ``0.1`` -> ``"0.1"``, ``True`` -> ``"true"``, ``None`` -> ``"null"``,
    ``[1, 2]`` -> ``"[1, 2]"``, dict keys sorted); values JSON cannot encode use ``str()``.
    NumPy scalars are stored like the Python number they hold.
    """
    if isinstance(value, str):
        return value
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # NumPy scalar -> Python scalar
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _metric_value(key: str, value: Any) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidArgumentError(
            f"Metric {key!r} must be a number, got {value!r}. Log text as a tag or artifact."
        )
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"Metric {key!r} must be a number, got {value!r}.") from exc


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int64(key: str, what: str, value: Any) -> int:
    # A point the database cannot store would fail every later flush of the buffer, so refuse
    # it here: an integer (not a bool) that fits the 64-bit columns.
    if not isinstance(value, bool) and hasattr(value, "__index__"):
        number = int(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    raise InvalidArgumentError(
        f"Metric {key!r}: {what} must be an integer between -2**63 and 2**63 - 1, got {value!r}."
    )


class TrackingClient:
    """Experiments, runs, params, metrics, tags, artifacts and lineage over the stores.

    Args:
        settings: Where the stores are; the current settings by default.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        #: Whether the stores are a remote ``keel server``'s (``KEEL_TRACKING_URI=http...``).
        self.remote = is_remote_uri(self.settings.tracking_uri)
        self.store = open_metadata_store(self.settings)
        self._artifacts: ArtifactStore | None = None
        self.buffer = MetricBuffer(
            self.store, self.settings.flush_interval, self.settings.flush_size
        )
        self._steps: dict[tuple[str, str], int] = {}
        self._known_runs: set[str] = set()  # runs known to exist (log_metric checks others once)
        self._env_digest: str | None = None

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store, opened on first use."""
        if self._artifacts is None and self.remote:
            self._artifacts = remote_artifact_store(self.store)
        if self._artifacts is None:
            self._artifacts = open_artifact_store(
                self.settings.artifact_uri, s3_endpoint_url=self.settings.s3_endpoint_url
            )
        return self._artifacts

    def flush(self) -> None:
        """Write buffered metric points now."""
        self.buffer.flush()

    def close(self) -> None:
        """Flush and release the stores."""
        self.buffer.close()
        self.store.close()

    # -- experiments ------------------------------------------------------------------------

    def get_or_create_experiment(self, name: str) -> Experiment:
        """Return the experiment ``name``, creating it if needed."""
        return self.store.get_or_create_experiment(name)

    def resolve_experiments(self, experiments: str | Sequence[str]) -> list[Experiment]:
        """Turn experiment names or ids into experiments.

        Raises:
            NotFoundError: A name or id matches no experiment.
        """
        items = [experiments] if isinstance(experiments, str) else list(experiments)
        found = []
        for item in items:
            try:
                found.append(self.store.get_experiment_by_name(item))
            except NotFoundError:
                try:
                    found.append(self.store.get_experiment(item))
                except NotFoundError:
                    found.append(self.store.get_experiment_by_name(item))  # raises, near names
        return found

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
    ) -> RunInfo:
        """Start a run, capturing source, git commit, Python and packages, and process identity."""
        src = source_file()
        git = git_info(str(Path(src).parent)) if src and os.path.exists(src) else None
        host, pid, started = process_identity()
        info = self.store.create_run(
            NewRun(
                experiment_id=experiment_id,
                name=name,
                tags={k: stringify_param(v) for k, v in (tags or {}).items()},
                parent_run_id=parent_run_id,
                user=self.settings.user,
                source=src,
                git_commit=git.commit if git else None,
                git_dirty=git.dirty if git else None,
                python_version=sys.version.split()[0],
                environment_digest=self._environment_digest(),
                hostname=host,
                pid=pid,
                process_start=started,
            )
        )
        self._known_runs.add(info.id)
        return info

    def _environment_digest(self) -> str:
        if self._env_digest is None:
            self._env_digest = self.artifacts.put_bytes(package_snapshot(_user_cache_dir()))
        return self._env_digest

    def end_run(
        self,
        run_id: str,
        status: RunStatus = RunStatus.FINISHED,
        resources: tuple[float, float, int] | None = None,
    ) -> None:
        """Mark a run ended with its resource use, writing buffered metrics in the same commit."""
        wall, cpu, rss = resources if resources else (None, None, None)
        self.buffer.flush(
            lambda points: self.store.end_run(
                run_id, status, wall_time_s=wall, cpu_time_s=cpu, peak_rss_bytes=rss, metrics=points
            )
        )

    def get_run(self, run_id: str) -> Run:
        """Return a run with its data (flushing buffered metrics first)."""
        self.flush()
        return self.store.get_run(run_id)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Return every point of a metric (flushing buffered metrics first)."""
        self.flush()
        return self.store.get_metric_history(run_id, key)

    def search_runs(
        self,
        experiments: str | Sequence[str],
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 100_000,
        page_token: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """Search runs of the named experiments; see :mod:`keel.store` for the filter language."""
        self.flush()
        ids = [e.id for e in self.resolve_experiments(experiments)]
        return self.store.search_runs(ids, filter, order_by, max_results, page_token)

    def resolve_run_id(self, run_id: str) -> str:
        """Expand a unique prefix of a run id (as the CLI shows) into the full id.

        Raises:
            NotFoundError: No run, or more than one, starts with the prefix.
        """
        return resolve_run_prefix(self.store, run_id)

    # -- params, metrics, tags --------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Record params (values stringified by :func:`stringify_param`)."""
        self.store.log_params(run_id, {k: stringify_param(v) for k, v in params.items()})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Set tags (values stringified by :func:`stringify_param`)."""
        self.store.set_tags(run_id, {k: stringify_param(v) for k, v in tags.items()})

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: Any,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Buffer one metric point; see :func:`keel.log_metric`.

        Raises:
            NotFoundError: The run does not exist (checked at its first point).
            InvalidArgumentError: The name, value, step or timestamp cannot be stored.
        """
        validate_key("metric", key)
        v = _metric_value(key, value)
        ident = (run_id, key)
        last = self._steps.get(ident)
        if last is None and run_id not in self._known_runs:
            # First point of a run this client did not start: fail now, naming the id, rather
            # than at a later flush. One query per such run; none for runs started here.
            self.store.get_run_info(run_id)
            self._known_runs.add(run_id)
        if step is None:
            step = 0 if last is None else last + 1
        elif type(step) is not int or not _INT64_MIN <= step <= _INT64_MAX:
            step = _int64(key, "step", step)
        if timestamp is None:
            timestamp = now_ms()
        elif type(timestamp) is not int or not _INT64_MIN <= timestamp <= _INT64_MAX:
            timestamp = _int64(key, "timestamp", timestamp)
        if last is None or step > last:
            self._steps[ident] = step
        self.buffer.add((run_id, key, v, step, timestamp))

    def log_metrics(self, run_id: str, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer several metric points at one step."""
        ts = now_ms()
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step=step, timestamp=ts)

    # -- artifacts --------------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        """Upload a file or a folder into the run's namespace.

        A file lands at ``artifact_path/<file name>``; a folder's files at
        ``artifact_path/<folder name>/...``.

        Raises:
            NotFoundError: ``local_path`` does not exist.
            ArtifactPathError: ``artifact_path`` escapes the run's namespace, or the folder has
                a symlink pointing outside it.
        """
        source = check_local_source(local_path)
        base = normalize_artifact_path(artifact_path)
        self.store.get_run_info(run_id)  # fail on an unknown run before uploading anything
        if source.is_file():
            files = [(source, join_artifact_path(base, normalize_artifact_path(source.name)))]
        else:
            prefix = join_artifact_path(base, normalize_artifact_path(source.resolve().name))
            files = [
                (f, join_artifact_path(prefix, normalize_artifact_path(rel)))
                for f, rel in iter_folder(source)
            ]
        entries = []
        for file, path in files:
            digest, size = self.artifacts.put_file(file)
            entries.append(ArtifactEntry(path, digest, size))
        self.store.add_artifacts(run_id, entries)
        return entries

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> ArtifactEntry:
        """Store bytes as the file ``artifact_file`` of the run."""
        path = normalize_artifact_path(artifact_file)
        if not path:
            raise InvalidArgumentError(f"artifact_file must name a file, got {artifact_file!r}.")
        self.store.get_run_info(run_id)
        entry = ArtifactEntry(path, self.artifacts.put_bytes(data), len(data))
        self.store.add_artifacts(run_id, [entry])
        return entry

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactEntry]:
        """Return the files of a run under ``path`` (all of them by default)."""
        return self.store.list_artifacts(run_id, normalize_artifact_path(path))

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """Return one artifact file's bytes, verified against its digest.

        Raises:
            NotFoundError: The run has no such file.
            IntegrityError: The stored bytes were altered.
        """
        norm = normalize_artifact_path(path)
        for entry in self.store.list_artifacts(run_id, norm):
            if entry.path == norm:
                return self.artifacts.get_bytes(entry.digest)
        raise self._no_artifact(run_id, norm)

    def download_artifacts(
        self, run_id: str, path: str | None = None, dst_path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Download a run's file or folder, verifying every digest; return the local path."""
        norm = normalize_artifact_path(path)
        entries = self.store.list_artifacts(run_id, norm)
        if not entries:
            raise self._no_artifact(run_id, norm)
        dest_root = (
            Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="keel-"))
        )
        for entry in entries:
            self.artifacts.download(entry.digest, dest_root / entry.path)
        return dest_root / norm if norm else dest_root

    def _no_artifact(self, run_id: str, path: str) -> NotFoundError:
        from keel.errors import near_matches

        known = [e.path for e in self.store.list_artifacts(run_id)]
        return NotFoundError(
            f"Run {run_id!r} has no artifact {path!r}.{near_matches(path, known)} "
            f"It has {len(known)} file(s); list them with keel.list_artifacts({run_id!r}).",
            details={"run_id": run_id, "path": path},
        )

    # -- lineage ----------------------------------------------------------------------------

    def log_io(self, run_id: str, node: tuple[str, str], direction: str, role: str | None) -> None:
        """Record a run input (``node -> run``) or output (``run -> node``) in the lineage graph."""
        props = {"role": role} if role else {}
        if direction == "input":
            self.store.add_lineage_edge(node, ("run", run_id), "input", props)
        else:
            self.store.add_lineage_edge(("run", run_id), node, "output", props)


def _user_cache_dir() -> Path:
    """Per-user cache folder (``$XDG_CACHE_HOME/keel``, else ``~/.cache/keel``).

    Outside KEEL_HOME on purpose: what it caches belongs to the Python environment, which
    every store used from that environment shares.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "keel"


_client: TrackingClient | None = None
_client_lock = threading.Lock()


def get_client() -> TrackingClient:
    """Return the process's client for the current settings, creating it on first use."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = TrackingClient()
    return _client


def reset_client() -> None:
    """Flush and close the current client; the next :func:`get_client` opens a new one."""
    global _client
    with _client_lock:
        if _client is not None:
            try:
                _client.close()
            finally:
                _client = None


def _after_fork_in_child() -> None:
    global _client
    if _client is not None:
        _client.buffer.discard_after_fork()
        if not _client.remote:  # a remote store opens a new connection pool per process
            _client.store.engine.dispose(close=False)
    _client = None


os.register_at_fork(after_in_child=_after_fork_in_child)

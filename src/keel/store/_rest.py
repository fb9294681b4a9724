"""The metadata and artifact stores of a remote ``keel server``, over its REST API.

Chosen by URI scheme like every other backend: when ``KEEL_TRACKING_URI`` is an ``http(s)://``
URL, :func:`open_tracking_stores` returns a :class:`RestMetadataStore` and a
:class:`RestArtifactStore` instead of the SQL store and the local/S3 artifact store, so the
tracking and registry code above them runs unchanged (as MLflow's ``RestStore``). They live in
``store`` (layer 1) rather than ``client`` (layer 5) because tracking (layer 2) must open them.

Errors come back as ``{"error_code", "message", "details"}`` and are raised again as the same
Keel class. Uploads and downloads are streamed; with an S3 artifact store the server hands out
presigned URLs and the bytes go straight to the object store. Every downloaded blob is
verified against its digest here, on the client, so tampered bytes are refused.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from keel._utils import validate_key
from keel._version import __version__
from keel.artifacts.base import CHUNK, ArtifactStore, check_digest, sha256_file
from keel.config import Settings
from keel.errors import (
    HTTP_STATUS,
    InvalidArgumentError,
    KeelError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    StoreUnavailableError,
    error_from_code,
    near_matches,
)
from keel.store._sql import MetricPoint, NewRun, SqlMetadataStore, _check_value
from keel.store.entities import (
    ArtifactEntry,
    Experiment,
    LineageEdge,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)

if TYPE_CHECKING:
    from keel.store._registry import GateResultRecord, PromotionRecord

__all__ = [
    "RemoteUnsupportedError",
    "RestArtifactStore",
    "RestMetadataStore",
    "RestTransport",
    "is_remote_uri",
    "open_metadata_store",
    "remote_artifact_store",
]

#: Metric points per request: keeps each body well under the server's limit.
_POINTS_PER_REQUEST = 20_000


class RemoteUnsupportedError(InvalidArgumentError, AttributeError):
    """A store call that has no REST route yet (an ``AttributeError`` too, for ``hasattr``)."""


def is_remote_uri(uri: str | None) -> bool:
    """Whether ``uri`` names a ``keel server`` (``http://`` or ``https://``)."""
    return bool(uri) and str(uri).startswith(("http://", "https://"))


def open_metadata_store(settings: Settings) -> SqlMetadataStore:
    """Open the metadata store the settings name, chosen by the tracking URI's scheme.

    ``http(s)://`` gives a :class:`RestMetadataStore` on that server (typed as the SQL store
    it stands in for: it has the same tracking calls, and the others raise a clear error);
    anything else the :class:`~keel.store.SqlMetadataStore` of ``settings.store_uri``.
    """
    if is_remote_uri(settings.tracking_uri):
        rest = RestMetadataStore(
            str(settings.tracking_uri),
            settings.token,
            project=settings.project,
            actor=settings.user,
        )
        return cast(SqlMetadataStore, rest)
    return SqlMetadataStore(settings.store_uri, actor=settings.user)


def remote_artifact_store(store: SqlMetadataStore) -> ArtifactStore:
    """The artifact store of the server behind a store from :func:`open_metadata_store`.

    Raises:
        InvalidArgumentError: ``store`` is not a remote store.
    """
    rest: object = store
    if not isinstance(rest, RestMetadataStore):
        raise InvalidArgumentError("remote_artifact_store needs a RestMetadataStore.")
    return RestArtifactStore(rest.http)


class RestTransport:
    """HTTP to one server: the token, JSON with NaN, and errors turned back into Keel errors.

    Args:
        base_url: The server's URL (``http://127.0.0.1:5000``).
        token: The API token, sent as ``Authorization: Bearer``.
        timeout: Seconds to wait for a response.
    """

    def __init__(self, base_url: str, token: str | None, timeout: float = 120.0) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx is a dependency
            raise MissingDependencyError.for_extra("httpx", "server", "remote client") from exc
        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._client: Any = None
        self._pid = -1
        self._lock = threading.Lock()

    def _http(self) -> Any:
        # One pooled client per process: a forked child must not share the parent's sockets.
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    headers = {"User-Agent": f"keel/{__version__}"}
                    if self._token:
                        headers["Authorization"] = f"Bearer {self._token}"
                    self._client = self._httpx.Client(
                        base_url=self.base_url, headers=headers, timeout=self.timeout
                    )
                    self._pid = os.getpid()
        return self._client

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        content: Any = None,
        content_type: str | None = None,
        stream: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a request to ``/api/v1`` + ``path``; return the decoded JSON (or the response).

        Raises:
            KeelError: The server answered with an error; its class is rebuilt from the code.
            StoreUnavailableError: The server cannot be reached.
        """
        headers = dict(headers or {})
        if body is not None:
            content = json.dumps(body, allow_nan=True, separators=(",", ":"))
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        url = "/api/v1" + path
        try:
            if stream:
                req = self._http().build_request(
                    method, url, params=params, content=content, headers=headers
                )
                resp = self._http().send(req, stream=True, follow_redirects=True)
                if resp.status_code >= 400:
                    resp.read()
                    raise self._error(resp)
                return resp
            resp = self._http().request(
                method, url, params=params, content=content, headers=headers
            )
        except self._httpx.TransportError as exc:
            raise StoreUnavailableError(
                f"Cannot reach the Keel server at {self.base_url!r}: {exc}. Check "
                "KEEL_TRACKING_URI and that 'keel server' is running.",
                details={"url": self.base_url},
            ) from exc
        if resp.status_code >= 400:
            raise self._error(resp)
        if not resp.content:
            return {}
        return json.loads(resp.content)

    def _error(self, resp: Any) -> KeelError:
        try:
            payload = json.loads(resp.content)
            code = str(payload["error_code"])
            message = str(payload["message"])
            details = payload.get("details") or {}
        except (ValueError, KeyError, TypeError):
            code, message, details = "keel-error", resp.text[:500], {}
        details = {**details, "status": resp.status_code}
        if code not in HTTP_STATUS:
            # A body that is not Keel's (a proxy in between): the status picks the class.
            code = _CODE_OF_STATUS.get(resp.status_code, code)
        return error_from_code(code, message, details)


_CODE_OF_STATUS = {
    401: "unauthenticated",
    413: "request-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    404: "not-found",
    403: "permission-denied",
    503: "store-unavailable",
}


# -- conversions ----------------------------------------------------------------------------


def _info(d: dict[str, Any]) -> RunInfo:
    d = dict(d)
    d["status"] = RunStatus(d["status"])
    return RunInfo(**d)


def _run(d: dict[str, Any]) -> Run:
    data = d["data"]
    metrics = {k: (math.nan if v is None else float(v)) for k, v in data["metrics"].items()}
    return Run(_info(d["info"]), RunData(metrics, dict(data["params"]), dict(data["tags"])))


def _experiment(d: dict[str, Any]) -> Experiment:
    return Experiment(
        d["id"], d["name"], d["description"], d["created_at"], d.get("lifecycle_stage", "active")
    )


class RestMetadataStore:
    """The tracking part of the metadata store, served by a remote ``keel server``.

    It offers the calls :class:`~keel.tracking.TrackingClient` and the registry make, with the
    same signatures and errors as :class:`~keel.store.SqlMetadataStore`. Capabilities that
    need the SQL store itself say so when they touch it.

    Args:
        uri: The server's URL.
        token: The API token (``KEEL_TOKEN``).
        project: The project new experiments are created in (``KEEL_PROJECT``).
        actor: Kept for symmetry; the server records the token's user as the actor.
    """

    def __init__(
        self, uri: str, token: str | None, *, project: str = "default", actor: str = "local"
    ) -> None:
        self.uri = uri
        self.actor = actor
        self.project = project
        self.http = RestTransport(uri, token)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise RemoteUnsupportedError(
            f"'{name}' of the metadata store is not available against a Keel server "
            f"({self.uri!r}) in this version. Run this on the server's host with "
            "KEEL_TRACKING_URI unset, or use the REST API."
        )

    def close(self) -> None:
        """Close the connections to the server."""
        self.http.close()

    # -- experiments ------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str = "") -> Experiment:
        """Create an experiment in the configured project."""
        validate_key("experiment", name)
        body = {"name": name, "description": description, "project": self.project}
        return _experiment(self.http.request("POST", "/experiments", body=body))

    def get_or_create_experiment(self, name: str) -> Experiment:
        """Return the experiment ``name``, creating it if needed (safe under races)."""
        from keel.errors import AlreadyExistsError

        try:
            return self.get_experiment_by_name(name)
        except NotFoundError:
            pass
        try:
            return self.create_experiment(name)
        except AlreadyExistsError as exc:
            try:
                return self.get_experiment_by_name(name)
            except NotFoundError:
                raise PermissionDeniedError(
                    f"An experiment named {name!r} exists in a project this token has no role "
                    "in. Choose another name, or ask that project's admin for a role.",
                    details={"name": name},
                ) from exc

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment by id."""
        return _experiment(self.http.request("GET", f"/experiments/{_seg(experiment_id)}"))

    def get_experiment_by_name(self, name: str) -> Experiment:
        """Return an experiment by name (among those the token can read)."""
        found = self.http.request("GET", "/experiments", params={"name": name})["experiments"]
        if found:
            return _experiment(found[0])
        names = [e.name for e in self.list_experiments()]
        raise NotFoundError(
            f"No experiment is named {name!r}.{near_matches(name, names)} "
            "List experiments with 'keel experiments ls'.",
            details={"name": name},
        )

    def count_runs(self, experiment_ids: list[str]) -> dict[str, int]:
        """Return the number of active runs in each experiment (of those the token can read)."""
        wanted = set(experiment_ids)
        out = self.http.request("GET", "/experiments")["experiments"]
        return {e["id"]: int(e.get("run_count", 0)) for e in out if e["id"] in wanted}

    def list_experiments(self) -> list[Experiment]:
        """Return the experiments the token can read."""
        return [_experiment(e) for e in self.http.request("GET", "/experiments")["experiments"]]

    # -- runs -------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> RunInfo:
        """Create a run in state RUNNING."""
        body = {
            k: getattr(new, k)
            for k in (
                "experiment_id",
                "name",
                "tags",
                "parent_run_id",
                "source",
                "git_commit",
                "git_dirty",
                "python_version",
                "environment_digest",
                "hostname",
                "pid",
                "process_start",
                "start_time",
            )
        }
        body["tags"] = body["tags"] or {}
        return _info(self.http.request("POST", "/runs", body=body))

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        end_time: int | None = None,
        wall_time_s: float | None = None,
        cpu_time_s: float | None = None,
        peak_rss_bytes: int | None = None,
        metrics: Sequence[MetricPoint] = (),
    ) -> None:
        """Mark a run ended; the metric points are written in the same transaction."""
        points = list(metrics)
        # Very large final batches go first in pieces; the last piece ends the run.
        while len(points) > _POINTS_PER_REQUEST:
            self.log_metrics(points[:_POINTS_PER_REQUEST])
            points = points[_POINTS_PER_REQUEST:]
        body = {
            "status": RunStatus(status).value,
            "end_time": end_time,
            "wall_time_s": wall_time_s,
            "cpu_time_s": cpu_time_s,
            "peak_rss_bytes": peak_rss_bytes,
            "metrics": [list(p) for p in points],
        }
        self.http.request("PATCH", f"/runs/{_seg(run_id)}", body=body)

    def get_run_info(self, run_id: str) -> RunInfo:
        """Return a run's info."""
        return self.get_run(run_id).info

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags."""
        return _run(self.http.request("GET", f"/runs/{_seg(run_id)}"))

    def find_runs(self, prefix: str) -> list[str]:
        """Return the ids of runs whose id starts with ``prefix``."""
        return list(self.http.request("GET", "/runs", params={"prefix": prefix})["run_ids"])

    # -- params, tags, metrics --------------------------------------------------------------

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params (names and values checked here, as the SQL store checks them)."""
        params = {validate_key("param", k): _check_value("param", k, v) for k, v in params.items()}
        if params:
            self.http.request("POST", f"/runs/{_seg(run_id)}/params", body={"params": params})

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags (names and values checked here, as the SQL store checks them)."""
        tags = {validate_key("tag", k): _check_value("tag", k, v) for k, v in tags.items()}
        if tags:
            self.http.request("POST", f"/runs/{_seg(run_id)}/tags", body={"tags": tags})

    def log_metrics(self, points: Sequence[MetricPoint]) -> None:
        """Append metric points of any runs: one transaction per request, as the SQL store.

        A batch naming a run that does not exist fails whole with a ``NotFoundError`` whose
        details name the run, so the metric buffer can drop those points and write the rest.
        """
        rows = [list(p) for p in points]
        for i in range(0, len(rows), _POINTS_PER_REQUEST):
            self.http.request(
                "POST", "/metric-batches", body={"points": rows[i : i + _POINTS_PER_REQUEST]}
            )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Return every point of one metric of a run."""
        rows = self.http.request("GET", f"/runs/{_seg(run_id)}/metrics/{_seg(key)}")["metrics"]
        return [
            Metric(
                m["key"], math.nan if m["value"] is None else m["value"], m["step"], m["timestamp"]
            )
            for m in rows
        ]

    def search_runs(
        self,
        experiment_ids: list[str],
        filter_text: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 100_000,
        page_token: str | None = None,
    ) -> tuple[list[Run], str | None]:
        """Search runs with the filter language of :mod:`keel.store._search`."""
        body = {
            "experiment_ids": experiment_ids,
            "filter": filter_text,
            "order_by": order_by,
            "max_results": max_results,
            "page_token": page_token,
        }
        out = self.http.request("POST", "/runs/search", body=body)
        return [_run(r) for r in out["runs"]], out["next_page_token"]

    # -- artifacts --------------------------------------------------------------------------

    def add_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry] | Any) -> None:
        """Record files (already uploaded as blobs) in a run's namespace."""
        rows = [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries]
        if rows:
            self.http.request("POST", f"/runs/{_seg(run_id)}/artifacts", body={"entries": rows})

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Return the files of a run under ``prefix``."""
        out = self.http.request("GET", f"/runs/{_seg(run_id)}/artifacts", params={"prefix": prefix})
        return [ArtifactEntry(a["path"], a["digest"], a["size"]) for a in out["artifacts"]]

    # -- lineage ----------------------------------------------------------------------------

    def add_lineage_edge(
        self,
        source: tuple[str, str],
        target: tuple[str, str],
        relation: str,
        properties: dict[str, Any] | None = None,
    ) -> None:
        """Add ``source -> target`` to the lineage graph."""
        body = {
            "source": {"kind": source[0], "id": source[1]},
            "target": {"kind": target[0], "id": target[1]},
            "relation": relation,
            "properties": properties or {},
        }
        self.http.request("POST", "/lineage-edges", body=body)

    def list_lineage_edges(
        self, node: tuple[str, str], direction: str = "both"
    ) -> list[LineageEdge]:
        """Return the edges into, out of, or around a node."""
        out = self.http.request(
            "GET",
            "/lineage-edges",
            params={"kind": node[0], "id": node[1], "direction": direction},
        )
        return [LineageEdge(**e) for e in out["edges"]]


def _seg(value: str) -> str:
    """Quote one path segment (``/`` and ``..`` cannot reach another route)."""
    from urllib.parse import quote

    return quote(str(value), safe="")


class RestArtifactStore(ArtifactStore):
    """Blobs of a remote server's artifact store; every read is verified here.

    Args:
        transport: The server connection (shared with :class:`RestMetadataStore`).
    """

    def __init__(self, transport: RestTransport) -> None:
        self.http = transport
        self.uri = transport.base_url + "/api/v1/blobs"

    def _upload(self, digest: str, size: int, content: Any) -> None:
        plan = self.http.request("POST", "/blobs/uploads", body={"digest": digest, "size": size})
        if plan.get("exists"):
            return
        if plan.get("url"):
            # Straight to the object store with the presigned URL: no token goes there.
            import httpx

            resp = httpx.put(
                plan["url"],
                content=content,
                headers={"Content-Length": str(size), **(plan.get("headers") or {})},
                timeout=self.http.timeout,
            )
            if resp.status_code >= 400:
                raise StoreUnavailableError(
                    f"The object store refused the upload of {digest!r} (HTTP {resp.status_code}).",
                    details={"digest": digest},
                )
            return
        self.http.request(
            "PUT",
            f"/blobs/{digest}",
            content=content,
            content_type="application/octet-stream",
            headers={"Content-Length": str(size)},
        )

    def put_file(self, path: Path) -> tuple[str, int]:
        """Hash a file, then stream it to the server unless the blob is stored already."""
        path = Path(path)
        digest, size = sha256_file(path)
        with path.open("rb") as f:
            self._upload(digest, size, _chunks(f))
        return digest, size

    def put_bytes(self, data: bytes) -> str:
        """Send bytes unless the blob is stored already; return their digest."""
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        self._upload(digest, len(data), data)
        return digest

    def exists(self, digest: str) -> bool:
        """Whether the server stores the blob."""
        plan = self.http.request(
            "POST", "/blobs/uploads", body={"digest": check_digest(digest), "size": 0}
        )
        return bool(plan.get("exists"))

    def _open_raw(self, digest: str) -> BinaryIO:
        # Spooled: small blobs stay in memory, large ones go to a temp file, never whole in RAM.
        out = tempfile.SpooledTemporaryFile(max_size=8 * CHUNK)  # noqa: SIM115 - returned open
        try:
            resp = self.http.request("GET", f"/blobs/{digest}", stream=True)
        except NotFoundError as exc:
            out.close()
            raise FileNotFoundError(digest) from exc
        try:
            for chunk in resp.iter_bytes(CHUNK):
                out.write(chunk)
        finally:
            resp.close()
        out.seek(0)
        return cast(BinaryIO, out)

    def _unsupported(self, what: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"{what} is not available through a Keel server ({self.http.base_url!r}); run it "
            "on the server's host ('keel doctor', 'keel gc')."
        )

    def delete(self, digest: str) -> None:
        """Not available remotely."""
        raise self._unsupported("Deleting blobs")

    def quarantine(self, digest: str) -> None:
        """Not available remotely."""
        raise self._unsupported("Quarantining blobs")

    def iter_digests(self) -> Iterator[str]:
        """Not available remotely."""
        raise self._unsupported("Listing blobs")

    def size(self, digest: str) -> int:
        """Not available remotely."""
        raise self._unsupported("Blob sizes")


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


class RestRegistryRepository:
    """The registry repository of a remote server, with the calls of ``RegistryRepository``.

    Promotion and gate checks are not recorded from here: :meth:`promote` and
    :meth:`check_gates` ask the server to run the gates itself.

    Args:
        store: The remote metadata store (its connection and project are reused).
    """

    def __init__(self, store: SqlMetadataStore) -> None:
        rest: object = store
        if not isinstance(rest, RestMetadataStore):
            raise InvalidArgumentError("RestRegistryRepository needs a RestMetadataStore.")
        self.store = rest
        self.http = rest.http

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise RemoteUnsupportedError(
            f"Registry call {name!r} is not available against a Keel server in this version."
        )

    def _m(self, name: str) -> str:
        return f"/models/{_seg(name)}"

    # -- models -----------------------------------------------------------------------------

    def create_model(
        self, name: str, *, description: str = "", intended_use: str = "", actor: str = ""
    ) -> Any:
        """Register a model in the configured project."""
        from keel.store._registry import RegisteredModelRecord

        body = {
            "name": name,
            "description": description,
            "intended_use": intended_use,
            "project": self.store.project,
        }
        return RegisteredModelRecord(**self.http.request("POST", "/models", body=body))

    def get_model(self, name: str) -> Any:
        """One registered model."""
        from keel.store._registry import RegisteredModelRecord

        return RegisteredModelRecord(**self.http.request("GET", self._m(name)))

    def list_models(self, name_like: str | None = None) -> list[Any]:
        """Registered models the token can read."""
        from keel.store._registry import RegisteredModelRecord

        params = {"name_like": name_like} if name_like else None
        out = self.http.request("GET", "/models", params=params)["models"]
        return [RegisteredModelRecord(**m) for m in out]

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        intended_use: str | None = None,
        holdout: dict[str, Any] | None = None,
    ) -> Any:
        """Change a model's description or intended use."""
        from keel.store._registry import RegisteredModelRecord

        if holdout is not None:
            raise InvalidArgumentError("Setting a holdout is not available through a server yet.")
        body = {"description": description, "intended_use": intended_use}
        return RegisteredModelRecord(**self.http.request("PATCH", self._m(name), body=body))

    # -- versions ---------------------------------------------------------------------------

    def _version(self, d: dict[str, Any]) -> Any:
        from keel.store._registry import ModelVersionRecord

        return ModelVersionRecord(**d)

    def create_version(self, new: Any) -> Any:
        """Register a version (the model is created in the configured project if new)."""
        body = {
            "run_id": new.run_id,
            "artifact_path": new.artifact_path,
            "flavor": new.flavor,
            "serialization": new.serialization,
            "manifest_digest": new.manifest_digest,
            "signature": new.signature,
            "description": new.description,
            "metrics": dict(new.metrics),
            "metric_source": new.metric_source,
            "project": self.store.project,
        }
        path = f"{self._m(new.model_name)}/versions"
        return self._version(self.http.request("POST", path, body=body))

    def get_version(self, name: str, version: int) -> Any:
        """One version."""
        return self._version(self.http.request("GET", f"{self._m(name)}/versions/{int(version)}"))

    def get_latest_version(self, name: str) -> Any:
        """The newest version."""
        return self._version(self.http.request("GET", f"{self._m(name)}/versions/latest"))

    def get_version_by_alias(self, name: str, alias: str) -> Any:
        """The version an alias points at."""
        return self._version(self.http.request("GET", f"{self._m(name)}/aliases/{_seg(alias)}"))

    def list_versions(self, name: str) -> list[Any]:
        """Every version, newest first."""
        out = self.http.request("GET", f"{self._m(name)}/versions")["versions"]
        return [self._version(v) for v in out]

    def resolve_manifest(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> Any:
        """The version a ``models:/`` URI names."""
        params: dict[str, Any] = {}
        if version is not None:
            params["version"] = version
        if alias is not None:
            params["alias"] = alias
        return self._version(self.http.request("GET", f"{self._m(name)}/manifests", params=params))

    def add_version_metrics(
        self, name: str, version: int, metrics: Any, source: str
    ) -> dict[str, float]:
        """Record metrics of a version."""
        path = f"{self._m(name)}/versions/{int(version)}/metrics"
        body = {"metrics": dict(metrics), "source": source}
        return dict(self.http.request("POST", path, body=body)["metrics"])

    # -- aliases ----------------------------------------------------------------------------

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        expected: Any = None,
        action: str,
        reason: str,
        actor: str = "",
    ) -> Any:
        """Set or delete an alias on the server."""
        from keel.store._registry import ANY_VERSION, AliasMoveRecord

        path = f"{self._m(name)}/aliases/{_seg(alias)}"
        if action == "delete" or version is None:
            out = self.http.request("DELETE", path, params={"reason": reason})
        else:
            body = {
                "version": version,
                "expected_version": None if expected is ANY_VERSION else expected,
                "any_version": expected is ANY_VERSION,
                "reason": reason,
            }
            out = self.http.request("PUT", path, body=body)
        return AliasMoveRecord(**out)

    def list_alias_history(self, name: str, alias: str | None = None) -> list[Any]:
        """Every move of the model's aliases."""
        from keel.store._registry import AliasMoveRecord

        params = {"alias": alias} if alias else None
        out = self.http.request("GET", f"{self._m(name)}/alias-history", params=params)
        return [AliasMoveRecord(**m) for m in out["moves"]]

    # -- gates, approvals, promotions -------------------------------------------------------

    def add_gate(
        self, name: str, gate_name: str, kind: str, spec: dict[str, Any], alias: str, actor: str
    ) -> tuple[Any, bool]:
        """Add a promotion gate."""
        from keel.store._registry import GateRecord

        body = {"name": gate_name, "kind": kind, "spec": spec, "alias": alias}
        out = self.http.request("POST", f"{self._m(name)}/gates", body=body)
        created = bool(out.pop("created"))
        return GateRecord(**out), created

    def remove_gate(self, name: str, gate_name: str, alias: str) -> None:
        """Remove a promotion gate."""
        path = f"{self._m(name)}/gates/{_seg(gate_name)}"
        self.http.request("DELETE", path, params={"alias": alias})

    def list_gates(self, name: str, alias: str | None = None) -> list[Any]:
        """The model's promotion gates."""
        from keel.store._registry import GateRecord

        params = {"alias": alias} if alias is not None else None
        out = self.http.request("GET", f"{self._m(name)}/gates", params=params)
        return [GateRecord(**g) for g in out["gates"]]

    def list_gate_results(
        self, name: str, version: int, *, promotion_id: str | None = None
    ) -> list[Any]:
        """Recorded gate results of a version."""
        from keel.store._registry import GateResultRecord

        path = f"{self._m(name)}/versions/{int(version)}/gate-results"
        results = [GateResultRecord(**r) for r in self.http.request("GET", path)["results"]]
        if promotion_id is not None:
            results = [r for r in results if r.promotion_id == promotion_id]
        return results

    def check_gates(self, name: str, version: int, alias: str) -> list[GateResultRecord]:
        """Have the server evaluate the gates (dry run) and record their results."""
        from keel.store._registry import GateResultRecord

        path = f"{self._m(name)}/versions/{int(version)}/gate-checks"
        out = self.http.request("POST", path, body={"to": alias})
        return [GateResultRecord(**r) for r in out["results"]]

    def promote(self, name: str, version: int, alias: str, reason: str) -> PromotionRecord:
        """Have the server run the gates and move the alias if they pass.

        Raises:
            ValidationFailedError: A gate failed (the server's error, raised again here).
        """
        from keel.store._registry import PromotionRecord

        path = f"{self._m(name)}/versions/{int(version)}/promotions"
        return PromotionRecord(
            **self.http.request("POST", path, body={"to": alias, "reason": reason})
        )

    def add_approval(
        self, name: str, version: int, role: str, approver: str, comment: str
    ) -> tuple[Any, bool]:
        """Approve a version as the token's user, in ``role``."""
        from keel.store._registry import ApprovalRecord

        path = f"{self._m(name)}/versions/{int(version)}/approvals"
        out = self.http.request("POST", path, body={"role": role, "comment": comment})
        created = bool(out.pop("created"))
        return ApprovalRecord(**out), created

    def list_approvals(self, name: str, version: int) -> list[Any]:
        """Approvals of a version."""
        from keel.store._registry import ApprovalRecord

        path = f"{self._m(name)}/versions/{int(version)}/approvals"
        return [ApprovalRecord(**a) for a in self.http.request("GET", path)["approvals"]]

    def list_promotions(self, name: str, version: int | None = None) -> list[Any]:
        """Promotion attempts."""
        from keel.store._registry import PromotionRecord

        params = {"version": version} if version is not None else None
        out = self.http.request("GET", f"{self._m(name)}/promotions", params=params)
        return [PromotionRecord(**p) for p in out["promotions"]]

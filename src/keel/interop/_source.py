"""Readers of an MLflow store, without MLflow: its SQL schema, its file layout, its REST API.

Each reader turns what it finds into the plain records below, so the importer does not know
which kind of store it reads. :func:`open_source` picks the reader from the URI:
``sqlite:///...`` / ``postgresql://...`` (SQLAlchemy core over MLflow's tables), a folder or
``file://`` URI (the ``mlruns`` layout of MLflow's file store), ``http(s)://`` (a tracking
server's REST API, read with :mod:`urllib`).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from keel.errors import InvalidArgumentError, NotFoundError, StoreUnavailableError

__all__ = [
    "MlExperiment",
    "MlModelVersion",
    "MlRegisteredModel",
    "MlRun",
    "MlflowSource",
    "open_source",
]

#: MLflow's file store writes run statuses as the numbers of its RunStatus enum.
_FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


@dataclass
class MlExperiment:
    """An MLflow experiment."""

    id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class MlRun:
    """An MLflow run with its data; metrics are ``(key, value, timestamp, step)`` points."""

    id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None
    end_time: int | None
    user: str
    lifecycle_stage: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)


@dataclass
class MlRegisteredModel:
    """An MLflow registered model and its aliases (``{alias: version}``)."""

    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass
class MlModelVersion:
    """A version of an MLflow registered model and where its files are."""

    name: str
    version: int
    source: str
    run_id: str | None
    storage_location: str | None
    description: str
    user: str
    current_stage: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)


class MlflowSource(Protocol):
    """What the importer reads from an MLflow store."""

    #: The store, normalized, as recorded with every imported object.
    id: str

    def experiments(self) -> list[MlExperiment]:
        """Every experiment, deleted ones included."""
        ...

    def runs(self, experiment_id: str) -> list[MlRun]:
        """Every run of an experiment, with params, tags and every metric point."""
        ...

    def registered_models(self) -> list[MlRegisteredModel]:
        """Every registered model."""
        ...

    def model_versions(self, name: str) -> list[MlModelVersion]:
        """Every version of a registered model, by number."""
        ...

    def logged_model_location(self, model_id: str) -> str | None:
        """The artifact location of an MLflow 3 logged model (``models:/m-...``)."""
        ...

    def iter_artifacts(self, uri: str) -> Iterator[tuple[str, bytes]]:
        """Yield ``(relative path, bytes)`` of every file under an artifact URI."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# -- artifacts on disk or on fsspec ----------------------------------------------------------


def _local_path(uri: str, base: Path | None) -> Path | None:
    """The local folder an artifact URI names, or ``None`` if it is not local."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        path = Path(uri)
        if not path.is_absolute() and base is not None and not path.exists():
            path = base / path  # relative to the store, not to where the import runs
        return path
    return None


def _iter_local(root: Path) -> Iterator[tuple[str, bytes]]:
    if not root.is_dir():
        return
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        yield file.relative_to(root).as_posix(), file.read_bytes()


def _iter_fsspec(uri: str) -> Iterator[tuple[str, bytes]]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(uri)
    root = root.rstrip("/")
    for path in sorted(fs.find(root)):
        yield path[len(root) + 1 :], fs.cat_file(path)


def _iter_any(uri: str, base: Path | None) -> Iterator[tuple[str, bytes]]:
    local = _local_path(uri, base)
    if local is not None:
        yield from _iter_local(local)
    else:
        yield from _iter_fsspec(uri)


# -- SQL store ------------------------------------------------------------------------------


class SqlSource:
    """An MLflow SQL store (SQLite, PostgreSQL, MySQL), read with SQLAlchemy core.

    Args:
        uri: The SQLAlchemy URI MLflow was given (``sqlite:///mlflow.db``).
    """

    def __init__(self, uri: str) -> None:
        from sqlalchemy import MetaData, create_engine
        from sqlalchemy.exc import SQLAlchemyError

        self._base: Path | None = None
        if uri.startswith("sqlite:///"):
            path = Path(uri[len("sqlite:///") :]).resolve()
            if not path.is_file():
                raise NotFoundError(
                    f"No MLflow database at {str(path)!r} (from {uri!r}). Give the URI MLflow "
                    "was started with, such as sqlite:///mlflow.db.",
                    details={"uri": uri},
                )
            uri = f"sqlite:///{path}"
            self._base = path.parent
        self.id = f"mlflow:{uri}"
        self.engine = create_engine(uri)
        self.meta = MetaData()
        try:
            self.meta.reflect(self.engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(
                f"Cannot read the MLflow database {uri!r}: {exc}. Check the URI and that the "
                "database is reachable."
            ) from exc
        if "runs" not in self.meta.tables or "experiments" not in self.meta.tables:
            raise InvalidArgumentError(
                f"{uri!r} is not an MLflow tracking database: it has no 'experiments' and "
                "'runs' tables."
            )

    def _rows(self, table: str, **where: Any) -> list[Any]:
        from sqlalchemy import select

        if table not in self.meta.tables:
            return []
        t = self.meta.tables[table]
        query = select(t)
        for col, value in where.items():
            query = query.where(t.c[col] == value)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def experiments(self) -> list[MlExperiment]:
        """Every experiment, deleted ones included."""
        tags: dict[str, dict[str, str]] = {}
        for t in self._rows("experiment_tags"):
            tags.setdefault(str(t["experiment_id"]), {})[t["key"]] = t["value"] or ""
        return [
            MlExperiment(
                id=str(r["experiment_id"]),
                name=r["name"],
                artifact_location=r["artifact_location"] or "",
                lifecycle_stage=r["lifecycle_stage"] or "active",
                creation_time=r.get("creation_time"),
                tags=tags.get(str(r["experiment_id"]), {}),
            )
            for r in self._rows("experiments")
        ]

    def runs(self, experiment_id: str) -> list[MlRun]:
        """Every run of an experiment, with params, tags and every metric point."""
        from sqlalchemy import select

        runs = {
            r["run_uuid"]: MlRun(
                id=r["run_uuid"],
                experiment_id=experiment_id,
                name=r.get("name") or "",
                status=r["status"] or "FINISHED",
                start_time=r["start_time"],
                end_time=r["end_time"],
                user=r["user_id"] or "",
                lifecycle_stage=r["lifecycle_stage"] or "active",
                artifact_uri=r["artifact_uri"] or "",
            )
            for r in self._rows("runs", experiment_id=int(experiment_id))
        }
        if not runs:
            return []
        ids = list(runs)
        with self.engine.connect() as conn:
            for table in ("params", "tags"):
                t = self.meta.tables[table]
                for r in conn.execute(select(t).where(t.c.run_uuid.in_(ids))).mappings():
                    getattr(runs[r["run_uuid"]], table)[r["key"]] = r["value"] or ""
            t = self.meta.tables["metrics"]
            for r in conn.execute(
                select(t).where(t.c.run_uuid.in_(ids)).order_by(t.c.key, t.c.step, t.c.timestamp)
            ).mappings():
                value = float("nan") if r.get("is_nan") else float(r["value"])
                runs[r["run_uuid"]].metrics.append(
                    (r["key"], value, int(r["timestamp"]), int(r["step"] or 0))
                )
        return sorted(runs.values(), key=lambda run: (run.start_time or 0, run.id))

    def registered_models(self) -> list[MlRegisteredModel]:
        """Every registered model with its tags and aliases."""
        models = {
            r["name"]: MlRegisteredModel(name=r["name"], description=r["description"] or "")
            for r in self._rows("registered_models")
        }
        for t in self._rows("registered_model_tags"):
            if t["name"] in models:
                models[t["name"]].tags[t["key"]] = t["value"] or ""
        for a in self._rows("registered_model_aliases"):
            if a["name"] in models:
                models[a["name"]].aliases[a["alias"]] = int(a["version"])
        return sorted(models.values(), key=lambda m: m.name)

    def model_versions(self, name: str) -> list[MlModelVersion]:
        """Every version of a registered model, by number."""
        tags: dict[int, dict[str, str]] = {}
        for t in self._rows("model_version_tags", name=name):
            tags.setdefault(int(t["version"]), {})[t["key"]] = t["value"] or ""
        return sorted(
            (
                MlModelVersion(
                    name=name,
                    version=int(r["version"]),
                    source=r["source"] or "",
                    run_id=r["run_id"] or None,
                    storage_location=r.get("storage_location") or None,
                    description=r["description"] or "",
                    user=r["user_id"] or "",
                    current_stage=r["current_stage"] or "None",
                    status=r["status"] or "READY",
                    tags=tags.get(int(r["version"]), {}),
                )
                for r in self._rows("model_versions", name=name)
            ),
            key=lambda v: v.version,
        )

    def logged_model_location(self, model_id: str) -> str | None:
        """The artifact location of an MLflow 3 logged model."""
        rows = self._rows("logged_models", model_id=model_id)
        return rows[0]["artifact_location"] if rows else None

    def iter_artifacts(self, uri: str) -> Iterator[tuple[str, bytes]]:
        """Yield every file under an artifact URI (a folder, ``file://`` or an fsspec URL)."""
        yield from _iter_any(uri, self._base)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


# -- file store -----------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return data if isinstance(data, dict) else {}


def _read_kv_folder(folder: Path) -> dict[str, str]:
    """Read MLflow's one-file-per-key folders (params/, tags/); keys may contain '/'."""
    if not folder.is_dir():
        return {}
    return {
        f.relative_to(folder).as_posix(): f.read_text(encoding="utf-8")
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


class FileSource:
    """An MLflow file store: the ``mlruns`` folder layout.

    Args:
        root: The ``mlruns`` folder (a path or a ``file://`` URI).
    """

    def __init__(self, root: str) -> None:
        path = _local_path(root, None) or Path(root)
        self.root = path.resolve()
        if not self.root.is_dir():
            raise NotFoundError(
                f"No MLflow file store at {str(self.root)!r} (from {root!r}). Give the mlruns "
                "folder MLflow wrote.",
                details={"path": root},
            )
        self.id = f"mlflow:file://{self.root}"

    def _experiment_dirs(self) -> list[Path]:
        dirs = [p for p in self.root.iterdir() if (p / "meta.yaml").is_file()]
        trash = self.root / ".trash"
        if trash.is_dir():
            dirs += [p for p in trash.iterdir() if (p / "meta.yaml").is_file()]
        return dirs

    def _experiment_dir(self, experiment_id: str) -> Path:
        for candidate in (self.root / experiment_id, self.root / ".trash" / experiment_id):
            if (candidate / "meta.yaml").is_file():
                return candidate
        raise NotFoundError(f"MLflow file store has no experiment {experiment_id!r}.")

    def experiments(self) -> list[MlExperiment]:
        """Every experiment, deleted ones (in ``.trash``) included."""
        found = []
        for d in self._experiment_dirs():
            meta = _read_yaml(d / "meta.yaml")
            if "experiment_id" not in meta:
                continue
            found.append(
                MlExperiment(
                    id=str(meta["experiment_id"]),
                    name=str(meta.get("name", "")),
                    artifact_location=str(meta.get("artifact_location") or ""),
                    lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
                    creation_time=meta.get("creation_time"),
                    tags=_read_kv_folder(d / "tags"),
                )
            )
        return sorted(found, key=lambda e: e.id)

    def runs(self, experiment_id: str) -> list[MlRun]:
        """Every run of an experiment, with params, tags and every metric point."""
        exp_dir = self._experiment_dir(experiment_id)
        runs = []
        for d in sorted(exp_dir.iterdir()):
            meta = _read_yaml(d / "meta.yaml")
            if not d.is_dir() or "run_uuid" not in meta and "run_id" not in meta:
                continue
            status = meta.get("status", 3)
            run = MlRun(
                id=str(meta.get("run_id") or meta["run_uuid"]),
                experiment_id=experiment_id,
                name=str(meta.get("run_name") or ""),
                status=_FILE_STATUS.get(status, str(status)) if isinstance(status, int) else status,
                start_time=meta.get("start_time"),
                end_time=meta.get("end_time"),
                user=str(meta.get("user_id") or ""),
                lifecycle_stage=str(meta.get("lifecycle_stage") or "active"),
                artifact_uri=str(meta.get("artifact_uri") or d / "artifacts"),
                params=_read_kv_folder(d / "params"),
                tags=_read_kv_folder(d / "tags"),
            )
            metrics_dir = d / "metrics"
            if metrics_dir.is_dir():
                for f in sorted(p for p in metrics_dir.rglob("*") if p.is_file()):
                    key = f.relative_to(metrics_dir).as_posix()
                    for line in f.read_text(encoding="utf-8").splitlines():
                        parts = line.split()
                        if len(parts) >= 2:
                            step = int(parts[2]) if len(parts) > 2 else 0
                            run.metrics.append((key, float(parts[1]), int(parts[0]), step))
            runs.append(run)
        return sorted(runs, key=lambda r: (r.start_time or 0, r.id))

    def _models_dir(self) -> Path:
        return self.root / "models"

    def registered_models(self) -> list[MlRegisteredModel]:
        """Every registered model with its tags and aliases."""
        found = []
        folder = self._models_dir()
        if not folder.is_dir():
            return []
        for d in sorted(folder.iterdir()):
            meta = _read_yaml(d / "meta.yaml")
            if "name" not in meta:
                continue
            aliases = {k: int(v.strip()) for k, v in _read_kv_folder(d / "aliases").items()}
            found.append(
                MlRegisteredModel(
                    name=str(meta["name"]),
                    description=str(meta.get("description") or ""),
                    tags=_read_kv_folder(d / "tags"),
                    aliases=aliases,
                )
            )
        return found

    def model_versions(self, name: str) -> list[MlModelVersion]:
        """Every version of a registered model, by number."""
        found = []
        for d in self._models_dir().glob("*/version-*"):
            meta = _read_yaml(d / "meta.yaml")
            if meta.get("name") != name:
                continue
            found.append(
                MlModelVersion(
                    name=name,
                    version=int(meta["version"]),
                    source=str(meta.get("source") or ""),
                    run_id=meta.get("run_id") or None,
                    storage_location=meta.get("storage_location") or None,
                    description=str(meta.get("description") or ""),
                    user=str(meta.get("user_id") or ""),
                    current_stage=str(meta.get("current_stage") or "None"),
                    status=str(meta.get("status") or "READY"),
                    tags=_read_kv_folder(d / "tags"),
                )
            )
        return sorted(found, key=lambda v: v.version)

    def logged_model_location(self, model_id: str) -> str | None:
        """The artifact location of an MLflow 3 logged model (``<exp>/models/<id>``)."""
        for d in self._experiment_dirs():
            meta = _read_yaml(d / "models" / model_id / "meta.yaml")
            if meta:
                return str(meta.get("artifact_location") or d / "models" / model_id / "artifacts")
        return None

    def iter_artifacts(self, uri: str) -> Iterator[tuple[str, bytes]]:
        """Yield every file under an artifact URI."""
        yield from _iter_any(uri, self.root.parent)

    def close(self) -> None:
        """Nothing to release."""


# -- tracking server ------------------------------------------------------------------------


class RestSource:
    """An MLflow tracking server, read through its REST API (``/api/2.0/mlflow``).

    Args:
        url: The server's base URL (``http://127.0.0.1:5000``).
        timeout: Seconds to wait for each response.
    """

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.id = f"mlflow:{self.url}"
        self.timeout = timeout
        self._request("GET", "/api/2.0/mlflow/experiments/search", {"max_results": "1"})

    def _request(
        self, method: str, path: str, params: dict[str, Any] | None = None, raw: bool = False
    ) -> Any:
        url = self.url + path
        body = None
        if method == "GET" and params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        elif params is not None:
            body = json.dumps(params).encode()
        req = urllib.request.Request(  # noqa: S310  (http(s) only, checked in open_source)
            url, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                data = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            if exc.code == 404:
                raise NotFoundError(f"MLflow server: {method} {path} -> 404 {detail}") from exc
            raise StoreUnavailableError(
                f"MLflow server {self.url!r} answered {exc.code} to {method} {path}: {detail}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StoreUnavailableError(
                f"Cannot reach the MLflow server {self.url!r}: {exc}. Check that it runs "
                "and the URL is right."
            ) from exc
        return data if raw else json.loads(data or b"{}")

    def _paged(self, method: str, path: str, params: dict[str, Any], key: str) -> list[Any]:
        items: list[Any] = []
        token = None
        while True:
            page = dict(params)
            if token:
                page["page_token"] = token
            data = self._request(method, path, page)
            items += data.get(key, [])
            token = data.get("next_page_token")
            if not token:
                return items

    def experiments(self) -> list[MlExperiment]:
        """Every experiment, deleted ones included."""
        found = self._paged(
            "POST",
            "/api/2.0/mlflow/experiments/search",
            {"max_results": 1000, "view_type": "ALL"},
            "experiments",
        )
        return [
            MlExperiment(
                id=str(e["experiment_id"]),
                name=e["name"],
                artifact_location=e.get("artifact_location", ""),
                lifecycle_stage=e.get("lifecycle_stage", "active"),
                creation_time=int(e["creation_time"]) if "creation_time" in e else None,
                tags={t["key"]: t.get("value", "") for t in e.get("tags", [])},
            )
            for e in found
        ]

    def runs(self, experiment_id: str) -> list[MlRun]:
        """Every run of an experiment, with params, tags and every metric point."""
        found = self._paged(
            "POST",
            "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [experiment_id], "max_results": 1000, "run_view_type": "ALL"},
            "runs",
        )
        runs = []
        for r in found:
            info, data = r["info"], r.get("data", {})
            run = MlRun(
                id=info["run_id"],
                experiment_id=experiment_id,
                name=info.get("run_name", ""),
                status=info.get("status", "FINISHED"),
                start_time=int(info["start_time"]) if "start_time" in info else None,
                end_time=int(info["end_time"]) if "end_time" in info else None,
                user=info.get("user_id", ""),
                lifecycle_stage=info.get("lifecycle_stage", "active"),
                artifact_uri=info.get("artifact_uri", ""),
                params={p["key"]: p.get("value", "") for p in data.get("params", [])},
                tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
            )
            for key in sorted({m["key"] for m in data.get("metrics", [])}):
                history = self._paged(
                    "GET",
                    "/api/2.0/mlflow/metrics/get-history",
                    {"run_id": run.id, "metric_key": key, "max_results": 25000},
                    "metrics",
                )
                for m in history:
                    value = m.get("value", 0.0)
                    run.metrics.append(
                        (key, float(value), int(m.get("timestamp", 0)), int(m.get("step", 0)))
                    )
            runs.append(run)
        return sorted(runs, key=lambda run: (run.start_time or 0, run.id))

    def registered_models(self) -> list[MlRegisteredModel]:
        """Every registered model with its tags and aliases."""
        found = self._paged(
            "GET",
            "/api/2.0/mlflow/registered-models/search",
            {"max_results": 1000},
            "registered_models",
        )
        return [
            MlRegisteredModel(
                name=m["name"],
                description=m.get("description", ""),
                tags={t["key"]: t.get("value", "") for t in m.get("tags", [])},
                aliases={a["alias"]: int(a["version"]) for a in m.get("aliases", [])},
            )
            for m in found
        ]

    def model_versions(self, name: str) -> list[MlModelVersion]:
        """Every version of a registered model, by number."""
        escaped = name.replace("'", "\\'")
        found = self._paged(
            "GET",
            "/api/2.0/mlflow/model-versions/search",
            {"filter": f"name='{escaped}'", "max_results": 1000},
            "model_versions",
        )
        return sorted(
            (
                MlModelVersion(
                    name=name,
                    version=int(v["version"]),
                    source=v.get("source", ""),
                    run_id=v.get("run_id") or None,
                    storage_location=v.get("storage_location") or None,
                    description=v.get("description", ""),
                    user=v.get("user_id", ""),
                    current_stage=v.get("current_stage", "None"),
                    status=v.get("status", "READY"),
                    tags={t["key"]: t.get("value", "") for t in v.get("tags", [])},
                )
                for v in found
            ),
            key=lambda v: v.version,
        )

    def logged_model_location(self, model_id: str) -> str | None:
        """The artifact location of an MLflow 3 logged model."""
        try:
            data = self._request("GET", f"/api/2.0/mlflow/logged-models/{model_id}")
        except NotFoundError:
            return None
        info = data.get("model", {}).get("info", {})
        return info.get("artifact_uri") or None

    def _iter_proxied(self, rel: str) -> Iterator[tuple[str, bytes]]:
        """Files under ``mlflow-artifacts:/<rel>``, listed and read through the server."""
        stack = [""]
        while stack:
            sub = stack.pop()
            path = f"{rel}/{sub}".strip("/") if sub else rel.strip("/")
            listing = self._request(
                "GET", "/api/2.0/mlflow-artifacts/artifacts", {"path": path}
            ).get("files", [])
            for f in listing:
                child = f"{sub}/{f['path']}" if sub else f["path"]
                if f.get("is_dir"):
                    stack.append(child)
                else:
                    quoted = urllib.parse.quote(f"{path}/{f['path']}")
                    data = self._request(
                        "GET", f"/api/2.0/mlflow-artifacts/artifacts/{quoted}", raw=True
                    )
                    yield child, data

    def iter_artifacts(self, uri: str) -> Iterator[tuple[str, bytes]]:
        """Yield every file under an artifact URI, through the server when it proxies them."""
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme == "mlflow-artifacts":
            yield from sorted(self._iter_proxied(parsed.path))
        else:
            yield from _iter_any(uri, None)

    def close(self) -> None:
        """Nothing to release."""


def open_source(uri: str) -> MlflowSource:
    """Open the MLflow store ``uri`` names.

    Args:
        uri: ``sqlite:///mlflow.db``, ``postgresql://...``, ``mysql://...`` (SQL store); a
            folder or ``file:///.../mlruns`` (file store); ``http://host:port`` (server).

    Raises:
        InvalidArgumentError: The URI names no kind of MLflow store Keel reads.
        NotFoundError: The database file or folder does not exist.
        StoreUnavailableError: The database or server cannot be reached.
    """
    scheme = urllib.parse.urlparse(uri).scheme.lower()
    if scheme in ("http", "https"):
        return RestSource(uri)
    if scheme.split("+")[0] in ("sqlite", "postgresql", "postgres", "mysql", "mssql"):
        return SqlSource(uri)
    if scheme in ("", "file"):
        return FileSource(uri)
    raise InvalidArgumentError(
        f"Cannot read an MLflow store at {uri!r}: the scheme {scheme!r} is not one of sqlite, "
        "postgresql, mysql (SQL store), file or a folder (file store), http(s) (tracking "
        "server). Example: keel import mlflow --from sqlite:///mlflow.db"
    )

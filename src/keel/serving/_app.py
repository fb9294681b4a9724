"""The inference app: FastAPI routes over a :class:`~keel.serving._runtime.ServingRuntime`.

Routes:

=======================  =====================================================================
``POST /v1/predict``     ``{"instances": [{...}, ...]}``, ``{"columns": [...], "data": [[...]]}``
                         or ``{"entities": [{"customer_id": 42}]}``; answers ``{"predictions",
                         "prediction_ids", "model", "version"}``
``POST /v1/feedback``    ``{"prediction_id": ..., "label": ...}`` (or a list of them): ground
                         truth attached to logged predictions
``GET /v1/health``       liveness: 200 while the process serves HTTP
``GET /v1/ready``        readiness: 200 once models are loaded, 503 while starting or draining
``GET /metrics``         Prometheus metrics (below)
``GET /docs``            OpenAPI documentation, with the model's input fields
=======================  =====================================================================

The request path does no I/O besides the socket: the body is parsed with orjson, checked
column by column, predicted in one call, appended to the prediction log's in-memory buffer
and answered. Entity lookups read the online store in a worker thread. Errors answer
``{"error_code", "message", "details"}``; a 422 lists each bad field as ``{"loc", "msg",
"type"}``.

Metrics (labels ``deployment``, ``model``, ``version``):

===========================================  ===============================================
``keel_serving_requests_total{status}``      requests by HTTP status
``keel_serving_request_duration_seconds``    request latency histogram (parse to response)
``keel_serving_errors_total{code}``          failed requests by error code
``keel_serving_predictions_total{role}``     rows predicted (``primary``, ``canary``, ``shadow``)
``keel_serving_model_info{role}``            1 for each version served now
``keel_serving_log_pending_rows``            rows waiting for the prediction log's next flush
``keel_serving_log_rows_written_total``      rows written to the prediction log
``keel_serving_log_rows_dropped_total``      rows dropped (the store was down too long)
``keel_serving_shadow_dropped_total``        shadow predictions skipped (queue full)
``keel_serving_reloads_total``               hot reloads (alias moves, traffic changes)
===========================================  ===============================================
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from keel._utils import now_ms
from keel.errors import HTTP_STATUS, KeelError, MissingDependencyError
from keel.serving._inputs import InputChecker, Prepared, RequestInvalid, as_array
from keel.serving._log import PredictionLogWriter
from keel.serving._runtime import Route, ServedModel, ServingRuntime

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from prometheus_client import CollectorRegistry
    from starlette.responses import Response

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServingConfig", "create_app"]

_logger = logging.getLogger("keel.serving")

#: Largest request body accepted by default (10 MiB); larger ones get 413.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True)
class ServingConfig:
    """Settings of one inference app.

    Attributes:
        max_body_bytes: Largest request body; larger ones get 413.
        log_predictions: Write the prediction log.
        log_scores: Also log the positive-class score of binary classifiers (one more model
            call per request; monitors need it for ROC AUC).
        flush_interval: Seconds between prediction log flushes.
        flush_rows: Flush as soon as this many rows are pending.
        poll_interval: Seconds between checks for deployment changes and alias moves.
        shadow_queue: Requests waiting for the shadow model before new ones are skipped.
        monitor_metrics: Also export the monitors' newest results at ``/metrics``.
    """

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_predictions: bool = True
    log_scores: bool = False
    flush_interval: float = 1.0
    flush_rows: int = 10_000
    poll_interval: float = 1.0
    shadow_queue: int = 1000
    monitor_metrics: bool = True


#: The row-number part of the ids of a request's first rows.
_ROW_SUFFIXES = tuple(f"{i:04x}" for i in range(1024))


def _new_ids(n: int) -> list[str]:
    """Ids of one request's rows: 32 hex digits, 112 random bits shared plus the row number.

    Unique, not secret: Mersenne Twister bits (reseeded from the OS in each forked worker)
    cost far less than ``os.urandom`` on a busy machine.
    """
    if n > 0xFFFF:
        raw = f"{random.getrandbits(128 * n):0{32 * n}x}"
        return [raw[i : i + 32] for i in range(0, 32 * n, 32)]
    prefix = f"{random.getrandbits(112):028x}"
    if n <= len(_ROW_SUFFIXES):  # three times faster than formatting each row number
        return list(map(prefix.__add__, _ROW_SUFFIXES[:n]))
    return [f"{prefix}{i:04x}" for i in range(n)]


class _Metrics:
    """The app's Prometheus metrics, with label children cached for the request path."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        base = ["deployment", "model", "version"]
        self.requests = Counter(
            "keel_serving_requests", "Requests by HTTP status.", [*base, "status"],
            registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "keel_serving_request_duration_seconds", "Request latency in seconds.", base,
            buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.errors = Counter(
            "keel_serving_errors", "Failed requests by error code.", [*base, "code"],
            registry=registry,
        )  # fmt: skip
        self.rows = Counter(
            "keel_serving_predictions", "Rows predicted.", [*base, "role"], registry=registry
        )
        self.info = Gauge(
            "keel_serving_model_info", "1 for each version served now.", [*base, "role"],
            registry=registry,
        )  # fmt: skip
        self.shadow_dropped = Counter(
            "keel_serving_shadow_dropped", "Shadow predictions skipped (queue full).",
            ["deployment"], registry=registry,
        )  # fmt: skip
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def show_route(self, route: Route) -> None:
        self.info.clear()
        for role, m in route.models():
            self.info.labels(route.deployment, m.name or "", m.label, role).set(1)


class _App:
    """State and handlers of one app (one per worker process)."""

    def __init__(self, runtime: ServingRuntime, config: ServingConfig) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.runtime = runtime
        self.config = config
        self.writer = PredictionLogWriter(
            flush_interval=config.flush_interval, flush_rows=config.flush_rows,
            release_memory=True, release_interval=0.0,
        )  # fmt: skip
        if config.log_predictions:
            self.writer.preload()
        self.registry = CollectorRegistry(auto_describe=False)
        self.metrics = _Metrics(self.registry)
        writer, rt = self.writer, runtime
        for name, doc, fn in [
            ("keel_serving_log_pending_rows", "Rows waiting for the log's next flush.",
             lambda: writer.pending_rows),
            ("keel_serving_log_rows_written_total", "Rows written to the prediction log.",
             lambda: writer.stats.rows_written),
            ("keel_serving_log_rows_dropped_total", "Rows dropped from the prediction log.",
             lambda: writer.stats.rows_dropped),
            ("keel_serving_reloads_total", "Hot reloads of the served models.",
             lambda: rt.reloads),
        ]:  # fmt: skip
            Gauge(name, doc, registry=self.registry).set_function(fn)
        from prometheus_client import ProcessCollector

        ProcessCollector(registry=self.registry)  # resident memory, CPU, open files
        if config.monitor_metrics:
            self.registry.register(_SafeCollector())
        self.draining = False
        self._shadow: queue.Queue[tuple[Any, ...] | None] = queue.Queue(config.shadow_queue)
        self._shadow_thread: threading.Thread | None = None
        self._shown: Route | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self.config.log_predictions:
            self.writer.start()
        self.runtime.start()
        self._shadow_thread = threading.Thread(
            target=self._shadow_loop, name="keel-serving-shadow", daemon=True
        )
        self._shadow_thread.start()

    def stop(self) -> None:
        self.draining = True
        self.runtime.stop()
        if self._shadow_thread is not None:
            self._shadow.put(None)  # after every queued request: the shadow drains first
            self._shadow_thread.join(timeout=60)
            self._shadow_thread = None
        if self.config.log_predictions:
            self.writer.close()

    # -- predict ------------------------------------------------------------------------------

    def route(self) -> Route:
        route = self.runtime.route
        if route is not self._shown:
            self._shown = route
            self.metrics.show_route(route)
        return route

    async def predict(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        start = time.perf_counter()
        route = self.route()
        served = route.pick()
        try:
            body = await _read_body(request, self.config.max_body_bytes)
            payload = _parse(body)
            columns = None
            if "entities" in payload:
                columns = await run_in_threadpool(self._lookup, served, payload)
                prepared = _with_keys(served.checker.from_columns(columns, "entities"), columns)
            else:
                prepared = served.checker.prepare(payload)
        except RequestInvalid as exc:
            return self._fail(route, served, exc.status, exc.to_dict(), start)
        except KeelError as exc:
            return self._fail(route, served, HTTP_STATUS.get(exc.code, 500), exc.to_dict(), start)
        except Exception as exc:  # a bug or a backend failure: answer it and count it
            _logger.exception("Preparing a request for %s failed", route.deployment)
            internal = {
                "error_code": "keel-error",
                "message": f"The request could not be prepared: {type(exc).__name__}: {exc}",
                "details": {},
            }
            return self._fail(route, served, 500, internal, start)
        ids = _new_ids(prepared.num_rows)
        timestamp = now_ms()
        began = time.perf_counter()
        try:
            predictions = _as_array(served.predict(prepared.model_input), prepared.num_rows)
            scores = self._scores(served, prepared) if self.config.log_scores else None
        except Exception as exc:  # the user's model failed on valid input
            latency = (time.perf_counter() - began) * 1000
            self._log(route.deployment, served, prepared, None, ids, timestamp, latency, None)
            body_err = {
                "error_code": "model-error",
                "message": f"The model failed on this batch: {type(exc).__name__}: {exc}",
                "details": {"prediction_ids": ids},
            }
            return self._fail(route, served, 500, body_err, start)
        latency = (time.perf_counter() - began) * 1000
        self._log(route.deployment, served, prepared, predictions, ids, timestamp, latency, scores)
        shadow = route.shadow
        if shadow is not None:
            try:
                self._shadow.put_nowait((route, shadow, payload, columns, ids, timestamp))
            except queue.Full:
                self.metrics.child(self.metrics.shadow_dropped, route.deployment).inc()
        m = self.metrics
        labels = (route.deployment, served.name or "", served.label)
        role = "canary" if served is route.canary else "primary"
        m.child(m.rows, *labels, role).inc(prepared.num_rows)
        m.child(m.requests, *labels, "200").inc()
        out = _json_dumps(
            {
                "predictions": predictions,
                "prediction_ids": ids,
                "model": served.name,
                "version": served.version,
            }
        )
        m.child(m.latency, *labels).observe(time.perf_counter() - start)
        return _response(out, 200)

    def _lookup(self, served: ServedModel, payload: Mapping[str, Any]) -> dict[str, list[Any]]:
        entities = payload.get("entities")
        extra = sorted(set(payload) - {"entities"})
        if extra:
            raise RequestInvalid(
                422,
                f"Unexpected keys {extra!r} next to 'entities'.",
                [{"loc": [k], "msg": "unexpected key", "type": "extra"} for k in extra],
            )
        if (
            not isinstance(entities, list)
            or not entities
            or not all(isinstance(e, dict) for e in entities)
        ):
            raise RequestInvalid(
                422,
                "'entities' must be a non-empty list of objects of join keys, such as "
                '[{"customer_id": 42}].',
                [{"loc": ["entities"], "msg": "expected a list of objects", "type": "shape"}],
            )
        service = served.feature_service
        if service is None:
            raise RequestInvalid(
                422,
                f"Model {served.name!r} v{served.version} records no feature service, so "
                "entities cannot be looked up. Send 'instances' or 'columns' and 'data', or "
                "serve it with a feature service (keel serve ... --feature-service NAME).",
                [{"loc": ["entities"], "msg": "no feature service", "type": "unsupported"}],
            )
        from keel.features import store

        found = store().get_online_features(service, entities)
        columns: dict[str, list[Any]] = dict(found)
        names = list(dict.fromkeys(k for e in entities for k in e))
        for name in names:  # request fields fill inputs the service does not provide
            if name not in columns:
                columns[name] = [e.get(name) for e in entities]
        return columns

    def _scores(self, served: ServedModel, prepared: Prepared) -> np.ndarray[Any, Any] | None:
        model = served.model
        if not model.has_predict_proba:
            return None
        if served.predict_proba is not None:
            proba = served.predict_proba(prepared.model_input)
        elif served.matrix:  # a compiled model without probabilities: no scores
            return None
        else:
            from keel.registry._flavor import get_flavor

            proba = get_flavor(model.flavor).predict_proba(
                model.unwrap(), prepared.model_input, model.manifest
            )
        proba = np.asarray(proba)
        if proba.ndim == 2 and proba.shape[1] == 2:
            return proba[:, 1].astype(np.float64)
        return None

    def _log(
        self,
        deployment: str,
        served: ServedModel,
        prepared: Prepared,
        predictions: np.ndarray[Any, Any] | None,
        ids: list[str],
        timestamp: int,
        latency: float,
        scores: np.ndarray[Any, Any] | None,
    ) -> None:
        if not self.config.log_predictions:
            return
        error = predictions is None
        if predictions is None:
            predictions = np.full(len(ids), None, dtype=object)
        self.writer.append(
            deployment,
            served.name,
            served.version,
            prepared.columns,
            predictions,
            ids,
            timestamp_ms=timestamp,
            latency_ms=latency,
            error=error,
            scores=scores,
        )

    def _fail(
        self, route: Route, served: ServedModel, status: int, body: dict[str, Any], start: float
    ) -> Response:
        m = self.metrics
        labels = (route.deployment, served.name or "", served.label)
        m.child(m.requests, *labels, str(status)).inc()
        m.child(m.errors, *labels, str(body.get("error_code", "error"))).inc()
        m.child(m.latency, *labels).observe(time.perf_counter() - start)
        return _response(_json_dumps(body), status)

    # -- shadow -------------------------------------------------------------------------------

    def _shadow_loop(self) -> None:
        while True:
            item = self._shadow.get()
            if item is None:
                return
            route, shadow, payload, columns, ids, timestamp = item
            try:
                if columns is not None:
                    lookup = columns
                    if shadow.feature_service != route.primary.feature_service:
                        lookup = self._lookup(shadow, payload)
                    prepared = shadow.checker.from_columns(lookup, "entities")
                else:
                    prepared = shadow.checker.prepare(payload)
            except Exception as exc:  # the shadow does not take this request: log nothing
                _logger.debug("Shadow v%s skipped a request: %s", shadow.version, exc)
                continue
            began = time.perf_counter()
            try:
                predictions: np.ndarray[Any, Any] | None = _as_array(
                    shadow.predict(prepared.model_input), prepared.num_rows
                )
            except Exception:
                predictions = None
            latency = (time.perf_counter() - began) * 1000
            self._log(
                f"{route.deployment}.shadow", shadow, prepared, predictions, ids, timestamp,
                latency, None,
            )  # fmt: skip
            m = self.metrics
            m.child(m.rows, route.deployment, shadow.name or "", shadow.label, "shadow").inc(
                prepared.num_rows
            )

    # -- other routes -------------------------------------------------------------------------

    async def feedback(self, request: Request) -> Response:
        try:
            body = await _read_body(request, self.config.max_body_bytes)
            payload = _parse(body, allow_list=True)
        except RequestInvalid as exc:
            return _response(_json_dumps(exc.to_dict()), exc.status)
        items = payload if isinstance(payload, list) else [payload]
        errors: list[dict[str, Any]] = []
        pairs: list[tuple[str, Any]] = []
        for i, item in enumerate(items):
            where: list[Any] = [i] if isinstance(payload, list) else []
            if not isinstance(item, dict):
                errors.append({"loc": where, "msg": "expected an object", "type": "shape"})
                continue
            pid = item.get("prediction_id")
            if not isinstance(pid, str) or not pid:
                errors.append(
                    {"loc": [*where, "prediction_id"], "msg": "expected the prediction's id",
                     "type": "missing" if pid is None else "type"}
                )  # fmt: skip
            if "label" not in item:
                errors.append(
                    {"loc": [*where, "label"], "msg": "field required", "type": "missing"}
                )
            elif isinstance(item["label"], (dict, list)):
                errors.append(
                    {"loc": [*where, "label"], "msg": "expected a scalar label", "type": "type"}
                )
            extra = sorted(set(item) - {"prediction_id", "label"})
            errors += [
                {"loc": [*where, k], "msg": "unexpected key", "type": "extra"} for k in extra
            ]
            if isinstance(pid, str) and pid:
                pairs.append((pid, item.get("label")))
        if errors or not pairs:
            err = RequestInvalid(
                422,
                'Send {"prediction_id": ID, "label": VALUE} (or a list of them), with the id '
                "from a /v1/predict answer.",
                errors or [{"loc": [], "msg": "no labels", "type": "missing"}],
            )
            return _response(_json_dumps(err.to_dict()), 422)
        self.writer.append_labels(self.runtime.deployment, pairs)
        return _response(_json_dumps({"accepted": len(pairs)}), 202)

    async def ready(self) -> Response:
        if self.draining or not self.runtime.ready:
            return _response(_json_dumps({"status": "unavailable"}), 503)
        route = self.runtime.route
        body = {
            "status": "ready",
            "deployment": route.deployment,
            "revision": route.revision,
            "models": [
                {"role": role, "model": m.name, "version": m.version} for role, m in route.models()
            ],
        }
        return _response(_json_dumps(body), 200)

    async def metrics_text(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import Response

        self.route()
        data = await run_in_threadpool(generate_latest, self.registry)
        return Response(content=data, media_type=CONTENT_TYPE_LATEST)


class _SafeCollector:
    """The monitors' collector, skipped (not failing the scrape) when the store is unreachable."""

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from keel.monitoring import prometheus_collector

        try:
            families = list(prometheus_collector().collect())
        except Exception as exc:  # a scrape must not fail because monitors cannot be read
            _logger.warning("Reading monitor results for /metrics failed: %s", exc)
            return iter(())
        return iter(families)


# -- helpers -----------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    ctype = request.headers.get("content-type")
    if ctype is not None and "json" not in ctype.lower():
        raise RequestInvalid(
            415,
            f"The body must be JSON (content-type: application/json), got {ctype!r}.",
            [{"loc": ["header", "content-type"], "msg": "expected application/json",
              "type": "media_type"}],
        )  # fmt: skip
    length = request.headers.get("content-length")
    if length is not None and length.isdigit():
        if int(length) > limit:
            raise _too_large(int(length), limit)
        return await request.body()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> RequestInvalid:
    return RequestInvalid(
        413,
        f"The body has {size:,} bytes or more; the limit is {limit:,}. Split the instances "
        "over several requests (or start the server with a larger --max-body-bytes).",
        [{"loc": ["body"], "msg": f"larger than {limit} bytes", "type": "size"}],
    )


def _parse(body: bytes, *, allow_list: bool = False) -> Any:
    import orjson

    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestInvalid(
            400,
            f"The body is not valid JSON: {exc}. JSON has no NaN or Infinity (see the NaN "
            "policy): send null for a missing value.",
            [{"loc": ["body"], "msg": str(exc), "type": "json"}],
        ) from exc
    if isinstance(payload, dict) or (allow_list and isinstance(payload, list)):
        return payload
    raise RequestInvalid(
        422,
        f"The body must be a JSON object, got {type(payload).__name__}.",
        [{"loc": ["body"], "msg": "expected an object", "type": "shape"}],
    )


def _with_keys(prepared: Prepared, columns: Mapping[str, list[Any]]) -> Prepared:
    """Add the request's join keys and fields the model does not take to what is logged."""
    extra = {k: as_array(v) for k, v in columns.items() if k not in prepared.columns}
    if not extra:
        return prepared
    return Prepared(prepared.model_input, {**extra, **prepared.columns}, prepared.num_rows)


def _as_array(out: Any, n: int) -> np.ndarray[Any, Any]:
    if hasattr(out, "to_numpy"):
        out = out.to_numpy()
    arr = np.asarray(out)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.shape[0] != n:
        raise ValueError(f"the model returned {arr.shape[0]} predictions for {n} rows")
    return arr


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialize {type(obj).__name__}")


def _json_dumps(body: Any) -> bytes:
    import orjson

    preds = body.get("predictions") if isinstance(body, dict) else None
    if isinstance(preds, np.ndarray) and (
        preds.dtype.kind not in "biuf" or not preds.flags.c_contiguous
    ):
        body = {**body, "predictions": preds.tolist()}
    return orjson.dumps(body, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


def _response(content: bytes, status: int) -> Response:
    from starlette.responses import Response

    return Response(content=content, status_code=status, media_type="application/json")


def _openapi_request(checker: InputChecker) -> dict[str, Any]:
    types = {
        "boolean": "boolean", "integer": "integer", "long": "integer", "float": "number",
        "double": "number", "string": "string", "category": "string", "datetime": "string",
        "binary": "string",
    }  # fmt: skip
    if checker.specs:
        record = {
            "type": "object",
            "properties": {
                c.name: {"type": types.get(c.type, "string"), "nullable": c.nullable}
                for c in checker.specs
            },
            "required": checker.names,
            "additionalProperties": False,
        }
        example = {
            c.name: 0 if types.get(c.type) in ("number", "integer") else "" for c in checker.specs
        }
    else:
        record = {"type": "array", "items": {"type": "number"}}
        example = None
    schema = {
        "oneOf": [
            {"type": "object", "properties": {"instances": {"type": "array", "items": record}},
             "required": ["instances"]},
            {"type": "object", "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "data": {"type": "array", "items": {"type": "array"}}},
             "required": ["data"]},
            {"type": "object", "properties": {
                "entities": {"type": "array", "items": {"type": "object"}}},
             "required": ["entities"]},
        ]
    }  # fmt: skip
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = {"instances": [example]}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


def create_app(
    target: str,
    *,
    deployment: str | None = None,
    feature_service: str | None = None,
    config: ServingConfig | None = None,
    **options: Any,
) -> FastAPI:
    """Build the inference app for a model URI or a deployment, with its models loaded.

    Args:
        target: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``models:/NAME/latest``,
            ``runs:/RUN_ID/PATH``, or a deployment name (``keel deploy ... --name NAME``).
        deployment: For a model URI, the name its predictions are logged under (default:
            ``NAME.ALIAS``, ``NAME.vN``).
        feature_service: The feature service ``{"entities": ...}`` requests read, overriding
            the deployment's and the model's own.
        config: Serving settings; or give them as keyword arguments
            (``max_body_bytes=...``, ``flush_interval=...``; see :class:`ServingConfig`).
        **options: Fields of :class:`ServingConfig`.

    Returns:
        A FastAPI app; run it with uvicorn (``keel serve`` does), or with
        :func:`keel.serving.start_server` in a thread.

    Raises:
        NotFoundError: The deployment, model, alias or version does not exist.
        MissingDependencyError: FastAPI or uvicorn is not installed.

    Examples:
        >>> app = create_app("models:/churn@champion")  # doctest: +SKIP
        >>> server = start_server(app)  # doctest: +SKIP
        >>> httpx.post(server.url + "/v1/predict", json={"instances": [...]})  # doctest: +SKIP
    """
    try:
        from fastapi import FastAPI, Request
        from starlette.responses import Response
    except ImportError as exc:
        raise MissingDependencyError.for_extra("fastapi", "serving", "keel serve") from exc
    if config is None:
        config = ServingConfig(**options)
    elif options:
        import dataclasses

        config = dataclasses.replace(config, **options)
    runtime = ServingRuntime(
        target,
        deployment=deployment,
        feature_service=feature_service,
        poll_interval=config.poll_interval,
    )
    route = runtime.load()
    state = _App(runtime, config)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()

    title = f"Keel serving: {route.deployment}"
    app = FastAPI(
        title=title,
        description=f"Predictions of {target!r}. Errors answer "
        "{error_code, message, details}; a 422 lists each bad field.",
        lifespan=lifespan,
    )
    app.state.keel = state

    async def predict(request: Request) -> Response:
        return await state.predict(request)

    async def feedback(request: Request) -> Response:
        return await state.feedback(request)

    async def health() -> Response:
        return _response(b'{"status":"ok"}', 200)

    async def ready() -> Response:
        return await state.ready()

    async def metrics() -> Response:
        return await state.metrics_text()

    # FastAPI reads parameter types from annotations; these are strings here (postponed
    # evaluation) naming imports local to this function, so give it the classes themselves.
    for with_request in (predict, feedback):
        with_request.__annotations__ = {"request": Request, "return": Response}
    for plain in (health, ready, metrics):
        plain.__annotations__ = {"return": Response}
    add: Callable[..., Any] = app.add_api_route
    add(
        "/v1/predict", predict, methods=["POST"], summary="Predict on instances or entities",
        openapi_extra=_openapi_request(route.primary.checker), response_class=Response,
    )  # fmt: skip
    add(
        "/v1/feedback", feedback, methods=["POST"], summary="Attach labels to predictions",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "example": {"prediction_id": "0f3a...", "label": 1}}}}},
        response_class=Response, status_code=202,
    )  # fmt: skip
    add("/v1/health", health, methods=["GET"], summary="Liveness", response_class=Response)
    add("/v1/ready", ready, methods=["GET"], summary="Readiness", response_class=Response)
    add("/metrics", metrics, methods=["GET"], summary="Prometheus metrics", response_class=Response)
    app.add_middleware(_PredictFastPath, state=state)
    return app


class _PredictFastPath:
    """ASGI middleware answering ``POST /v1/predict`` itself, ahead of FastAPI's routing.

    The route is declared to FastAPI too (for the OpenAPI documentation), but a request would
    go through its exception and exit-stack middlewares, the router and dependency solving
    before reaching the handler, which takes no dependency: a large share of a one-row
    request's time in the app. Every other request goes on to FastAPI unchanged.
    """

    def __init__(self, app: Any, state: _App) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and _route_path(scope) == "/v1/predict"
        ):
            from starlette.requests import Request

            response = await self.state.predict(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _route_path(scope: Any) -> str:
    """The request's path inside the app (without the ``root_path`` it is mounted under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def app_from_env() -> FastAPI:
    """Build the app from ``KEEL_SERVE_*`` variables (each ``keel serve --workers`` process)."""
    import json

    from keel.serving._server import freeze_startup_objects, lean_process

    lean_process()
    target = os.environ["KEEL_SERVE_TARGET"]
    options = json.loads(os.environ.get("KEEL_SERVE_OPTIONS", "{}"))
    app = create_app(
        target,
        deployment=options.pop("deployment", None),
        feature_service=options.pop("feature_service", None),
        **options,
    )
    freeze_startup_objects()
    return app

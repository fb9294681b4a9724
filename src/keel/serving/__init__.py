r"""Serving: the inference app, its prediction log, deployments with canary and shadow traffic.

Serve a registered model (or a deployment) over HTTP::

    keel serve models:/churn@champion --port 8080          # or: keel serve churn-prod
    curl -H 'content-type: application/json' -d '{"instances": [{"amount": 12.5}]}' \
        127.0.0.1:8080/v1/predict
    -> {"predictions": [0], "prediction_ids": ["..."], "model": "churn", "version": 3}

or from Python::

    app = keel.serving.create_app("models:/churn@champion")
    with keel.serving.start_server(app) as server:     # a free port of 127.0.0.1
        httpx.post(server.url + "/v1/predict", json={"instances": [...]})

Deployments name what an endpoint serves and how traffic is split::

    keel.serving.create_deployment("churn-prod", "churn", alias="champion")
    keel.serving.set_canary("churn-prod", 4, percent=10)
    keel.serving.set_shadow("churn-prod", 4)
    keel.serving.rollback("churn-prod")

A running server follows alias moves and deployment changes within about a second, loading new
versions in the background and swapping them in between requests. Every answered request is
logged (inputs, looked-up features, outputs, ids, latency, model version) to Parquet segments
of the deployment's prediction log, which :mod:`keel.monitoring` reads; labels posted to
``/v1/feedback`` join them by ``prediction_id``.

The routes and metrics are documented in :mod:`keel.serving._app`; the request checks and the
NaN and infinity policy in :mod:`keel.serving._inputs`; the log writer in
:mod:`keel.serving._log`; hot reload in :mod:`keel.serving._runtime`.

Batch scoring and deployment targets::

    keel.serving.predict_batch("models:/churn@champion", "in.parquet", "out.parquet")
    keel.serving.write_targets("churn-prod", target="k8s", out="deploy/")

:func:`predict_batch` (``keel predict``) scores a Parquet or CSV file in chunks and returns a
:class:`BatchPrediction`; :func:`write_targets` (``keel deploy NAME --target docker|k8s``)
writes a Dockerfile and Kubernetes manifests, sized by :class:`Resources`.

A scikit-learn model fitted on named numeric columns is served on a float64 matrix instead of
a DataFrame when that is verified to answer the same (see :mod:`keel.serving._matrix`): the
same requests and errors, several times fewer microseconds per request.

An ``{"entities": [...]}`` request reads the model's feature service from the online store. The
service is, in this order: ``feature_service=`` of :func:`create_app` (``--feature-service``),
the deployment's, ``metadata={"feature_service": NAME}`` given to :func:`keel.log_model`, or
the service recorded with ``keel.log_input(service)`` on the run that logged the model.
"""

from __future__ import annotations

from keel.serving._app import DEFAULT_MAX_BODY_BYTES, ServingConfig, create_app
from keel.serving._batch import BatchPrediction, predict_batch
from keel.serving._deployments import (
    create_deployment,
    deployment_history,
    get_deployment,
    list_deployments,
    parse_canary,
    rollback,
    set_canary,
    set_shadow,
    set_target,
)
from keel.serving._inputs import InputChecker, RequestInvalid
from keel.serving._log import LogStats, PredictionLogWriter
from keel.serving._runtime import Route, ServedModel, ServingRuntime, default_deployment_name
from keel.serving._server import RunningServer, serve, start_server
from keel.serving._targets import Resources, write_targets

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BatchPrediction",
    "InputChecker",
    "LogStats",
    "PredictionLogWriter",
    "RequestInvalid",
    "Resources",
    "Route",
    "RunningServer",
    "ServedModel",
    "ServingConfig",
    "ServingRuntime",
    "create_app",
    "create_deployment",
    "default_deployment_name",
    "deployment_history",
    "get_deployment",
    "list_deployments",
    "parse_canary",
    "predict_batch",
    "rollback",
    "serve",
    "set_canary",
    "set_shadow",
    "set_target",
    "start_server",
    "write_targets",
]

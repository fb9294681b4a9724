"""Deployment targets: a Dockerfile and Kubernetes manifests that run ``keel serve``.

:func:`write_targets` writes, for a deployment recorded in the store (or a model URI):

* ``Dockerfile``: a slim Python image that installs Keel with the ``serving`` extra and the
  extras the model's flavor and the store need, runs as a non-root user and starts
  ``keel serve``;
* for ``target="k8s"`` also ``configmap.yaml`` (the ``KEEL_*`` settings: store and artifact
  URIs, never a secret), ``deployment.yaml`` (readiness probe on ``/v1/ready``, liveness on
  ``/v1/health``, a startup probe for the model load, resources, a graceful stop that flushes
  the prediction log), ``service.yaml`` and ``hpa.yaml`` (``autoscaling/v2`` on CPU).

Secrets never land in these files. A store URI with a password, a Redis URI with one, and the
object store's credentials are read from a Kubernetes Secret that the Deployment references by
name (``envFrom.secretRef``, created by the operator with ``kubectl create secret``); the
ConfigMap then leaves that setting out, and the Secret, listed last, wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from keel.errors import InvalidArgumentError

__all__ = ["Resources", "TargetPlan", "write_targets"]

_PORT = 8080
_FLAVOR_EXTRAS = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "pytorch": "torch",
}
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Resources:
    """CPU and memory of each serving pod, in Kubernetes quantities.

    Attributes:
        cpu_request: CPU reserved per pod (``"500m"``: half a core).
        memory_request: Memory reserved per pod.
        cpu_limit: CPU ceiling per pod (``None``: none, to avoid throttling latency).
        memory_limit: Memory ceiling per pod (the pod is restarted above it).
    """

    cpu_request: str = "500m"
    memory_request: str = "512Mi"
    cpu_limit: str | None = None
    memory_limit: str = "1Gi"

    def to_dict(self) -> dict[str, Any]:
        """Return the container's ``resources`` block."""
        limits: dict[str, str] = {"memory": self.memory_limit}
        if self.cpu_limit is not None:
            limits["cpu"] = self.cpu_limit
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": limits,
        }


@dataclass(frozen=True)
class TargetPlan:
    """What the files describe, resolved before anything is written.

    Attributes:
        name: The Kubernetes name of every object (a DNS label).
        serve_ref: What ``keel serve`` is given: the deployment's name or a model URI.
        model_name: The registered model, if known.
        flavor: The model's flavor, if known (decides the extra installed).
        image: The container image the manifests run.
        keel_spec: The pip requirement that installs Keel in the image.
        config: The ``KEEL_*`` settings of the ConfigMap (no secrets).
        secret_keys: The keys the referenced Secret should hold.
    """

    name: str
    serve_ref: str
    model_name: str | None
    flavor: str | None
    image: str
    keel_spec: str
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)


def _dns_name(raw: str) -> str:
    name = _DNS_LABEL.sub("-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:63].rstrip("-")
    if not name:
        raise InvalidArgumentError(
            f"Cannot make a Kubernetes name out of {raw!r}: it has no letters or digits. Pass "
            "name='my-service'."
        )
    return name


def _has_password(uri: str | None) -> bool:
    if not uri or "://" not in uri:
        return False
    try:
        return bool(urlsplit(uri).password)
    except ValueError:
        return True  # unparseable: treat as secret rather than leak it


def _resolve_model(ref: str) -> tuple[str, str | None, str | None, str]:
    """Return ``(serve_ref, model_name, flavor, default_name)`` for a deployment or URI."""
    from keel.tracking import get_client

    store = get_client().store
    if ":/" in ref:
        from keel.registry import parse_model_uri
        from keel.store._registry import RegistryRepository

        parsed = parse_model_uri(ref)
        if parsed.scheme != "models" or parsed.name is None:
            return ref, None, None, f"model-{(parsed.run_id or 'run')[:8]}"
        mv = RegistryRepository(store).resolve_manifest(
            parsed.name, version=parsed.version, alias=parsed.alias
        )
        suffix = parsed.alias or (f"v{parsed.version}" if parsed.version else "latest")
        return ref, parsed.name, mv.flavor, f"{parsed.name}-{suffix}"
    from keel.store._registry import RegistryRepository
    from keel.store._serving import DeploymentRepository

    record = DeploymentRepository(store).get_deployment(ref)  # names near matches if unknown
    spec = record.spec
    mv = RegistryRepository(store).resolve_manifest(
        spec.model_name, version=spec.version, alias=spec.alias
    )
    return record.name, spec.model_name, mv.flavor, record.name


def _extras(flavor: str | None, uris: list[str | None]) -> list[str]:
    extras = {"serving"}
    if flavor in _FLAVOR_EXTRAS:
        extras.add(_FLAVOR_EXTRAS[flavor])
    for uri in uris:
        if not uri:
            continue
        if uri.startswith("postgresql"):
            extras.add("postgres")
        elif uri.startswith("s3://"):
            extras.add("s3")
        elif uri.startswith("redis"):
            extras.add("redis")
    return sorted(extras)


def plan_targets(
    deployment: str,
    *,
    image: str | None = None,
    name: str | None = None,
    store_uri: str | None = None,
    artifact_uri: str | None = None,
    online_store_uri: str | None = None,
    keel_spec: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> TargetPlan:
    """Resolve what :func:`write_targets` writes; see there for the arguments.

    Raises:
        NotFoundError: No deployment has that name, or the model URI names nothing.
        InvalidArgumentError: A name or setting cannot be used.
    """
    from keel._version import __version__
    from keel.config import get_settings

    serve_ref, model_name, flavor, default_name = _resolve_model(deployment)
    settings = get_settings()
    store = store_uri or settings.store_uri
    artifacts = artifact_uri or settings.artifact_uri
    online = online_store_uri or settings.online_store_uri
    k8s_name = _dns_name(name or default_name)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (
        ("KEEL_STORE_URI", store),
        ("KEEL_ARTIFACT_URI", artifacts),
        ("KEEL_ONLINE_STORE", online),
        ("KEEL_S3_ENDPOINT_URL", settings.s3_endpoint_url),
    ):
        if not value:
            continue
        if _has_password(value):
            secret_keys.append(key)
        else:
            config[key] = value
    for key, value in (extra_env or {}).items():
        if not key.startswith("KEEL_"):
            raise InvalidArgumentError(
                f"extra_env may only set KEEL_* settings, got {key!r}. Put credentials in the "
                "Secret the Deployment references."
            )
        if any(word in key for word in ("TOKEN", "PASSWORD", "SECRET", "KEY")):
            raise InvalidArgumentError(
                f"{key!r} looks like a secret; it would be stored in plain text in the "
                "ConfigMap. Put it in the Secret the Deployment references instead."
            )
        config[key] = value
    uris = [store, artifacts, online]
    if any(u and u.startswith("s3://") for u in uris):
        secret_keys += ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    spec = keel_spec or f"keel[{','.join(_extras(flavor, uris))}]=={__version__}"
    return TargetPlan(
        name=k8s_name,
        serve_ref=serve_ref,
        model_name=model_name,
        flavor=flavor,
        image=image or f"{k8s_name}:{__version__}",
        keel_spec=spec,
        config=config,
        secret_keys=secret_keys,
    )


def dockerfile(plan: TargetPlan, *, workers: int = 1) -> str:
    """Return the Dockerfile text of a plan."""
    cmd = [
        "keel",
        "serve",
        plan.serve_ref,
        "--host",
        "0.0.0.0",  # a container listens on its own interface
        "--port",
        str(_PORT),
        "--workers",
        str(workers),
    ]
    health = (
        "python -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:"
        f"{_PORT}/v1/health', timeout=2)\""
    )
    return "\n".join(
        [
            f"# Serves {plan.serve_ref!r} with `keel serve`. Written by `keel deploy --target`.",
            "# Settings (KEEL_STORE_URI, KEEL_ARTIFACT_URI, ...) come from the environment at",
            "# run time (the Kubernetes ConfigMap and Secret); none is baked into the image.",
            "FROM python:3.11-slim",
            "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 "
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            f"RUN pip install {json.dumps(plan.keel_spec)}",
            "RUN useradd --create-home --uid 10001 keel",
            "USER 10001",
            "WORKDIR /home/keel",
            "ENV KEEL_HOME=/home/keel/.keel",
            f"EXPOSE {_PORT}",
            f"HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD {health}",
            # Exec form: keel is PID 1 and gets SIGTERM, so it drains and flushes the log.
            f"CMD {json.dumps(cmd)}",
            "",
        ]
    )


def manifests(
    plan: TargetPlan,
    *,
    replicas: int = 2,
    min_replicas: int = 2,
    max_replicas: int = 10,
    cpu_target: int = 70,
    resources: Resources | None = None,
    secret_name: str | None = None,
    namespace: str | None = None,
    workers: int = 1,
) -> dict[str, dict[str, Any]]:
    """Return the Kubernetes objects of a plan, by file name (``deployment.yaml``, ...)."""
    labels = {
        "app.kubernetes.io/name": "keel-serving",
        "app.kubernetes.io/instance": plan.name,
        "app.kubernetes.io/managed-by": "keel",
    }
    if plan.model_name:
        labels["keel.dev/model"] = _dns_name(plan.model_name)

    def meta(kind_name: str) -> dict[str, Any]:
        m: dict[str, Any] = {"name": kind_name, "labels": dict(labels)}
        if namespace:
            m["namespace"] = namespace
        return m

    config_name = f"{plan.name}-config"
    secret = secret_name or f"{plan.name}-secrets"
    selector = {
        "app.kubernetes.io/name": "keel-serving",
        "app.kubernetes.io/instance": plan.name,
    }
    container = {
        "name": "keel-serve",
        "image": plan.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "keel",
            "serve",
            plan.serve_ref,
            "--host",
            "0.0.0.0",  # the pod's own interface
            "--port",
            str(_PORT),
            "--workers",
            str(workers),
        ],
        "ports": [{"name": "http", "containerPort": _PORT, "protocol": "TCP"}],
        "envFrom": [
            {"configMapRef": {"name": config_name}},
            # Listed last so its keys win; optional so a store without secrets needs none.
            {"secretRef": {"name": secret, "optional": True}},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/v1/ready", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v1/health", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        # Loading a large model may take a while: liveness only starts once this passes.
        "startupProbe": {
            "httpGet": {"path": "/v1/health", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 60,
        },
        "resources": (resources or Resources()).to_dict(),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(plan.name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [container],
                    # preStop sleep + draining + flushing the prediction log fit in this.
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(plan.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(plan.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cpu_target},
                    },
                }
            ],
        },
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(config_name),
        "data": dict(sorted(plan.config.items())),
    }
    return {
        "configmap.yaml": configmap,
        "deployment.yaml": deployment,
        "service.yaml": service,
        "hpa.yaml": hpa,
    }


def _check_counts(replicas: int, min_replicas: int, max_replicas: int, cpu_target: int) -> None:
    for label, value in (
        ("replicas", replicas),
        ("min_replicas", min_replicas),
        ("max_replicas", max_replicas),
    ):
        if not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(f"{label} must be a positive integer, got {value!r}.")
    if min_replicas > max_replicas:
        raise InvalidArgumentError(
            f"min_replicas ({min_replicas}) is larger than max_replicas ({max_replicas}); "
            "raise max_replicas or lower min_replicas."
        )
    if not 1 <= cpu_target <= 100:
        raise InvalidArgumentError(
            f"cpu_target is a percentage of the CPU request, 1 to 100, got {cpu_target!r}."
        )


def write_targets(
    deployment: str,
    *,
    target: Literal["docker", "k8s"],
    out: str | Path,
    image: str | None = None,
    name: str | None = None,
    replicas: int = 2,
    min_replicas: int = 2,
    max_replicas: int = 10,
    cpu_target: int = 70,
    workers: int = 1,
    resources: Resources | None = None,
    secret_name: str | None = None,
    namespace: str | None = None,
    store_uri: str | None = None,
    artifact_uri: str | None = None,
    online_store_uri: str | None = None,
    keel_spec: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write a Dockerfile, and for ``k8s`` Kubernetes manifests, that serve a deployment.

    Args:
        deployment: A deployment recorded in the store (``churn-prod``) or a model URI
            (``models:/churn@champion``).
        target: ``docker`` (a Dockerfile) or ``k8s`` (the Dockerfile plus ConfigMap,
            Deployment, Service and HorizontalPodAutoscaler manifests).
        out: The folder to write into (created if missing).
        image: The image the manifests run (default ``NAME:KEEL_VERSION``).
        name: The Kubernetes name of the objects (default: the deployment's name).
        replicas: Initial replicas of the Deployment.
        min_replicas: The autoscaler's minimum.
        max_replicas: The autoscaler's maximum.
        cpu_target: The autoscaler's target CPU use, in percent of the request.
        workers: ``keel serve`` worker processes per pod.
        resources: CPU and memory per pod.
        secret_name: The Secret holding credentials (default ``NAME-secrets``).
        namespace: Put every object in this namespace.
        store_uri: The metadata store the pods use (default: the current setting).
        artifact_uri: The artifact store the pods use (default: the current setting).
        online_store_uri: The online feature store (default: the current setting).
        keel_spec: The pip requirement installing Keel in the image (default
            ``keel[serving,<flavor extra>,...]==<this version>``).
        extra_env: More ``KEEL_*`` settings for the ConfigMap (no secrets).

    Returns:
        The files written.

    Raises:
        NotFoundError: No deployment has that name, or the model URI names nothing.
        InvalidArgumentError: An option is invalid, or ``extra_env`` holds a secret.

    Examples:
        >>> from keel.serving import write_targets  # doctest: +SKIP
        >>> write_targets("churn-prod", target="k8s", out="deploy/")  # doctest: +SKIP
        [PosixPath('deploy/Dockerfile'), PosixPath('deploy/configmap.yaml'), ...]
    """
    import yaml

    if target not in ("docker", "k8s"):
        raise InvalidArgumentError(f"Unknown target {target!r}. Use 'docker' or 'k8s'.")
    _check_counts(replicas, min_replicas, max_replicas, cpu_target)
    if not isinstance(workers, int) or workers < 1:
        raise InvalidArgumentError(f"workers must be a positive integer, got {workers!r}.")
    plan = plan_targets(
        deployment,
        image=image,
        name=name,
        store_uri=store_uri,
        artifact_uri=artifact_uri,
        online_store_uri=online_store_uri,
        keel_spec=keel_spec,
        extra_env=extra_env,
    )
    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    written = [_write(folder / "Dockerfile", dockerfile(plan, workers=workers))]
    if target == "docker":
        return written
    objects = manifests(
        plan,
        replicas=replicas,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu_target=cpu_target,
        resources=resources,
        secret_name=secret_name,
        namespace=namespace,
        workers=workers,
    )
    secret = secret_name or f"{plan.name}-secrets"
    for filename, obj in objects.items():
        header = f"# {obj['kind']} of Keel deployment {plan.serve_ref!r}. Written by Keel.\n"
        if filename == "deployment.yaml" and plan.secret_keys:
            keys = " ".join(f"--from-literal={k}=..." for k in plan.secret_keys)
            header += (
                f"# Credentials come from the Secret {secret!r}; create it first:\n"
                f"#   kubectl create secret generic {secret} {keys}\n"
            )
        local = _local_settings(plan.config)
        if filename == "configmap.yaml" and local:
            header += (
                f"# Note: {', '.join(local)} point at this machine's files, which pods cannot\n"
                "# share: for more than one replica, use PostgreSQL and s3:// (set KEEL_STORE_URI\n"
                "# and KEEL_ARTIFACT_URI before `keel deploy --target`, or pass them here).\n"
            )
        text = header + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
        written.append(_write(folder / filename, text))
    return written


def _local_settings(config: Mapping[str, str]) -> list[str]:
    """The settings that name a local file or folder instead of a shared service."""
    return [
        key
        for key, value in sorted(config.items())
        if key in ("KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_ONLINE_STORE")
        and (value.startswith(("sqlite:", "/", "file:", ".")) or "://" not in value)
    ]


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path

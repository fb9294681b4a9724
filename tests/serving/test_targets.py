"""Deployment targets: the Dockerfile and Kubernetes manifests ``write_targets`` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import keel
from keel.errors import InvalidArgumentError, NotFoundError
from keel.serving._targets import Resources, write_targets
from tests.conftest import from_template

KINDS = {
    "configmap.yaml": "V1ConfigMap",
    "deployment.yaml": "V1Deployment",
    "service.yaml": "V1Service",
    "hpa.yaml": "V2HorizontalPodAutoscaler",
}


@pytest.fixture
def registered(keel_home: Path, request: pytest.FixtureRequest) -> None:
    from sklearn.linear_model import LogisticRegression

    from keel.config import get_settings

    from_template(get_settings().store_uri, request)
    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) % 3})
    with keel.start_run():
        info = keel.log_model(
            LogisticRegression().fit(X, X["a"] > 9),
            "model",
            input_example=X[:3],
            registered_name="churn",
        )
    keel.models.set_alias("churn", "champion", version=info.version)


def _deploy(name: str) -> None:
    from keel.store._serving import DeploymentRepository, DeploymentSpec
    from keel.tracking import get_client

    DeploymentRepository(get_client().store).create_deployment(
        name, DeploymentSpec(model_name="churn", alias="champion")
    )


def _k8s(kind: str, doc: dict[str, Any]) -> Any:
    """Deserialize with the kubernetes client's models, which reject missing required fields."""
    from kubernetes.client import ApiClient

    return ApiClient()._ApiClient__deserialize(doc, kind)


def test_k8s_manifests_parse_and_validate_against_the_client_models(
    registered: None, tmp_path: Path
) -> None:
    _deploy("Churn_Prod")
    files = write_targets(
        "Churn_Prod",
        target="k8s",
        out=tmp_path / "deploy",
        image="registry.example/churn:1",
        resources=Resources(cpu_request="250m", memory_limit="768Mi"),
        min_replicas=1,
        max_replicas=4,
    )
    assert [f.name for f in files] == ["Dockerfile", *KINDS]
    docs = {f.name: yaml.safe_load(f.read_text()) for f in files[1:]}
    objs = {name: _k8s(KINDS[name], doc) for name, doc in docs.items()}
    from kubernetes.client import ApiClient

    for name, obj in objs.items():  # every field is one the models know: nothing was dropped
        assert ApiClient().sanitize_for_serialization(obj) == docs[name], name

    dep = objs["deployment.yaml"]
    assert dep.metadata.name == "churn-prod"
    assert dep.spec.selector.match_labels.items() <= dep.spec.template.metadata.labels.items()
    (c,) = dep.spec.template.spec.containers
    assert c.image == "registry.example/churn:1"
    assert c.args[:3] == ["keel", "serve", "Churn_Prod"]
    assert c.readiness_probe.http_get.path == "/v1/ready"
    assert c.liveness_probe.http_get.path == "/v1/health"
    assert c.readiness_probe.http_get.port == c.ports[0].name == "http"
    assert c.resources.requests == {"cpu": "250m", "memory": "512Mi"}
    assert c.resources.limits == {"memory": "768Mi"}
    assert c.env_from[0].config_map_ref.name == objs["configmap.yaml"].metadata.name
    assert c.env_from[1].secret_ref.name == "churn-prod-secrets"

    svc = objs["service.yaml"]
    assert svc.spec.selector == dep.spec.selector.match_labels
    assert svc.spec.ports[0].target_port == "http"

    hpa = objs["hpa.yaml"]
    ref = hpa.spec.scale_target_ref
    assert (ref.api_version, ref.kind, ref.name) == ("apps/v1", "Deployment", "churn-prod")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 4)
    assert hpa.spec.metrics[0].resource.target.average_utilization == 70

    data = objs["configmap.yaml"].data
    assert set(data) == {"KEEL_STORE_URI", "KEEL_ARTIFACT_URI", "KEEL_ONLINE_STORE"}
    assert data["KEEL_STORE_URI"].startswith("sqlite:///")
    assert "# Note: KEEL_ARTIFACT_URI, KEEL_ONLINE_STORE, KEEL_STORE_URI point at" in (
        files[1].read_text()
    )

    dockerfile = files[0].read_text()
    assert 'pip install "keel[serving,sklearn]==' in dockerfile
    assert 'CMD ["keel", "serve", "Churn_Prod", "--host", "0.0.0.0", "--port", "8080"' in (
        dockerfile
    )
    assert "USER 10001" in dockerfile


def test_secrets_stay_out_of_the_configmap(registered: None, tmp_path: Path) -> None:
    files = write_targets(
        "models:/churn@champion",
        target="k8s",
        out=tmp_path,
        store_uri="postgresql+psycopg://keel:hunter2@db:5432/keel",
        artifact_uri="s3://models/keel",
        online_store_uri="redis://:s3cret@cache:6379/0",
        secret_name="keel-creds",
        namespace="ml",
    )
    text = "\n".join(f.read_text() for f in files)
    assert "hunter2" not in text
    assert "s3cret" not in text
    cm = yaml.safe_load((tmp_path / "configmap.yaml").read_text())
    assert cm["metadata"] == {
        "name": "churn-champion-config",
        "labels": cm["metadata"]["labels"],
        "namespace": "ml",
    }
    assert cm["data"] == {"KEEL_ARTIFACT_URI": "s3://models/keel"}
    assert "# Note:" not in (tmp_path / "configmap.yaml").read_text()
    deployment = (tmp_path / "deployment.yaml").read_text()
    assert (
        "kubectl create secret generic keel-creds --from-literal=KEEL_STORE_URI=... "
        "--from-literal=KEEL_ONLINE_STORE=... --from-literal=AWS_ACCESS_KEY_ID=..."
    ) in deployment
    assert 'pip install "keel[postgres,redis,s3,serving,sklearn]==' in files[0].read_text()
    with pytest.raises(InvalidArgumentError, match=r"'KEEL_API_TOKEN' looks like a secret"):
        write_targets(
            "models:/churn/1", target="k8s", out=tmp_path, extra_env={"KEEL_API_TOKEN": "x"}
        )


def test_docker_target_and_errors(registered: None, tmp_path: Path) -> None:
    files = write_targets("models:/churn/1", target="docker", out=tmp_path / "d")
    assert [f.name for f in files] == ["Dockerfile"]
    assert "/v1/health" in files[0].read_text()
    _deploy("churn-prod")
    with pytest.raises(NotFoundError, match=r"churn-prd.*Did you mean 'churn-prod'"):
        write_targets("churn-prd", target="k8s", out=tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"Unknown target 'helm'"):
        write_targets("churn-prod", target="helm", out=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"min_replicas \(5\) is larger"):
        write_targets("churn-prod", target="k8s", out=tmp_path, min_replicas=5, max_replicas=2)

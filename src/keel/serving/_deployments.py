"""Deployments: which model a named endpoint serves, and how traffic is split between versions.

::

    keel.serving.create_deployment("churn-prod", "churn", alias="champion")
    keel.serving.set_canary("churn-prod", version=4, percent=10)   # 10% of requests to v4
    keel.serving.set_shadow("churn-prod", version=4)               # v4 on every request, unseen
    keel.serving.rollback("churn-prod")                            # undo the last change

Every change is a new revision with its history row, audit event and lineage edges
``model_version -> deployment``; running servers pick changes up within about a second.
"""

from __future__ import annotations

import dataclasses
import re

from keel.errors import InvalidArgumentError, InvalidStateError
from keel.store._serving import (
    DeploymentEventRecord,
    DeploymentRecord,
    DeploymentRepository,
    DeploymentSpec,
)

__all__ = [
    "create_deployment",
    "deployment_history",
    "get_deployment",
    "list_deployments",
    "parse_canary",
    "rollback",
    "set_canary",
    "set_shadow",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")


def _repo() -> DeploymentRepository:
    from keel.registry import get_registry

    return DeploymentRepository(get_registry().store)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"Invalid deployment name {name!r}: use 1 to 256 letters, digits, '_', '.' and '-', "
            "starting with a letter or digit, such as 'churn-prod'."
        )
    return name


def _check_version(model: str, version: int) -> int:
    from keel.registry import models

    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidArgumentError(f"A version is a positive integer, got {version!r}.")
    models.get_version(model, version)  # NotFoundError names the versions there are
    return version


def _alias_version(model: str, alias: str) -> int:
    from keel.registry import get_registry

    return get_registry().repo.get_version_by_alias(model, alias).version


def create_deployment(
    name: str,
    model: str,
    *,
    alias: str | None = None,
    version: int | None = None,
    feature_service: str | None = None,
    description: str = "",
    reason: str = "",
) -> DeploymentRecord:
    """Record a deployment of a registered model that follows an alias or pins a version.

    Args:
        name: The deployment's name (``churn-prod``); also the name of its prediction log.
        model: The registered model.
        alias: Follow this alias (servers switch when it moves).
        version: Pin this version instead.
        feature_service: The feature service ``{"entities": ...}`` requests read; by default
            the one the model version records (see :mod:`keel.serving`).
        description: What the deployment is for.
        reason: Why, kept in its history and the audit log.

    Returns:
        The new deployment at revision 1.

    Raises:
        InvalidArgumentError: Neither or both of ``alias`` and ``version`` were given.
        NotFoundError: The model, alias or version does not exist.
        AlreadyExistsError: The name is taken.
    """
    from keel.registry._uri import validate_alias, validate_model_name

    _check_name(name)
    validate_model_name(model)
    if (alias is None) == (version is None):
        raise InvalidArgumentError(
            f"Deployment {name!r}: give exactly one of alias (such as 'champion', followed as it "
            f"moves) and version (pinned); got alias={alias!r}, version={version!r}."
        )
    if alias is not None:
        served = [_alias_version(model, validate_alias(alias))]
    else:
        served = [_check_version(model, int(version or 0))]
    spec = DeploymentSpec(model, alias=alias, version=version, feature_service=feature_service)
    return _repo().create_deployment(
        name, spec, description=description, reason=reason, served_versions=served
    )


def get_deployment(name: str) -> DeploymentRecord:
    """Return a deployment.

    Raises:
        NotFoundError: No deployment has that name (near names are listed).
    """
    return _repo().get_deployment(name)


def list_deployments(model: str | None = None) -> list[DeploymentRecord]:
    """Return every deployment (of one registered model if given), by name."""
    return _repo().list_deployments(model)


def deployment_history(name: str) -> list[DeploymentEventRecord]:
    """Return a deployment's revisions, oldest first."""
    return _repo().list_events(name)


def parse_canary(text: str) -> tuple[int | None, float]:
    """Parse ``VERSION:PERCENT`` (``"4:10"``); ``"off"`` or ``"none"`` removes the canary.

    Examples:
        >>> parse_canary("4:10")
        (4, 10.0)
        >>> parse_canary("off")
        (None, 0.0)

    Raises:
        InvalidArgumentError: Another form, or a percent outside 0 to 100.
    """
    if text.strip().lower() in ("off", "none", "0"):
        return None, 0.0
    version, sep, percent = text.partition(":")
    try:
        v, p = int(version), float(percent)
    except ValueError:
        v, p = 0, -1.0
    if not sep or v < 1 or not 0 <= p <= 100:
        raise InvalidArgumentError(
            f"Invalid canary {text!r}: use VERSION:PERCENT, such as '4:10' (10% of requests to "
            "version 4), or 'off' to remove the canary."
        )
    return v, p


def set_canary(
    name: str, version: int | None, percent: float = 0.0, *, reason: str = ""
) -> DeploymentRecord:
    """Send ``percent`` percent of a deployment's requests to ``version`` (``None``: stop).

    Each request goes to one version (its instances are one batch); the split is random per
    request. Both versions' predictions are logged under the deployment, each segment naming
    its version.

    Raises:
        NotFoundError: The deployment or the version does not exist.
        InvalidArgumentError: ``percent`` is outside 0 to 100.
    """
    current = get_deployment(name)
    if version is None:
        spec = dataclasses.replace(current.spec, canary_version=None, canary_percent=None)
    else:
        if not 0 <= float(percent) <= 100:
            raise InvalidArgumentError(
                f"A canary's share is a percent from 0 to 100, got {percent!r}."
            )
        _check_version(current.spec.model_name, version)
        spec = dataclasses.replace(
            current.spec, canary_version=version, canary_percent=float(percent)
        )
    return _repo().update_deployment(
        name, spec, action="canary", reason=reason, expected_revision=current.revision
    )


def set_shadow(name: str, version: int | None, *, reason: str = "") -> DeploymentRecord:
    """Run ``version`` on every request of a deployment without returning its answer.

    Shadow predictions are logged under ``<deployment>.shadow`` with the same prediction ids
    as the answers, so the two logs join on ``prediction_id``. ``None`` stops the shadow.

    Raises:
        NotFoundError: The deployment or the version does not exist.
    """
    current = get_deployment(name)
    if version is not None:
        _check_version(current.spec.model_name, version)
    spec = dataclasses.replace(current.spec, shadow_version=version)
    return _repo().update_deployment(
        name, spec, action="shadow", reason=reason, expected_revision=current.revision
    )


def set_target(
    name: str, *, alias: str | None = None, version: int | None = None, reason: str = ""
) -> DeploymentRecord:
    """Make a deployment follow another alias or pin another version.

    Raises:
        InvalidArgumentError: Neither or both of ``alias`` and ``version``.
        NotFoundError: The deployment, alias or version does not exist.
    """
    current = get_deployment(name)
    model = current.spec.model_name
    if (alias is None) == (version is None):
        raise InvalidArgumentError("Give exactly one of alias and version.")
    served = [_alias_version(model, alias)] if alias is not None else []
    if version is not None:
        _check_version(model, version)
    spec = dataclasses.replace(current.spec, alias=alias, version=version)
    return _repo().update_deployment(
        name,
        spec,
        action="retarget",
        reason=reason,
        expected_revision=current.revision,
        served_versions=served,
    )


def rollback(name: str, *, reason: str = "") -> DeploymentRecord:
    """Restore a deployment's settings from before its last change, as a new revision.

    Like ``kubectl rollout undo``, rolling back twice returns to where it started. To undo an
    alias move, move the alias back (``keel models promote``).

    Raises:
        NotFoundError: No deployment has that name.
        InvalidStateError: It has never changed since it was created.
    """
    history = deployment_history(name)
    if len(history) < 2:
        raise InvalidStateError(
            f"Deployment {name!r} has not changed since it was created, so there is nothing to "
            "roll back. Change it with --canary or --shadow first.",
            details={"deployment": name},
        )
    previous = history[-2]
    return _repo().update_deployment(
        name,
        previous.spec,
        action="rollback",
        reason=reason or f"rollback to the settings of revision {previous.revision}",
        expected_revision=history[-1].revision,
    )

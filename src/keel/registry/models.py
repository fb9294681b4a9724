"""The model registry API (``keel.models``): models, versions, aliases, gates, promotion.

::

    keel.models.set_alias("churn", "champion", version=3)
    keel.models.add_gate("churn", keel.gates.metric("auc", ">=", 0.85))
    keel.models.approve("churn", 4, role="approver")
    keel.models.promote("churn", 4, to="champion", reason="weekly retrain")
    keel.models.write_card("churn", 4, "churn-v4.html")

Versions are created by :func:`keel.log_model` with ``registered_name=``. Aliases move
atomically and every move is audited; ``promote`` runs every gate that applies to the target
alias, records each result, and moves the alias only if all passed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidArgumentError, KeelError, ValidationFailedError
from keel.registry._client import RegistryClient
from keel.registry._roles import require_role
from keel.registry._uri import validate_alias, validate_model_name
from keel.registry.gates import Gate, GateContext, GateOutcome, gate_from_spec, store_holdout

if TYPE_CHECKING:
    from keel.store._registry import (
        AliasMoveRecord,
        ApprovalRecord,
        GateRecord,
        GateResultRecord,
        ModelVersionRecord,
        PromotionRecord,
        RegisteredModelRecord,
    )

__all__ = [
    "add_gate",
    "alias_history",
    "approve",
    "check_gates",
    "create_model",
    "delete_alias",
    "gate_results",
    "get_latest_version",
    "get_model",
    "get_version",
    "get_version_by_alias",
    "list_approvals",
    "list_gates",
    "list_models",
    "list_promotions",
    "list_versions",
    "model_card",
    "promote",
    "remove_gate",
    "set_alias",
    "set_holdout",
    "update_model",
    "write_card",
]


class _Any:
    def __repr__(self) -> str:
        return "ANY"


_ANY: Any = _Any()


def _client() -> RegistryClient:
    return RegistryClient()


def _version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise InvalidArgumentError(f"A model version is a positive integer, got {value!r}.")
    if value < 1:
        raise InvalidArgumentError(f"A model version is a positive integer, got {value!r}.")
    return value


# -- models -----------------------------------------------------------------------------------


def create_model(
    name: str, *, description: str = "", intended_use: str = ""
) -> RegisteredModelRecord:
    """Create a registered model with no versions yet.

    Raises:
        AlreadyExistsError: A model of that name exists.
    """
    client = _client()
    return client.repo.create_model(
        validate_model_name(name),
        description=description,
        intended_use=intended_use,
        actor=client.actor,
    )


def get_model(name: str) -> RegisteredModelRecord:
    """Return a registered model with its aliases.

    Raises:
        NotFoundError: No model has that name (near names are suggested).
    """
    return _client().repo.get_model(name)


def list_models(name_like: str | None = None) -> list[RegisteredModelRecord]:
    """Return every registered model, by name (only names containing ``name_like``)."""
    return _client().repo.list_models(name_like)


def update_model(
    name: str, *, description: str | None = None, intended_use: str | None = None
) -> RegisteredModelRecord:
    """Change a model's description or intended use (shown on its model cards)."""
    return _client().repo.update_model(name, description=description, intended_use=intended_use)


def set_holdout(name: str, data: Any, *, target: str | None = None) -> RegisteredModelRecord:
    """Record the holdout data on which ``beats`` gates compare versions of ``name``.

    Args:
        name: The registered model.
        data: A DataFrame with a ``target`` column, an ``(X, y)`` pair, or a dataset version
            ``"name@vN"``. Frames and pairs are stored as Parquet in the artifact store.
        target: The label column.
    """
    client = _client()
    client.repo.get_model(name)
    ref = store_holdout(client, data, target)
    return client.repo.update_model(name, holdout=ref)


# -- versions ---------------------------------------------------------------------------------


def get_version(name: str, version: int) -> ModelVersionRecord:
    """Return a version with its metrics and aliases.

    Raises:
        NotFoundError: The model or version does not exist.
    """
    return _client().repo.get_version(name, _version(version))


def get_latest_version(name: str) -> ModelVersionRecord:
    """Return the newest version of a model."""
    return _client().repo.get_latest_version(name)


def get_version_by_alias(name: str, alias: str) -> ModelVersionRecord:
    """Return the version an alias points at.

    Raises:
        NotFoundError: The model or alias does not exist (near aliases are suggested).
    """
    return _client().repo.get_version_by_alias(name, alias)


def list_versions(name: str) -> list[ModelVersionRecord]:
    """Return every version of a model, newest first."""
    return _client().repo.list_versions(name)


# -- aliases ----------------------------------------------------------------------------------


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    expected_version: int | None | Any = _ANY,
    reason: str = "",
) -> AliasMoveRecord:
    """Point ``alias`` at ``version``, atomically, without running gates (audited).

    Args:
        name: The registered model.
        alias: The alias (``champion``, ``challenger``, ...).
        version: The version to point at.
        expected_version: Compare-and-set: move only if the alias points at this version now
            (``None``: only if it does not exist yet). By default it moves whatever it points
            at; the move is still atomic and recorded with the version it replaced.
        reason: Why, kept in the alias history and the audit log.

    Raises:
        InvalidStateError: ``expected_version`` does not match (someone moved it meanwhile).
        NotFoundError: The model or version does not exist.
    """
    from keel.store._registry import ANY_VERSION

    client = _client()
    return client.repo.move_alias(
        name,
        validate_alias(alias),
        _version(version),
        expected=ANY_VERSION if expected_version is _ANY else expected_version,
        action="set",
        reason=reason,
        actor=client.actor,
    )


def delete_alias(
    name: str, alias: str, *, expected_version: int | None | Any = _ANY, reason: str = ""
) -> AliasMoveRecord:
    """Remove an alias (audited, and kept in its history).

    Raises:
        NotFoundError: The model or alias does not exist.
        InvalidStateError: ``expected_version`` does not match.
    """
    from keel.store._registry import ANY_VERSION

    client = _client()
    return client.repo.move_alias(
        name,
        alias,
        None,
        expected=ANY_VERSION if expected_version is _ANY else expected_version,
        action="delete",
        reason=reason,
        actor=client.actor,
    )


def alias_history(name: str, alias: str | None = None) -> list[AliasMoveRecord]:
    """Return every move of a model's aliases (or of one alias), oldest first."""
    return _client().repo.list_alias_history(name, alias)


# -- gates ------------------------------------------------------------------------------------


def add_gate(name: str, gate: Gate, *, alias: str | None = None) -> GateRecord:
    """Add a promotion gate to a model (adding the same gate again changes nothing).

    Args:
        name: The registered model.
        gate: A gate from :mod:`keel.gates`.
        alias: Apply the gate only to promotions to this alias (every promotion by default).

    Raises:
        NotFoundError: The model does not exist.
    """
    if not isinstance(gate, Gate):
        raise InvalidArgumentError(
            f"add_gate takes a gate from keel.gates (metric, data_validated, beats, approval), "
            f"got {gate!r}."
        )
    client = _client()
    client.repo.get_model(name)
    gate.prepare(client)
    record, _ = client.repo.add_gate(
        name,
        gate.name,
        gate.kind,
        gate.spec(),
        "" if alias is None else validate_alias(alias),
        client.actor,
    )
    return record


def remove_gate(name: str, gate_name: str, *, alias: str | None = None) -> None:
    """Remove a gate by name (``metric:auc>=0.85``; see :func:`list_gates`)."""
    _client().repo.remove_gate(name, gate_name, alias or "")


def list_gates(name: str, alias: str | None = None) -> list[GateRecord]:
    """Return a model's gates (only those that apply to ``alias``, if given)."""
    return _client().repo.list_gates(name, alias)


def _evaluate(
    client: RegistryClient, name: str, version: int, alias: str
) -> tuple[ModelVersionRecord | None, list[tuple[GateRecord, GateOutcome]]]:
    model = client.repo.get_model(name)
    mv = client.repo.get_version(name, version)
    current_number = model.aliases.get(alias)
    current = None if current_number is None else client.repo.get_version(name, current_number)
    ctx = GateContext(client, model, mv, alias, current)
    outcomes = []
    for record in client.repo.list_gates(name, alias):
        try:
            gate = gate_from_spec(record.kind, record.spec)
            outcome = gate.evaluate(ctx)
        except KeelError as exc:
            outcome = GateOutcome(False, exc.message, {"error": exc.code})
        except Exception as exc:  # a model's own predict failed: the gate fails, with why
            outcome = GateOutcome(False, f"{type(exc).__name__}: {exc}", {"error": "exception"})
        outcomes.append((record, outcome))
    return current, outcomes


def check_gates(name: str, version: int, *, to: str = "champion") -> list[GateResultRecord]:
    """Evaluate every gate for promoting ``version`` to ``to`` without moving anything.

    The results are recorded (as a dry run, with no promotion id).
    """
    client = _client()
    number = _version(version)
    alias = validate_alias(to)
    from keel.store._rest import RestRegistryRepository

    remote: object = client.repo
    if isinstance(remote, RestRegistryRepository):  # the server runs the gates, not a client
        return remote.check_gates(name, number, alias)
    return check_gates_on(client, name, number, alias, actor=client.actor)


def check_gates_on(
    client: RegistryClient, name: str, number: int, alias: str, *, actor: str
) -> list[GateResultRecord]:
    """Evaluate and record the gates of a promotion on ``client``'s store (a dry run).

    The embedded implementation of :func:`check_gates`; the server runs it for remote clients.
    """
    from keel.store._registry import NewGateResult

    _, outcomes = _evaluate(client, name, number, alias)
    return client.repo.record_gate_results(
        name,
        number,
        alias,
        [NewGateResult(r.name, r.kind, o.passed, o.reason, o.details) for r, o in outcomes],
        actor,
    )


def promote(name: str, version: int, *, to: str, reason: str = "") -> PromotionRecord:
    """Move alias ``to`` to ``version`` if every gate that applies passes.

    Each gate is evaluated and its result recorded; the promotion (who, when, why, the
    version it replaced) is recorded whatever the outcome. The alias moves with
    compare-and-set against the version it held when the gates ran, so a promotion decided
    on stale facts is refused rather than overwriting a concurrent move.

    Args:
        name: The registered model.
        version: The version to promote.
        to: The alias to move (``champion``, say).
        reason: Why, kept with the promotion and in the audit log.

    Returns:
        The recorded promotion.

    Raises:
        ValidationFailedError: One or more gates failed; the message lists each with its
            reason, ``details["failed_gates"]`` holds them as data.
        InvalidStateError: The alias moved while the gates were being evaluated.
        NotFoundError: The model or version does not exist.
    """
    client = _client()
    number = _version(version)
    alias = validate_alias(to)
    from keel.store._rest import RestRegistryRepository

    remote: object = client.repo
    if isinstance(remote, RestRegistryRepository):  # the server runs the gates, not a client
        return remote.promote(name, number, alias, reason)
    return promote_on(client, name, number, alias, reason=reason, actor=client.actor)


def promote_on(
    client: RegistryClient, name: str, number: int, alias: str, *, reason: str, actor: str
) -> PromotionRecord:
    """Run the gates and move the alias on ``client``'s store if all pass (see :func:`promote`).

    The embedded implementation of :func:`promote`; the server runs it for remote clients.

    Raises:
        ValidationFailedError: One or more gates failed.
        InvalidStateError: The alias moved while the gates were being evaluated.
    """
    from keel.store._registry import NewGateResult

    current, outcomes = _evaluate(client, name, number, alias)
    results = [NewGateResult(r.name, r.kind, o.passed, o.reason, o.details) for r, o in outcomes]
    record, _ = client.repo.record_promotion(
        name,
        number,
        alias,
        results=results,
        expected=None if current is None else current.version,
        reason=reason,
        actor=actor,
    )
    if record.outcome == "promoted":
        return record
    failed = [r for r in results if not r.passed]
    lines = "; ".join(f"{r.gate_name}: {r.reason}" for r in failed)
    raise ValidationFailedError(
        f"Promotion of {name!r} version {number} to {alias!r} was refused: {len(failed)} of "
        f"{len(results)} gate(s) failed. {lines}. Fix these and promote again; "
        f"'keel models show {name}' lists the gates and their results.",
        details={
            "name": name,
            "version": number,
            "alias": alias,
            "promotion_id": record.id,
            "failed_gates": [{"gate": r.gate_name, "reason": r.reason} for r in failed],
        },
    )


def gate_results(name: str, version: int) -> list[GateResultRecord]:
    """Return every recorded gate result of a version, newest first."""
    return _client().repo.list_gate_results(name, _version(version))


def list_promotions(name: str, version: int | None = None) -> list[PromotionRecord]:
    """Return the promotion attempts of a model (or of one version), newest first."""
    return _client().repo.list_promotions(name, None if version is None else _version(version))


# -- approvals --------------------------------------------------------------------------------


def approve(
    name: str, version: int, *, role: str = "approver", comment: str = ""
) -> ApprovalRecord:
    """Approve a version as the current user, acting in ``role``.

    Approving again in the same role changes nothing.

    Raises:
        PermissionDeniedError: The current user does not hold ``role``.
        NotFoundError: The model or version does not exist.
    """
    client = _client()
    number = _version(version)
    require_role(client.actor, role, f"approve {name!r} version {number}")
    record, _ = client.repo.add_approval(name, number, role, client.actor, comment)
    return record


def list_approvals(name: str, version: int) -> list[ApprovalRecord]:
    """Return the approvals of a version, oldest first."""
    return _client().repo.list_approvals(name, _version(version))


# -- model cards ------------------------------------------------------------------------------


def model_card(name: str, version: int, *, format: str = "md") -> str:
    """Return the model card of a version as Markdown (``md``) or offline HTML (``html``).

    The card is built from what the store knows: description and intended use, the training
    run and its data versions with their validation results, metrics, signature, gate
    results, approvals, promotions, lineage and file digests.
    """
    from keel.registry._card import build_card, render

    return render(build_card(_client(), name, _version(version)), format)


def write_card(
    name: str,
    version: int,
    path: str | os.PathLike[str] | None = None,
    *,
    format: str | None = None,
) -> Path:
    """Write the model card of a version to ``path`` and return the path.

    The format follows the suffix (``.html`` or ``.md``) unless ``format`` is given; the
    default path is ``<name>-v<version>-card.html`` in the current folder.
    """
    fmt = format or (Path(path).suffix.lstrip(".") if path is not None else "html")
    fmt = {"markdown": "md", "htm": "html"}.get(fmt, fmt)
    target = Path(path) if path is not None else Path(f"{name}-v{version}-card.{fmt}")
    text = model_card(name, version, format=fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target

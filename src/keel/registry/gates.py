"""Promotion gates (``keel.gates``): checks a version must pass before an alias moves to it.

::

    keel.models.add_gate("churn", keel.gates.metric("auc", ">=", 0.85))
    keel.models.add_gate("churn", keel.gates.data_validated())
    keel.models.add_gate("churn", keel.gates.beats("champion", metric="auc"))
    keel.models.add_gate("churn", keel.gates.approval(role="approver"))

* :func:`metric`: a metric of the version (copied from its run) against a threshold.
* :func:`data_validated`: every dataset version the training run read has a newest recorded
  validation, and it passed.
* :func:`beats`: the version is better than the one holding an alias, both evaluated now on
  the same holdout data (given to the gate, or recorded with ``keel.models.set_holdout``).
* :func:`approval`: enough people in a role approved the version (``keel models approve``).

A gate is stored as its kind and a JSON spec, so the store knows every gate and every result.
"""

from __future__ import annotations

import io
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from keel.errors import InvalidArgumentError, KeelError, near_matches
from keel.registry._metrics import check_metric, evaluate, higher_is_better

if TYPE_CHECKING:
    from keel.registry._client import RegistryClient
    from keel.store._registry import ModelVersionRecord, RegisteredModelRecord

__all__ = [
    "ApprovalGate",
    "BeatsGate",
    "DataValidatedGate",
    "Gate",
    "GateContext",
    "GateOutcome",
    "MetricGate",
    "approval",
    "beats",
    "data_validated",
    "gate_from_spec",
    "metric",
]


@dataclass(frozen=True)
class GateOutcome:
    """Whether a gate passed, why, and the figures behind the decision."""

    passed: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateContext:
    """What a gate sees when it is evaluated.

    Attributes:
        registry: The registry client (stores, loading models).
        model: The registered model.
        version: The version being promoted.
        alias: The alias it is being promoted to.
        current: The version that alias points at now, if any.
        cache: Loaded models and holdout data shared between the gates of one evaluation.
    """

    registry: RegistryClient
    model: RegisteredModelRecord
    version: ModelVersionRecord
    alias: str
    current: ModelVersionRecord | None
    cache: dict[str, Any] = field(default_factory=dict)


class Gate(ABC):
    """A check a version must pass to be promoted."""

    #: The gate's kind in the store (``metric``, ``data_validated``, ``beats``, ``approval``).
    kind: ClassVar[str]

    @property
    @abstractmethod
    def name(self) -> str:
        """A readable, unique name such as ``metric:auc>=0.85``."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The JSON spec the gate is stored as."""

    @abstractmethod
    def evaluate(self, ctx: GateContext) -> GateOutcome:
        """Decide whether ``ctx.version`` passes."""

    def prepare(self, registry: RegistryClient) -> Gate:
        """Store what the spec must point at (holdout data) before the gate is saved."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


class MetricGate(Gate):
    """A version metric compared with a threshold (``metric("auc", ">=", 0.85)``)."""

    kind = "metric"

    def __init__(self, metric: str, op: str, threshold: float) -> None:
        if not isinstance(metric, str) or not metric:
            raise InvalidArgumentError(f"metric must be a metric name, got {metric!r}.")
        if op not in _OPS:
            raise InvalidArgumentError(
                f"Unknown comparison {op!r} in a metric gate. Use one of {list(_OPS)!r}."
            )
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise InvalidArgumentError(
                f"The threshold of a metric gate must be a number, got {threshold!r}."
            )
        self.metric, self.op, self.threshold = metric, op, float(threshold)

    @property
    def name(self) -> str:
        """``metric:<name><op><threshold>``."""
        return f"metric:{self.metric}{self.op}{self.threshold:g}"

    def spec(self) -> dict[str, Any]:
        """``{"metric", "op", "threshold"}``."""
        return {"metric": self.metric, "op": self.op, "threshold": self.threshold}

    def evaluate(self, ctx: GateContext) -> GateOutcome:
        """Compare the version's metric (copied from its run) with the threshold."""
        metrics = dict(ctx.version.metrics)
        source = ctx.version.metric_sources.get(self.metric, "")
        if self.metric not in metrics:
            # Metrics logged after log_model: copy them now, once, from the run.
            run_metrics = ctx.registry.tracking.get_run(ctx.version.run_id).data.metrics
            added = ctx.registry.repo.add_version_metrics(
                ctx.version.model_name,
                ctx.version.version,
                run_metrics,
                f"run:{ctx.version.run_id}",
            )
            metrics.update(added)
            source = f"run:{ctx.version.run_id}"
        if self.metric not in metrics:
            return GateOutcome(
                False,
                f"version {ctx.version.version} has no metric {self.metric!r}"
                f"{near_matches(self.metric, metrics)} Its metrics: {sorted(metrics)!r}.",
                {"metric": self.metric, "available": sorted(metrics)},
            )
        value = metrics[self.metric]
        details = {"metric": self.metric, "value": value, "op": self.op,
                   "threshold": self.threshold, "source": source}  # fmt: skip
        if math.isnan(value):
            return GateOutcome(False, f"{self.metric} is NaN", details)
        if _OPS[self.op](value, self.threshold):
            return GateOutcome(True, f"{self.metric} = {value:.6g} {self.op} {self.threshold:g}",
                               details)  # fmt: skip
        return GateOutcome(
            False, f"{self.metric} = {value:.6g}, not {self.op} {self.threshold:g}", details
        )


class DataValidatedGate(Gate):
    """Every dataset version the training run read passed its newest validation."""

    kind = "data_validated"

    def __init__(self, datasets: Sequence[str] | None = None, suite: str | None = None) -> None:
        if isinstance(datasets, str):
            datasets = [datasets]
        self.datasets = sorted(datasets) if datasets else []
        self.suite = suite

    @property
    def name(self) -> str:
        """``data_validated`` (with the datasets and suite, if restricted)."""
        parts = ",".join(self.datasets)
        name = f"data_validated:{parts}" if parts else "data_validated"
        return f"{name}[{self.suite}]" if self.suite else name

    def spec(self) -> dict[str, Any]:
        """``{"datasets", "suite"}``."""
        return {"datasets": self.datasets, "suite": self.suite}

    def evaluate(self, ctx: GateContext) -> GateOutcome:
        """Ask the data capability for the newest validation of each training dataset."""
        from keel.registry._datasets import latest_validation

        run_id = ctx.version.run_id
        edges = ctx.registry.store.list_lineage_edges(("run", run_id), "upstream")
        refs = sorted({e.source_id for e in edges if e.source_kind == "dataset_version"})
        if self.datasets:
            refs = [r for r in refs if r.partition("@")[0] in self.datasets]
            missing = sorted(set(self.datasets) - {r.partition("@")[0] for r in refs})
            if missing:
                return GateOutcome(
                    False,
                    f"the training run {run_id[:8]} read no version of {missing!r}; record its "
                    "inputs with keel.log_input(dataset_version)",
                    {"run_id": run_id, "missing": missing},
                )
        if not refs:
            return GateOutcome(
                False,
                f"the training run {run_id[:8]} records no dataset inputs, so nothing shows its "
                "data was validated; record them with keel.log_input(dataset_version)",
                {"run_id": run_id},
            )
        details: dict[str, Any] = {"run_id": run_id, "datasets": {}}
        problems = []
        for ref in refs:
            summary = latest_validation(ref, self.suite)
            if summary is None:
                problems.append(f"{ref} was never validated" + (
                    f" with suite {self.suite!r}" if self.suite else ""))  # fmt: skip
                details["datasets"][ref] = {"validated": False}
                continue
            details["datasets"][ref] = {
                "validated": True,
                "passed": summary.passed,
                "suite": summary.suite,
                "validation_id": summary.validation_id,
                "failed_checks": summary.failed_checks,
            }
            if not summary.passed:
                problems.append(
                    f"{ref} failed its newest validation ({summary.suite}): "
                    + ", ".join(summary.failed_checks[:5])
                )
        if problems:
            return GateOutcome(False, "; ".join(problems), details)
        return GateOutcome(True, f"{', '.join(refs)} passed validation", details)


def _holdout_bytes(data: Any, target: str | None) -> tuple[bytes, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    array = False
    if isinstance(data, tuple) and len(data) == 2:
        X, y = data
        array = isinstance(X, np.ndarray)
        frame = (
            pd.DataFrame(X, columns=[f"f{i}" for i in range(np.asarray(X).shape[1])])
            if array
            else pd.DataFrame(X).copy()
        )
        target = target or "__target__"
        frame[target] = np.asarray(y)
    elif isinstance(data, pd.DataFrame):
        if target is None or target not in data.columns:
            raise InvalidArgumentError(
                f"Holdout data given as a DataFrame needs target= naming its label column; got "
                f"target={target!r} and columns {list(map(str, data.columns))[:20]!r}."
            )
        frame = data
    else:
        raise InvalidArgumentError(
            f"Holdout data must be a DataFrame with a target column, an (X, y) pair, or a "
            f"dataset version 'name@vN', got {type(data).__name__!r}."
        )
    buf = io.BytesIO()
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(buf, index=False)
    return buf.getvalue(), {"target": target, "rows": len(frame), "array": array}


def store_holdout(registry: RegistryClient, data: Any, target: str | None) -> dict[str, Any]:
    """Store holdout data as Parquet in the artifact store; return its JSON reference."""
    if isinstance(data, str):
        if not target:
            raise InvalidArgumentError(
                f"A holdout dataset {data!r} needs target= naming its label column."
            )
        return {"dataset": data, "target": target}
    payload, info = _holdout_bytes(data, target)
    return {"digest": registry.artifacts.put_bytes(payload), **info}


def load_holdout(registry: RegistryClient, ref: dict[str, Any]) -> tuple[Any, Any]:
    """Return ``(X, y)`` of stored holdout data (digest verified on read)."""
    import pandas as pd

    if "dataset" in ref:
        from keel.registry._datasets import read_dataset

        frame = read_dataset(ref["dataset"])
    else:
        frame = pd.read_parquet(io.BytesIO(registry.artifacts.get_bytes(ref["digest"])))
    target = ref["target"]
    if target not in frame.columns:
        raise InvalidArgumentError(
            f"The holdout data has no target column {target!r}; its columns are "
            f"{list(frame.columns)[:20]!r}."
        )
    X = frame.drop(columns=[target])
    return (X.to_numpy() if ref.get("array") else X), frame[target].to_numpy()


class BeatsGate(Gate):
    """The version beats the one holding ``alias`` on ``metric``, on the same holdout data."""

    kind = "beats"

    def __init__(
        self,
        alias: str = "champion",
        metric: str = "auc",
        holdout: Any = None,
        target: str | None = None,
        min_delta: float = 0.0,
        _holdout_ref: dict[str, Any] | None = None,
    ) -> None:
        from keel.registry._uri import validate_alias

        self.alias = validate_alias(alias)
        check_metric(metric)
        self.metric = metric
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise InvalidArgumentError(
                f"min_delta must be a number of at least 0, got {min_delta!r}."
            )
        self.min_delta = float(min_delta)
        self._holdout = holdout
        self._target = target
        self.holdout_ref = _holdout_ref
        if holdout is not None and not isinstance(holdout, str):
            _holdout_bytes(holdout, target)  # validate now, not when the gate is first run

    @property
    def name(self) -> str:
        """``beats:<alias>:<metric>``."""
        return f"beats:{self.alias}:{self.metric}"

    def prepare(self, registry: RegistryClient) -> Gate:
        """Store given holdout data in the artifact store."""
        if self._holdout is not None and self.holdout_ref is None:
            self.holdout_ref = store_holdout(registry, self._holdout, self._target)
        return self

    def spec(self) -> dict[str, Any]:
        """``{"alias", "metric", "min_delta", "holdout"}``."""
        return {
            "alias": self.alias,
            "metric": self.metric,
            "min_delta": self.min_delta,
            "holdout": self.holdout_ref,
        }

    def evaluate(self, ctx: GateContext) -> GateOutcome:
        """Load both models, compute the metric on the holdout data, compare."""
        repo = ctx.registry.repo
        try:
            current = (
                ctx.current
                if self.alias == ctx.alias
                else repo.get_version_by_alias(ctx.model.name, self.alias)
            )
        except KeelError:
            current = None
        if current is None:
            return GateOutcome(
                True,
                f"no version holds {self.alias!r} yet, so there is nothing to beat",
                {"alias": self.alias},
            )
        if current.version == ctx.version.version:
            return GateOutcome(
                True,
                f"version {current.version} already holds {self.alias!r}",
                {"alias": self.alias, "version": current.version},
            )
        ref = self.holdout_ref or ctx.model.holdout
        if ref is None:
            return GateOutcome(
                False,
                "no holdout data to compare on: give holdout=... to keel.gates.beats, or record "
                f"it with keel.models.set_holdout({ctx.model.name!r}, data, target=...)",
                {"alias": self.alias},
            )
        key = "holdout:" + str(ref.get("digest") or ref.get("dataset"))
        if key not in ctx.cache:
            ctx.cache[key] = load_holdout(ctx.registry, ref)
        X, y = ctx.cache[key]
        scores = {}
        for label, mv in (("candidate", ctx.version), ("current", current)):
            model_key = f"model:{mv.version}"
            if model_key not in ctx.cache:
                ctx.cache[model_key] = ctx.registry.load_version(mv.model_name, mv.version)
            scores[label] = evaluate(self.metric, ctx.cache[model_key], X, y)
        cand, cur = scores["candidate"], scores["current"]
        higher = higher_is_better(self.metric)
        gain = cand - cur if higher else cur - cand
        details = {
            "alias": self.alias,
            "metric": self.metric,
            "candidate_version": ctx.version.version,
            "candidate": cand,
            "current_version": current.version,
            "current": cur,
            "improvement": gain,
            "min_delta": self.min_delta,
            "higher_is_better": higher,
            "holdout_rows": int(len(y)),
            "holdout": ref.get("dataset") or ref.get("digest"),
        }
        versus = (
            f"{self.metric} {cand:.6g} (v{ctx.version.version}) vs {cur:.6g} "
            f"(v{current.version}, {self.alias!r}) on {len(y)} holdout rows"
        )
        if gain > self.min_delta:
            return GateOutcome(True, versus, details)
        need = f"by more than {self.min_delta:g}" if self.min_delta else "strictly"
        return GateOutcome(False, f"{versus}: does not beat it {need}", details)


class ApprovalGate(Gate):
    """At least ``count`` different people approved the version in ``role``."""

    kind = "approval"

    def __init__(self, role: str = "approver", count: int = 1) -> None:
        if not isinstance(role, str) or not role.strip():
            raise InvalidArgumentError(f"role must be a role name, got {role!r}.")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidArgumentError(f"count must be an integer of at least 1, got {count!r}.")
        self.role, self.count = role, count

    @property
    def name(self) -> str:
        """``approval:<role>`` (``xN`` for more than one approver)."""
        return f"approval:{self.role}" + (f"x{self.count}" if self.count > 1 else "")

    def spec(self) -> dict[str, Any]:
        """``{"role", "count"}``."""
        return {"role": self.role, "count": self.count}

    def evaluate(self, ctx: GateContext) -> GateOutcome:
        """Count distinct approvers of the version in the role."""
        approvals = ctx.registry.repo.list_approvals(ctx.version.model_name, ctx.version.version)
        approvers = sorted({a.approver for a in approvals if a.role == self.role})
        details = {"role": self.role, "required": self.count, "approvers": approvers}
        if len(approvers) >= self.count:
            return GateOutcome(
                True, f"approved in role {self.role!r} by {', '.join(approvers)}", details
            )
        return GateOutcome(
            False,
            f"needs {self.count} approval(s) in role {self.role!r}, has {len(approvers)}; "
            f"approve with 'keel models approve {ctx.version.model_name} "
            f"{ctx.version.version} --role {self.role}'",
            details,
        )


def metric(name: str, op: str, threshold: float) -> MetricGate:
    """Gate on a version metric: ``metric("auc", ">=", 0.85)``.

    The version's metrics are copied from its run when it is registered (metrics the run
    logged later are copied when the gate first needs them).
    """
    return MetricGate(name, op, threshold)


def data_validated(
    datasets: Sequence[str] | str | None = None, *, suite: str | None = None
) -> DataValidatedGate:  # noqa: E501
    """Gate on the training data's validation.

    Every dataset version the version's run read (``keel.log_input(ds)``) must have a newest
    recorded validation, and it must have passed.

    Args:
        datasets: Only these dataset names (and they must be among the run's inputs).
        suite: Only validations by the suite of this name.
    """
    return DataValidatedGate(datasets, suite)


def beats(
    alias: str = "champion",
    *,
    metric: str = "auc",
    holdout: Any = None,
    target: str | None = None,
    min_delta: float = 0.0,
) -> BeatsGate:
    """Gate on beating the version that holds ``alias``, both evaluated on the same data.

    Args:
        alias: The alias whose version must be beaten (passes if no version holds it yet).
        metric: ``auc``, ``accuracy``, ``f1``, ``precision``, ``recall``, ``log_loss``,
            ``rmse``, ``mae``, ``mse`` or ``r2`` (direction known per metric).
        holdout: A DataFrame with a ``target`` column, an ``(X, y)`` pair, or a dataset version
            ``"name@vN"``; stored with the gate. Without it, the model's holdout recorded by
            ``keel.models.set_holdout`` is used.
        target: The label column of the holdout data.
        min_delta: How much better the new version must be.
    """
    return BeatsGate(alias, metric, holdout, target, min_delta)


def approval(role: str = "approver", *, count: int = 1) -> ApprovalGate:
    """Gate on approvals: ``count`` people in ``role`` approved the version."""
    return ApprovalGate(role, count)


_KINDS: dict[str, Callable[[dict[str, Any]], Gate]] = {
    "metric": lambda s: MetricGate(s["metric"], s["op"], s["threshold"]),
    "data_validated": lambda s: DataValidatedGate(s.get("datasets") or None, s.get("suite")),
    "beats": lambda s: BeatsGate(
        s["alias"], s["metric"], min_delta=s.get("min_delta", 0.0), _holdout_ref=s.get("holdout")
    ),
    "approval": lambda s: ApprovalGate(s["role"], int(s.get("count", 1))),
}


def gate_from_spec(kind: str, spec: dict[str, Any]) -> Gate:
    """Rebuild a stored gate.

    Raises:
        InvalidArgumentError: The kind is unknown (a newer Keel stored it).
    """
    try:
        return _KINDS[kind](spec)
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown gate kind {kind!r}; this Keel knows {sorted(_KINDS)!r}. Upgrade Keel."
        ) from None

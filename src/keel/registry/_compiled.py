"""Compiled scikit-learn models: inference with NumPy alone, no scikit-learn and no unpickling.

When a scikit-learn model is logged, Keel also tries to *compile* it: to write what its
``predict`` and ``predict_proba`` compute as plain arrays (``compiled.npz``, loaded with
``allow_pickle=False``) and a short list of operations (kept in the manifest). Loading such a
model imports neither scikit-learn nor SciPy and unpickles nothing, so a fresh serving worker
or batch job starts in a fraction of the time and memory; the estimator itself is loaded only
if someone asks for it (:meth:`LoadedModel.unwrap`) or for an input the compiled form does not
take (see below). The idea is the one of ONNX converters and Treelite, kept to estimators whose
arithmetic can be reproduced operation for operation.

Supported (alone, or as the steps of a ``Pipeline``):

* preprocessing: ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``;
* linear models: ``LogisticRegression`` (binary and multinomial), ``SGDClassifier`` with
  ``log_loss``, ``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet``, ``SGDRegressor``,
  and the decision-function classifiers ``RidgeClassifier``, ``LinearSVC`` and other
  ``SGDClassifier`` losses (``predict`` only);
* trees: ``DecisionTreeClassifier``/``Regressor``, ``RandomForestClassifier``/``Regressor``,
  ``ExtraTreesClassifier``/``Regressor`` (one output).

Anything else (other estimators, multi-output trees, string classes mixed with numbers) is not
compiled and loads as before. Each operation repeats scikit-learn's own arithmetic in the same
order (a tree compares the value cast to float32 with its float64 threshold; a forest adds its
trees' probabilities one by one, then divides), so answers match bitwise, or to the last bit
where BLAS sums a dot product in another order.

Three guards keep answers identical to the estimator's:

* at log time, the compiled form and the estimator predict on the input example and on 256
  rows drawn around it (each column's values with noise of its spread); any difference beyond
  rounding error (relative 1e-12, labels exactly) and the model is not compiled;
* at predict time, an input that is not a 2-D array of float64, integers or booleans with the
  model's number of columns, or that holds NaN or infinity, goes to the estimator itself (its
  validation gives its own answer or its own error);
* the operations and arrays are read back with ``allow_pickle=False`` and checked for shape
  before use; a file that does not fit is an :class:`~keel.errors.IntegrityError`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from keel.errors import IntegrityError

__all__ = [
    "COMPILED_FILE",
    "CompiledModel",
    "NotCompiled",
    "compile_estimator",
    "same_answers",
    "verify",
]

_logger = logging.getLogger("keel.registry")

#: The file a compiled model's arrays are saved in, next to the model's own file.
COMPILED_FILE = "compiled.npz"
#: Format of the operation list; a newer Keel's compiled form is ignored by an older one.
FORMAT = 1
_VERIFY_ROWS = 256
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Column-wise operations of the scalers, done in place on a copy of the input.
_COLUMNWISE = {"sub": np.subtract, "div": np.divide, "mul": np.multiply, "add": np.add}
_IN_PLACE = frozenset({*_COLUMNWISE, "clip"})


class NotCompiled(Exception):
    """The model (or one of its steps) has no compiled form; the message says why."""


class _Fallback(Exception):
    """This input is for the estimator itself (see the module docstring)."""


# -- compiling ------------------------------------------------------------------------------


class _Builder:
    """Collects the operations and arrays of one model."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, op: str, arrays: dict[str, Any], **facts: Any) -> None:
        index = len(self.ops)
        names = {}
        for key, value in arrays.items():
            name = f"s{index}_{key}"
            self.arrays[name] = np.ascontiguousarray(value)
            names[key] = name
        self.ops.append({"op": op, "arrays": names, **facts})


def _cls(est: Any) -> str:
    return type(est).__name__


def _is_sklearn(est: Any, *names: str) -> bool:
    return type(est).__module__.startswith("sklearn.") and type(est).__name__ in names


def _classes(b: _Builder, est: Any) -> dict[str, Any]:
    classes = np.asarray(est.classes_)
    if classes.ndim != 1:
        raise NotCompiled(f"{_cls(est)} has multi-output classes")
    if classes.dtype == object:
        if not all(isinstance(c, str) for c in classes):
            raise NotCompiled(f"{_cls(est)} has classes of mixed types")
        b.arrays["classes"] = classes.astype(str)
        return {"classes_object": True}
    if classes.dtype.kind not in "biuU":
        raise NotCompiled(f"{_cls(est)} has classes of dtype {classes.dtype}")
    b.arrays["classes"] = classes
    return {"classes_object": False}


def _linear(b: _Builder, est: Any) -> dict[str, Any]:
    coef = np.asarray(est.coef_, dtype=np.float64)
    intercept = np.asarray(est.intercept_, dtype=np.float64)
    if coef.dtype != np.asarray(est.coef_).dtype:
        raise NotCompiled(f"{_cls(est)} has coefficients of dtype {np.asarray(est.coef_).dtype}")
    b.add("linear", {"coef": coef, "intercept": intercept})
    return {}


def _tree_arrays(trees: list[Any], classifier: bool) -> dict[str, np.ndarray]:
    lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
    offset, depth = 0, 0
    for tree in trees:
        t = tree.tree_
        if t.n_outputs != 1:
            raise NotCompiled("multi-output trees are not compiled")
        if getattr(tree, "monotonic_cst", None) is not None and not classifier:
            pass  # monotonic constraints shape training only; prediction is the same walk
        n = t.node_count
        idx = np.arange(n, dtype=np.int64)
        left = np.asarray(t.children_left, dtype=np.int64)
        right = np.asarray(t.children_right, dtype=np.int64)
        leaf = left == -1
        # Leaves point at themselves, so walking the deepest tree's depth leaves every row on
        # its leaf; their feature 0 and threshold +inf are never decisive.
        lefts.append(np.where(leaf, idx, left) + offset)
        rights.append(np.where(leaf, idx, right) + offset)
        features.append(np.where(leaf, 0, np.asarray(t.feature, dtype=np.int64)))
        thresholds.append(np.where(leaf, np.inf, np.asarray(t.threshold, dtype=np.float64)))
        value = np.asarray(t.value, dtype=np.float64)[:, 0, :]
        if classifier and not np.allclose(value.sum(axis=1), 1.0, rtol=0, atol=1e-9):
            # scikit-learn < 1.4 kept class counts in the nodes and divided by their sum in
            # predict_proba; newer versions keep the fractions and return them as they are.
            total = value.sum(axis=1)[:, np.newaxis]
            total[total == 0.0] = 1.0
            value = value / total
        values.append(value)
        roots.append(offset)
        offset += n
        depth = max(depth, int(t.max_depth))
    return {
        "left": np.concatenate(lefts),
        "right": np.concatenate(rights),
        "feature": np.concatenate(features),
        "threshold": np.concatenate(thresholds),
        "value": np.concatenate(values),
        "roots": np.asarray(roots, dtype=np.int64),
        "depth": np.asarray([depth], dtype=np.int64),
    }


def _step(b: _Builder, est: Any, last: bool) -> dict[str, Any]:
    """Compile one estimator; return the facts of a final step (kind, classes)."""
    name = _cls(est)
    if _is_sklearn(est, "StandardScaler"):
        if est.with_mean:
            b.add("sub", {"v": np.asarray(est.mean_, dtype=np.float64)})
        if est.with_std:
            b.add("div", {"v": np.asarray(est.scale_, dtype=np.float64)})
        return {"kind": "transform"}
    if _is_sklearn(est, "MinMaxScaler"):
        b.add("mul", {"v": np.asarray(est.scale_, dtype=np.float64)})
        b.add("add", {"v": np.asarray(est.min_, dtype=np.float64)})
        if est.clip:
            low, high = est.feature_range
            b.add("clip", {}, low=float(low), high=float(high))
        return {"kind": "transform"}
    if _is_sklearn(est, "MaxAbsScaler"):
        b.add("div", {"v": np.asarray(est.scale_, dtype=np.float64)})
        return {"kind": "transform"}
    if not last:
        raise NotCompiled(f"pipeline step {name} is not one Keel compiles")
    if _is_sklearn(est, "LogisticRegression"):
        facts = _classes(b, est)
        _linear(b, est)
        binary = len(est.classes_) <= 2
        return {"kind": "logistic", "binary": binary, **facts}
    if _is_sklearn(est, "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDRegressor"):
        if np.asarray(est.coef_).ndim != 1:
            raise NotCompiled(f"multi-output {name} is not compiled")
        _linear(b, est)
        return {"kind": "regression"}
    if _is_sklearn(est, "SGDClassifier") and est.loss == "log_loss":
        facts = _classes(b, est)
        _linear(b, est)
        # Binary: the logistic function; more classes: one-vs-rest, normalized per row.
        return {"kind": "logistic", "binary": len(est.classes_) <= 2, "ovr": True, **facts}
    if _is_sklearn(est, "RidgeClassifier", "LinearSVC", "SGDClassifier"):
        if np.asarray(est.classes_).ndim != 1:
            raise NotCompiled(f"multi-output {name} is not compiled")
        facts = _classes(b, est)
        _linear(b, est)
        return {"kind": "decision", **facts}
    if _is_sklearn(est, "DecisionTreeClassifier", "DecisionTreeRegressor"):
        classifier = name.endswith("Classifier")
        facts = _classes(b, est) if classifier else {}
        b.add("trees", _tree_arrays([est], classifier), mean=False)
        return {"kind": "tree_classifier" if classifier else "tree_regressor", **facts}
    if _is_sklearn(
        est,
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
    ):
        classifier = name.endswith("Classifier")
        if getattr(est, "n_outputs_", 1) != 1:
            raise NotCompiled(f"multi-output {name} is not compiled")
        facts = _classes(b, est) if classifier else {}
        b.add("trees", _tree_arrays(list(est.estimators_), classifier), mean=True)
        return {"kind": "forest_classifier" if classifier else "forest_regressor", **facts}
    raise NotCompiled(f"{type(est).__module__}.{name} is not one Keel compiles")


def compile_estimator(model: Any) -> tuple[dict[str, Any], bytes]:
    """Compile a fitted scikit-learn estimator or pipeline.

    Returns:
        ``(spec, data)``: the operations and facts for the manifest, and the bytes of
        ``compiled.npz``.

    Raises:
        NotCompiled: The model has a step Keel does not compile (the message names it).
    """
    steps = [model]
    if _is_sklearn(model, "Pipeline"):
        steps = [s for _, s in model.steps if s not in (None, "passthrough")]
        if not steps:
            raise NotCompiled("the pipeline has no steps")
    n_features = getattr(steps[0], "n_features_in_", None)
    if not isinstance(n_features, (int, np.integer)):
        raise NotCompiled(f"{_cls(steps[0])} does not record n_features_in_")
    b = _Builder()
    final: dict[str, Any] = {}
    for i, step in enumerate(steps):
        final = _step(b, step, last=i == len(steps) - 1)
    if final.get("kind") == "transform":
        raise NotCompiled("the model ends in a transformer, not a predictor")
    names = getattr(model, "feature_names_in_", None)
    spec: dict[str, Any] = {
        "format": FORMAT,
        "file": COMPILED_FILE,
        "n_features": int(n_features),
        "feature_names": None if names is None else [str(n) for n in names],
        "ops": b.ops,
        **final,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **b.arrays)  # type: ignore[arg-type]
    return spec, buffer.getvalue()


# -- running --------------------------------------------------------------------------------


def _expit(x: np.ndarray) -> np.ndarray:
    """scipy.special.expit's formula, ``1 / (1 + exp(-x))``, in place."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    np.divide(1.0, x, out=x)
    return x


def _softmax(x: np.ndarray) -> np.ndarray:
    """scikit-learn's softmax (max subtracted, exp, divided by the row sum), in place."""
    x -= x.max(axis=1).reshape(-1, 1)
    np.exp(x, out=x)
    x /= x.sum(axis=1).reshape(-1, 1)
    return x


def _ovr(x: np.ndarray) -> np.ndarray:
    """One-vs-rest probabilities as scikit-learn's linear classifiers give them, in place."""
    p = _expit(x)
    total = p.sum(axis=1)
    empty = total == 0
    if empty.any():
        p[empty, :] = 1
        total[empty] = p.shape[1]
    p /= total.reshape(p.shape[0], -1)
    return p


class CompiledModel:
    """A scikit-learn model's predictions computed with NumPy alone.

    Attributes:
        n_features: The number of input columns.
        feature_names: The column order the model was fitted with, or ``None`` (fitted on an
            array).
        kind: ``logistic``, ``regression``, ``decision``, ``tree_classifier``,
            ``tree_regressor``, ``forest_classifier`` or ``forest_regressor``.
        has_proba: Whether :meth:`predict_proba` is offered.
    """

    #: Raised by :meth:`predict` and :meth:`predict_proba` for an input meant for the
    #: estimator itself (see the module docstring); callers catch it and ask the estimator.
    Fallback: type[Exception] = _Fallback

    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.spec = spec
        self.n_features = int(spec["n_features"])
        names = spec.get("feature_names")
        self.feature_names: list[str] | None = None if names is None else list(names)
        self.kind = str(spec["kind"])
        self.has_proba = self.kind in ("logistic", "tree_classifier", "forest_classifier")
        self.classes: np.ndarray | None = arrays.get("classes")
        if self.classes is not None and spec.get("classes_object"):
            self.classes = self.classes.astype(object)
        self._steps: list[Callable[[np.ndarray], np.ndarray]] = [
            self._op(op, arrays) for op in spec["ops"]
        ]
        # Scalers work in place on a copy of the input; linear models and trees do not write.
        self._copy = bool(spec["ops"]) and spec["ops"][0]["op"] in _IN_PLACE

    @classmethod
    def from_bytes(cls, spec: dict[str, Any], data: bytes) -> CompiledModel:
        """Rebuild from the manifest's spec and the (digest-verified) bytes of the arrays.

        Raises:
            IntegrityError: The arrays do not fit the operations.
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            return cls(spec, arrays)
        except (KeyError, ValueError, TypeError, OSError, IndexError) as exc:
            raise IntegrityError(
                f"The compiled form of this model does not fit its manifest ({exc}). "
                "Log the model again, or load it with compiled=False."
            ) from exc

    def _op(self, op: dict[str, Any], arrays: dict[str, np.ndarray]) -> Callable[..., Any]:
        a = {key: arrays[name] for key, name in op["arrays"].items()}
        kind = op["op"]
        width = self.n_features
        for key in ("v",):
            if key in a and a[key].shape != (width,):
                raise ValueError(f"array {key} of {kind} has shape {a[key].shape}")
        if kind in _COLUMNWISE:
            ufunc, v = _COLUMNWISE[kind], a["v"]
            return lambda x: ufunc(x, v, out=x)
        if kind == "clip":
            low, high = float(op["low"]), float(op["high"])
            return lambda x: np.clip(x, low, high, out=x)
        if kind == "linear":
            # ``x @ coef.T`` with coef kept as scikit-learn keeps it (C order), so BLAS sees
            # the same layout and sums in the same order.
            coef, intercept = a["coef"], a["intercept"]
            if coef.shape[-1] != width:
                raise ValueError(f"coefficients of shape {coef.shape} for {width} columns")
            if coef.ndim == 2 and coef.shape[0] == 1:
                # scikit-learn ravels a one-column score to a vector after adding the intercept.
                return lambda x: (x @ coef.T + intercept).reshape(-1)
            return lambda x: x @ coef.T + intercept
        if kind == "trees":
            return self._trees(a, mean=bool(op["mean"]))
        raise ValueError(f"unknown operation {kind!r}")

    def _trees(self, a: dict[str, np.ndarray], *, mean: bool) -> Callable[..., Any]:
        left, right, feature = a["left"], a["right"], a["feature"]
        threshold, value, roots = a["threshold"], a["value"], a["roots"]
        depth = int(a["depth"][0])
        size = len(left)
        if not (len(right) == len(feature) == len(threshold) == len(value) == size):
            raise ValueError("tree arrays of different lengths")
        if size and (
            left.min() < 0 or left.max() >= size or right.min() < 0 or right.max() >= size
        ):
            raise ValueError("tree children outside the tree")
        if size and (feature.min() < 0 or feature.max() >= self.n_features):
            raise ValueError("tree features outside the input's columns")

        def walk(x: np.ndarray) -> np.ndarray:
            # scikit-learn walks trees on float32 inputs, comparing with float64 thresholds.
            if np.abs(x).max(initial=0.0) > _FLOAT32_MAX:
                raise _Fallback  # scikit-learn refuses what float32 cannot hold
            x32 = x.astype(np.float32)
            rows = np.arange(x.shape[0])[np.newaxis, :]
            node = np.repeat(roots[:, np.newaxis], x.shape[0], axis=1)
            for _ in range(depth):
                go_left = x32[rows, feature[node]] <= threshold[node]
                node = np.where(go_left, left[node], right[node])
            leaves = value[node]  # (trees, rows, outputs)
            if not mean:
                return np.asarray(leaves[0])
            total = np.zeros(leaves.shape[1:], dtype=np.float64)
            for per_tree in leaves:  # one by one, in order, as scikit-learn accumulates them
                total += per_tree
            total /= len(leaves)
            return total

        return walk

    def _run(self, x: Any) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.n_features:
            raise _Fallback
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        elif x.dtype == np.float64:
            if not np.isfinite(x).all():
                raise _Fallback
            if self._copy:
                x = np.array(x, dtype=np.float64, copy=True)
        else:
            raise _Fallback
        for step in self._steps:
            x = step(x)
        return np.asarray(x)

    def _labels(self, scores: np.ndarray) -> np.ndarray:
        assert self.classes is not None
        if scores.ndim == 1:  # a binary decision function
            return self.classes[(scores > 0).astype(np.intp)]
        return np.asarray(self.classes.take(np.argmax(scores, axis=1), axis=0))

    def predict(self, x: Any) -> np.ndarray:
        """What the estimator's ``predict`` returns for ``x``.

        Raises:
            _Fallback: The input is for the estimator itself (callers catch it).
        """
        out = self._run(x)
        if self.kind in ("regression", "tree_regressor", "forest_regressor"):
            return out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
        return self._labels(out)

    def predict_proba(self, x: Any) -> np.ndarray:
        """What the estimator's ``predict_proba`` returns for ``x``.

        Raises:
            _Fallback: The input is for the estimator itself (callers catch it).
        """
        if not self.has_proba:
            raise _Fallback
        out = self._run(x)
        if self.kind == "logistic":
            if out.ndim == 1:
                p = _expit(out)
                return np.stack([1 - p, p], axis=1)
            if self.spec.get("ovr"):
                return _ovr(out)
            return _softmax(out)
        return out


# -- verifying ------------------------------------------------------------------------------


def _probe_rows(example: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rows drawn around an example: each column's values with noise of its spread."""
    rng = np.random.default_rng(seed)
    picks = example[
        rng.integers(0, len(example), size=(_VERIFY_ROWS, example.shape[1])),
        np.arange(example.shape[1]),
    ]
    spread = example.std(axis=0)
    spread = np.where(spread > 0, spread, np.maximum(np.abs(example).mean(axis=0), 1.0))
    return np.asarray(picks + rng.normal(size=picks.shape) * spread)


def same_answers(a: Any, b: Any, *, exact: bool = False) -> bool:
    """Whether two answers agree.

    Labels must be equal; numbers bitwise equal, or (not ``exact``) equal to rounding error
    (relative 1e-12); NaN counts as equal to NaN.
    """
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    if x.dtype.kind in "fc":
        if exact:
            return bool(np.array_equal(x, y, equal_nan=True))
        return bool(np.allclose(x, y, rtol=1e-12, atol=1e-15, equal_nan=True))
    return bool(np.array_equal(x, y))


def verify(model: Any, compiled: CompiledModel, example: np.ndarray) -> str | None:
    """Compare the compiled form with the estimator on ``example`` and rows around it.

    Returns:
        ``None`` if every answer agrees, else what differed.
    """
    x = np.asarray(example, dtype=np.float64)
    for name, rows in (("the input example", x), ("rows around the example", _probe_rows(x))):
        checks = [("predict", model.predict, compiled.predict)]
        if compiled.has_proba:
            checks.append(("predict_proba", model.predict_proba, compiled.predict_proba))
        for method, theirs, ours in checks:
            try:
                want, got = theirs(rows), ours(rows)
            except _Fallback:
                return f"{method} on {name} was not taken by the compiled form"
            if not same_answers(want, got):
                return f"{method} on {name} differs from the estimator's"
    return None

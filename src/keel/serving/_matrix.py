"""The matrix fast path: a scikit-learn model on a float64 array instead of a DataFrame.

scikit-learn validates a DataFrame column by column on every ``predict`` (for one row, most of
a request's time); on a C-contiguous float64 array the same check is nearly free. When a
model was fitted on named numeric columns, serving builds the request straight into such an
array, in the order of the model's ``feature_names_in_``, and calls a private shallow copy of
the estimator without ``feature_names_in_`` (so scikit-learn does not warn that the array has
no feature names; its ``n_features_in_`` check stays). The user's estimator is not changed.

The path is taken only when, at load time:

* the model is of the ``sklearn`` flavor, its signature has numeric columns only (``double``,
  ``float``, ``long``, ``integer``; not all ``float``) and ``feature_names_in_`` equals the
  signature's column order;
* the copy can shed ``feature_names_in_`` (an estimator, or a pipeline whose first step is one);
* on the model's logged input example both paths give the same ``predict`` (and
  ``predict_proba``) answers and the array path raises no warning. Labels must be equal;
  floating-point answers bitwise equal, or else equal to rounding error (relative 1e-12):
  the same numbers in another memory layout can make BLAS sum in another order and change
  the last bit, as two DataFrames holding the same values can. The matrix's layout (rows or
  columns contiguous) is chosen here: the one that answers bitwise as the DataFrame does.

Otherwise the model is served on DataFrames as before.

A model the registry loaded with a compiled form (``model.compiled``, NumPy-only
``predict``/``predict_proba``, checked against the estimator by the registry) takes the same
path without the estimator: :func:`compiled_matrix_model` builds the matrix in the compiled
model's column order (``compiled.feature_names``, else the signature's) and never calls
``model.unwrap()``, so a worker serving it imports neither scikit-learn nor pandas. The
logged input example, when there is one, only has to go through it without an error.
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.registry._compiled import same_answers
from keel.serving._inputs import InputChecker

if TYPE_CHECKING:
    from keel.registry import LoadedModel

__all__ = ["MatrixModel", "compiled_matrix_model", "matrix_model", "strip_feature_names"]

_logger = logging.getLogger("keel.serving")


@dataclass(frozen=True)
class MatrixModel:
    """A model's fast path: its checker and calls on a float64 matrix.

    Attributes:
        checker: Builds the matrix from requests.
        predict: ``predict`` of the stripped copy.
        predict_proba: ``predict_proba`` of the stripped copy, if the model has one.
    """

    checker: InputChecker
    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None


def strip_feature_names(estimator: Any) -> Any | None:
    """Return a shallow copy of ``estimator`` that has no ``feature_names_in_``, or ``None``.

    A pipeline is copied with its first step stripped (the later steps see arrays already).
    """
    clone = copy.copy(estimator)
    if "feature_names_in_" in vars(clone):
        del clone.feature_names_in_
    steps = getattr(clone, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[0], tuple):
        first = strip_feature_names(steps[0][1])
        if first is None:
            return None
        clone.steps = [(steps[0][0], first), *steps[1:]]
    try:
        names = clone.feature_names_in_
    except AttributeError:
        return clone
    return None if names is not None else clone


def matrix_model(
    model: LoadedModel, frame_checker: InputChecker, example: bytes | None
) -> MatrixModel | None:
    """Build the fast path of ``model`` if it is safe (see the module docstring), else ``None``.

    Args:
        model: The loaded model.
        frame_checker: The model's DataFrame checker (the reference path).
        example: The bytes of the model's ``input_example.json``, if it was logged with one.
    """
    if model.flavor != "sklearn" or example is None or not frame_checker.matrix_ready():
        return None
    native = model.unwrap()
    names = getattr(native, "feature_names_in_", None)
    if names is None or [str(n) for n in names] != frame_checker.names:
        return None
    stripped = strip_feature_names(native)
    if stripped is None:
        return None
    proba = callable(getattr(native, "predict_proba", None)) and model.has_predict_proba
    try:
        body = json.loads(example)
        if body.get("type") != "records" or not body.get("data"):
            return None
        payload = {"instances": body["data"]}
        slow = frame_checker.prepare(payload)
        expected = [native.predict(slow.model_input)]
        if proba:
            expected.append(native.predict_proba(slow.model_input))
    except Exception as exc:  # the example does not go through: serve on DataFrames
        _logger.debug("No matrix fast path for %s: %s", model.uri, exc)
        return None
    close: MatrixModel | None = None
    for order in ("C", "F"):
        checker = InputChecker(
            frame_checker.signature, frame_checker.model_input, matrix=True, order=order
        )
        try:
            fast = checker.prepare(payload)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                got = [stripped.predict(fast.model_input)]
                if proba:
                    got.append(stripped.predict_proba(fast.model_input))
        except Exception as exc:  # any doubt: serve on DataFrames
            _logger.debug("No matrix fast path for %s: %s", model.uri, exc)
            return None
        if caught:
            _logger.debug("No matrix fast path for %s: %s", model.uri, caught[0].message)
            return None
        found = MatrixModel(checker, stripped.predict, stripped.predict_proba if proba else None)
        if all(same_answers(a, b, exact=True) for a, b in zip(expected, got, strict=True)):
            return found
        if close is None and all(
            same_answers(a, b, exact=False) for a, b in zip(expected, got, strict=True)
        ):
            close = found
    if close is None:
        _logger.debug("No matrix fast path for %s: the answers differ", model.uri)
    return close


def compiled_matrix_model(
    model: LoadedModel, frame_checker: InputChecker, example: bytes | None
) -> MatrixModel | None:
    """Build the fast path on ``model.compiled``, if it has one that fits, else ``None``.

    The signature must be numeric only (:meth:`InputChecker.matrix_ready`) and the compiled
    model's columns (``feature_names``, else ``n_features``) must be the signature's. The
    estimator is not loaded: ``model.unwrap()`` is not called.

    Args:
        model: The loaded model.
        frame_checker: The model's DataFrame checker (its signature).
        example: The bytes of the model's ``input_example.json``, if it was logged with one;
            it must predict without an error.
    """
    compiled = model.compiled
    if compiled is None or not frame_checker.matrix_ready():
        return None
    names = compiled.feature_names
    width = compiled.n_features
    try:
        if names is not None:
            names = [str(n) for n in names]
        checker = InputChecker(
            frame_checker.signature, frame_checker.model_input, matrix=True, order="C",
            columns=names,
        )  # fmt: skip
    except ValueError as exc:  # the compiled model wants other columns
        _logger.debug("No compiled fast path for %s: %s", model.uri, exc)
        return None
    if width != len(checker.matrix_names):
        _logger.debug(
            "No compiled fast path for %s: it takes %s features, the signature has %d",
            model.uri, width, len(checker.matrix_names),
        )  # fmt: skip
        return None
    has_proba = compiled.has_proba
    leave = compiled.Fallback
    if example is not None:
        try:
            body = json.loads(example)
            if body.get("type") == "records" and body.get("data"):
                prepared = checker.prepare({"instances": body["data"]})
                n = len(np.asarray(compiled.predict(prepared.model_input)))
                if n != prepared.num_rows:
                    raise ValueError(f"{n} predictions for {prepared.num_rows} rows")
                if has_proba:
                    compiled.predict_proba(prepared.model_input)
        except leave:  # rows for the estimator (NaN): nothing to learn about the columns
            pass
        except Exception as exc:  # the example does not go through: the estimator's path
            _logger.debug("No compiled fast path for %s: %s", model.uri, exc)
            return None
    names = checker.matrix_names if compiled.feature_names is not None else None
    return MatrixModel(
        checker,
        _or_estimator(model, "predict", compiled.predict, names, leave),
        _or_estimator(model, "predict_proba", compiled.predict_proba, names, leave)
        if has_proba
        else None,
    )


def _or_estimator(
    model: LoadedModel,
    method: str,
    call: Callable[[Any], Any],
    names: list[str] | None,
    leave: type[Exception],
) -> Callable[[Any], Any]:
    """``call``, or the estimator's ``method`` for a matrix the compiled form leaves to it.

    The compiled form takes finite float64 rows only; a request with ``null`` in a nullable
    column (NaN) goes to the estimator, loaded on first need, on a DataFrame in the columns it
    was fitted with (or on the matrix, for an estimator fitted without column names).
    """

    def run(x: Any) -> Any:
        try:
            return call(x)
        except leave:
            from keel.registry._flavor import get_flavor

            data = x
            if names is not None:
                import pandas as pd

                data = pd.DataFrame(x, columns=names, copy=False)
            native = model.unwrap()
            return getattr(get_flavor(model.flavor), method)(native, data, model.manifest)

    return run

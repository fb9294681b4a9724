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

from keel.serving._inputs import InputChecker

if TYPE_CHECKING:
    from keel.registry import LoadedModel

__all__ = ["MatrixModel", "matrix_model", "strip_feature_names"]

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


def _same(a: Any, b: Any, *, exact: bool) -> bool:
    """Whether two answers agree: bitwise, or (floats, not ``exact``) to rounding error."""
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    if x.dtype.kind in "fc":
        if exact:
            return bool(np.array_equal(x, y, equal_nan=True))
        return bool(np.allclose(x, y, rtol=1e-12, atol=1e-15, equal_nan=True))
    return bool(np.array_equal(x, y))


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
        if all(_same(a, b, exact=True) for a, b in zip(expected, got, strict=True)):
            return found
        if close is None and all(
            _same(a, b, exact=False) for a, b in zip(expected, got, strict=True)
        ):
            close = found
    if close is None:
        _logger.debug("No matrix fast path for %s: the answers differ", model.uri)
    return close

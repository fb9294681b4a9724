"""The scikit-learn flavor: estimators and pipelines, as a pickle or in the skops format.

Formats:

* ``cloudpickle`` (default) and ``joblib``: any estimator, custom transformers included.
  Unpickling runs code named in the file, so Keel unpickles only bytes whose sha256 matched
  the digest recorded when the model was logged.
* ``skops``: a zip of JSON and arrays that names the types it rebuilds. Loading refuses any
  type that is neither trusted by skops by default (scikit-learn's own estimators, NumPy,
  builtins), nor in Keel's short list of vetted scikit-learn internals, nor listed by the
  caller in ``trusted_types``; nothing in the file is executed to find this out.
"""

from __future__ import annotations

import io
import logging
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from keel.errors import InvalidArgumentError, MissingDependencyError, ValidationFailedError
from keel.registry._compiled import (
    COMPILED_FILE,
    CompiledModel,
    NotCompiled,
    compile_estimator,
    verify,
)
from keel.registry._flavor import Flavor, SavedFiles, mro_modules
from keel.registry._signature import to_frame_or_array

__all__ = ["VETTED_SKOPS_TYPES", "SklearnFlavor"]

#: scikit-learn internals that hold only data (tree arrays, loss links) and that skops does
#: not trust by default; loading them runs no user code.
VETTED_SKOPS_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    }
)

_logger = logging.getLogger("keel.registry")
_FILES = {"cloudpickle": "model.pkl", "joblib": "model.joblib", "skops": "model.skops"}


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines."""

    name = "sklearn"
    libraries: ClassVar[dict[str, str]] = {
        "scikit-learn": "sklearn",
        "numpy": "numpy",
        "cloudpickle": "cloudpickle",
    }
    serializations = ("cloudpickle", "joblib", "skops")
    extra = "sklearn"

    def matches(self, model: Any) -> bool:
        """Whether the model is a scikit-learn estimator (or subclasses one)."""
        return any(m.startswith("sklearn.") for m in mro_modules(model))

    def save(
        self, model: Any, folder: Path, serialization: str, options: dict[str, Any]
    ) -> SavedFiles:
        """Write ``model.pkl``, ``model.joblib`` or ``model.skops``."""
        path = folder / _FILES[serialization]
        extra: dict[str, Any] = {}
        if serialization == "cloudpickle":
            import cloudpickle

            path.write_bytes(cloudpickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        elif serialization == "joblib":
            import joblib

            joblib.dump(model, path)
        else:
            skops_io = _skops()
            data = skops_io.dumps(model)
            path.write_bytes(data)
            # For the user's information only: loading decides trust on the loader's side.
            extra["untrusted_types"] = sorted(
                set(skops_io.get_untrusted_types(data=data)) - VETTED_SKOPS_TYPES
            )
        methods = [m for m in ("predict", "predict_proba") if callable(getattr(model, m, None))]
        if "predict" not in methods:
            raise InvalidArgumentError(
                f"The scikit-learn object {type(model).__name__!r} has no predict method, so it "
                "cannot be served as a model. Log a fitted estimator or pipeline that ends in one."
            )
        files = [path.name]
        compiled = _compile(model, options.get("input_example"))
        if isinstance(compiled, str):
            extra["compiled_note"] = compiled
        else:
            spec, data = compiled
            (folder / COMPILED_FILE).write_bytes(data)
            files.append(COMPILED_FILE)
            extra["compiled"] = spec
        return SavedFiles(
            files=files,
            serialization=serialization,
            model_input="frame" if hasattr(model, "feature_names_in_") else "array",
            methods=methods,
            options=extra,
        )

    def load(self, files: dict[str, bytes], manifest: Any, options: dict[str, Any]) -> Any:
        """Unpickle the verified bytes, or rebuild a skops file after checking its types."""
        serialization = manifest.serialization
        data = files[_FILES[serialization]]
        if serialization == "cloudpickle":
            import sklearn  # noqa: F401  (import first, so its version can be compared)

            return pickle.loads(data)  # noqa: S301  (bytes verified against their digest)
        if serialization == "joblib":
            import joblib

            return joblib.load(io.BytesIO(data))
        skops_io = _skops()
        try:
            found = set(skops_io.get_untrusted_types(data=data))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:  # skops reads a zip of JSON
            raise ValidationFailedError(
                f"The model file of {manifest.model_class!r} is not a skops file "
                f"({type(exc).__name__}: {exc}). Keel did not load it; log the model again "
                "with serialization='skops'.",
            ) from exc
        allowed = VETTED_SKOPS_TYPES | set(options.get("trusted_types") or ())
        refused = sorted(found - allowed)
        if refused:
            raise ValidationFailedError(
                f"The skops model file names types that are not trusted: {refused!r}. Keel did "
                "not load it. If you know where these types come from and trust them, pass "
                f"trusted_types={refused!r} to keel.load_model.",
                details={"untrusted_types": refused},
            )
        return skops_io.loads(data, trusted=sorted(found))


def _compile(model: Any, example: Any) -> tuple[dict[str, Any], bytes] | str:
    """Compile ``model`` and check it on its example; return the result or why not."""
    if example is None:
        return "not compiled: the model was logged without an input_example to check it on"
    try:
        spec, data = compile_estimator(model)
        compiled = CompiledModel.from_bytes(spec, data)
        frame = to_frame_or_array(example)
        names = compiled.feature_names
        if hasattr(frame, "columns"):
            columns = names if names is not None else list(frame.columns)
            matrix = frame[columns].to_numpy(dtype="float64")
        else:
            matrix = np.asarray(frame, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != compiled.n_features:
            return "not compiled: the input example does not have the model's columns"
        with warnings.catch_warnings():
            # Fitted on named columns, the estimator warns about an array: not news here.
            warnings.simplefilter("ignore", UserWarning)
            problem = verify(model, compiled, matrix)
    except NotCompiled as exc:
        return f"not compiled: {exc}"
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"not compiled: {type(exc).__name__}: {exc}"
    if problem is not None:
        _logger.info("Model %s not compiled: %s", type(model).__name__, problem)
        return f"not compiled: {problem}"
    return spec, data


def _skops() -> Any:
    try:
        import skops.io
    except ImportError as exc:
        raise MissingDependencyError.for_extra(
            "skops", "sklearn", "skops format of the scikit-learn flavor"
        ) from exc
    return skops.io

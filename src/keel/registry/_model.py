"""``LoadedModel``: one ``predict`` for every flavor, with the signature enforced."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidStateError
from keel.registry._flavor import Flavor
from keel.registry._manifest import Manifest
from keel.registry._signature import ModelSignature, enforce_input

if TYPE_CHECKING:
    from keel.registry._compiled import CompiledModel

__all__ = ["LoadedModel"]


class LoadedModel:
    """A model loaded from the registry or a run, ready to predict.

    ``predict`` takes a pandas DataFrame, a NumPy array, a list of dict records or a dict of
    columns, checks it against the model's input signature (naming every missing, extra and
    mistyped column), converts it to what the underlying library expects, and calls it.

    Attributes:
        uri: The URI it was loaded from.
        flavor: The flavor name (``sklearn``, ``xgboost``, ``lightgbm``, ``pytorch``, ``pyfunc``).
        manifest: The model's manifest (files and digests, libraries, signature).
        signature: The signature, or ``None`` if the model was logged without one.
        name: The registered model's name (``models:/`` URIs).
        version: The version number (``models:/`` URIs).
        run_id: The run that logged the model.
        compiled: The model's NumPy form (scikit-learn models logged with an input example),
            or ``None``. When present, ``predict`` and ``predict_proba`` use it, and the
            estimator itself is loaded only by :meth:`unwrap` or for an input the compiled
            form leaves to it (NaN or infinity, float32, another number of columns).
    """

    def __init__(
        self,
        native: Any,
        flavor: Flavor,
        manifest: Manifest,
        *,
        uri: str,
        name: str | None = None,
        version: int | None = None,
        compiled: CompiledModel | None = None,
        loader: Callable[[], Any] | None = None,
    ) -> None:
        self._native = native
        self._loader = loader
        self.compiled = compiled
        self._flavor = flavor
        self.manifest = manifest
        self.flavor = flavor.name
        self.uri = uri
        self.name = name
        self.version = version
        self.run_id = manifest.run_id
        self.signature = (
            ModelSignature.from_dict(manifest.signature) if manifest.signature else None
        )

    def __repr__(self) -> str:
        where = f"{self.name} v{self.version}" if self.name else self.uri
        return f"<LoadedModel {where} flavor={self.flavor!r} class={self.manifest.model_class!r}>"

    def _prepare(self, data: Any) -> Any:
        inputs = self.signature.inputs if self.signature else None
        prepared = enforce_input(data, inputs)
        if self.manifest.model_input == "array" and hasattr(prepared, "to_numpy"):
            prepared = prepared.to_numpy()
        return prepared

    def _matrix(self, prepared: Any) -> Any:
        """The compiled form's input for ``prepared``, or ``None`` to use the estimator."""
        assert self.compiled is not None
        names = self.compiled.feature_names
        if hasattr(prepared, "columns"):
            if names is None or [str(c) for c in prepared.columns] != names:
                return None
            if not all(dtype.kind in "biuf" for dtype in prepared.dtypes):
                return None
            return prepared.to_numpy()
        return None if names is not None else prepared

    def _call(self, method: str, prepared: Any) -> Any:
        if self.compiled is not None:
            matrix = self._matrix(prepared)
            if matrix is not None:
                try:
                    return getattr(self.compiled, method)(matrix)
                except self.compiled.Fallback:
                    pass
        return getattr(self._flavor, method)(self.unwrap(), prepared, self.manifest)

    def predict(self, data: Any) -> Any:
        """Predict on ``data`` (DataFrame, NumPy array, list of records or dict of columns).

        Raises:
            ValidationFailedError: The data does not match the input signature.
            InvalidArgumentError: The data is not of a kind a model takes.
        """
        return self._call("predict", self._prepare(data))

    @property
    def has_predict_proba(self) -> bool:
        """Whether the model offers class probabilities."""
        return "predict_proba" in self.manifest.methods

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities of a classifier, one column per class.

        Raises:
            InvalidStateError: The model offers no probabilities.
        """
        if not self.has_predict_proba:
            raise InvalidStateError(
                f"The {self.flavor} model {self.uri!r} ({self.manifest.model_class}) has no "
                "predict_proba; use predict."
            )
        return self._call("predict_proba", self._prepare(data))

    def unwrap(self) -> Any:
        """Return the underlying library object (estimator, booster, module, ...).

        A model loaded in its compiled form loads the estimator here, on first call (this
        imports its library and verifies and reads its file).
        """
        if self._native is None and self._loader is not None:
            self._native = self._loader()
            self._loader = None
        return self._native

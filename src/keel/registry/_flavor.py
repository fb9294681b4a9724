"""The flavor contract and the registry of flavors.

A flavor knows how to save one kind of model into files, load it back from verified bytes,
and call it. Every flavor obeys the same contract (a shared test suite checks it): ``save``
writes files into a folder and returns what the manifest needs; ``load`` gets a
``{path: bytes}`` map whose bytes were already checked against their digests; ``predict`` takes
what the signature enforcement produced (a DataFrame or a NumPy array).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from keel.errors import InvalidArgumentError, MissingDependencyError, near_matches

__all__ = ["FLAVORS", "Flavor", "SavedFiles", "detect_flavor", "get_flavor", "qualname"]


@dataclass
class SavedFiles:
    """What a flavor wrote: its files (relative to the folder) and manifest facts.

    Attributes:
        files: Relative paths of the files written.
        serialization: The format used.
        model_input: ``"frame"`` or ``"array"``: what the model's predict wants.
        methods: Prediction methods offered.
        options: Flavor-specific facts for loading and predicting.
    """

    files: list[str]
    serialization: str
    model_input: str
    methods: list[str]
    options: dict[str, Any] = field(default_factory=dict)


class Flavor(ABC):
    """Saves, loads and calls one kind of model."""

    #: The flavor's name in manifests and ``log_model(flavor=...)``.
    name: ClassVar[str]
    #: ``{distribution: import name}`` of the libraries whose versions are recorded.
    libraries: ClassVar[dict[str, str]]
    #: The serialization formats offered, the default first.
    serializations: ClassVar[tuple[str, ...]]
    #: The Keel extra that installs the flavor's library.
    extra: ClassVar[str]

    @abstractmethod
    def matches(self, model: Any) -> bool:
        """Whether ``model`` is of this flavor (checked without importing its library)."""

    @abstractmethod
    def save(
        self, model: Any, folder: Path, serialization: str, options: dict[str, Any]
    ) -> SavedFiles:
        """Write ``model`` into ``folder`` in format ``serialization``."""

    @abstractmethod
    def load(self, files: dict[str, bytes], manifest: Any, options: dict[str, Any]) -> Any:
        """Rebuild the model from verified file bytes."""

    def import_library(self) -> None:
        """Import the flavor's libraries, or raise a one-line install hint."""
        for dist, module in self.libraries.items():
            if dist in ("numpy", "cloudpickle", "joblib"):
                continue
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise MissingDependencyError.for_extra(
                    module, self.extra, f"{self.name} model flavor"
                ) from exc

    def predict(self, model: Any, data: Any, manifest: Any) -> Any:
        """Call the model's ``predict`` on ``data``."""
        return model.predict(data)

    def predict_proba(self, model: Any, data: Any, manifest: Any) -> Any:
        """Call the model's ``predict_proba`` on ``data``."""
        return model.predict_proba(data)

    def check_serialization(self, serialization: str | None) -> str:
        """Return the chosen format (the default for ``None``).

        Raises:
            InvalidArgumentError: The flavor does not offer that format.
        """
        if serialization is None:
            return self.serializations[0]
        if serialization not in self.serializations:
            raise InvalidArgumentError(
                f"The {self.name} flavor cannot save in format {serialization!r}."
                f"{near_matches(serialization, self.serializations)} Its formats are "
                f"{list(self.serializations)!r}."
            )
        return serialization


def qualname(obj: Any) -> str:
    """Return ``module.QualName`` of an object's class."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def mro_modules(model: Any) -> list[str]:
    """Return the module of each class in the model's MRO (to detect flavors without imports)."""
    return [c.__module__ for c in type(model).__mro__]


def _registry() -> dict[str, Flavor]:
    from keel.registry._flavor_lightgbm import LightGBMFlavor
    from keel.registry._flavor_pyfunc import PyFuncFlavor
    from keel.registry._flavor_pytorch import PyTorchFlavor
    from keel.registry._flavor_sklearn import SklearnFlavor
    from keel.registry._flavor_xgboost import XGBoostFlavor

    flavors: list[Flavor] = [
        PyTorchFlavor(),
        XGBoostFlavor(),
        LightGBMFlavor(),
        SklearnFlavor(),
        PyFuncFlavor(),
    ]
    return {f.name: f for f in flavors}


#: The flavor names, in detection order.
FLAVORS = ("pytorch", "xgboost", "lightgbm", "sklearn", "pyfunc")
_cache: dict[str, Flavor] = {}


def get_flavor(name: str) -> Flavor:
    """Return the flavor called ``name``.

    Raises:
        InvalidArgumentError: No flavor has that name.
    """
    if not _cache:
        _cache.update(_registry())
    try:
        return _cache[name]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown model flavor {name!r}.{near_matches(name, FLAVORS)} "
            f"Flavors: {list(FLAVORS)!r}."
        ) from None


def detect_flavor(model: Any) -> Flavor:
    """Return the first flavor that recognizes ``model``.

    Raises:
        InvalidArgumentError: No flavor does (the object has no ``predict``).
    """
    for name in FLAVORS:
        flavor = get_flavor(name)
        if flavor.matches(model):
            return flavor
    raise InvalidArgumentError(
        f"Cannot log a {qualname(model)!r} as a model: it is not a scikit-learn, XGBoost, "
        "LightGBM or PyTorch model and has no predict method. Wrap it in a class with a "
        "predict(data) method, or pass flavor=... explicitly."
    )

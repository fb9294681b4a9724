"""The XGBoost flavor: boosters and the scikit-learn wrappers, in XGBoost's own format.

The model is saved with ``save_model`` as UBJSON (or JSON): data only, no pickle. Loading
rebuilds an instance of one of XGBoost's own model classes (named in the manifest and checked
against a fixed list) and fills it with ``load_model``; nothing in the file is executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from keel.errors import IntegrityError
from keel.registry._flavor import Flavor, SavedFiles, mro_modules

__all__ = ["XGBoostFlavor"]

_CLASSES = frozenset(
    {"Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)


class XGBoostFlavor(Flavor):
    """XGBoost ``Booster`` and ``XGBClassifier`` / ``XGBRegressor`` / ``XGBRanker``."""

    name = "xgboost"
    libraries: ClassVar[dict[str, str]] = {"xgboost": "xgboost", "numpy": "numpy"}
    serializations = ("ubj", "json")
    extra = "xgboost"

    def matches(self, model: Any) -> bool:
        """Whether the model is one of XGBoost's classes."""
        return any(m.startswith("xgboost") for m in mro_modules(model))

    def save(
        self, model: Any, folder: Path, serialization: str, options: dict[str, Any]
    ) -> SavedFiles:
        """Write ``model.ubj`` or ``model.json`` with ``save_model``."""
        import xgboost as xgb

        cls = next((c.__name__ for c in type(model).__mro__ if c.__name__ in _CLASSES), None)
        if cls is None or not type(model).__module__.startswith("xgboost"):
            cls = "Booster" if isinstance(model, xgb.Booster) else "XGBRegressor"
        path = folder / f"model.{serialization}"
        model.save_model(str(path))
        booster = model if isinstance(model, xgb.Booster) else model.get_booster()
        methods = ["predict"]
        if callable(getattr(model, "predict_proba", None)) and cls != "Booster":
            methods.append("predict_proba")
        return SavedFiles(
            files=[path.name],
            serialization=serialization,
            model_input="frame" if booster.feature_names else "array",
            methods=methods,
            options={"model_class": cls},
        )

    def load(self, files: dict[str, bytes], manifest: Any, options: dict[str, Any]) -> Any:
        """Instantiate the recorded XGBoost class and ``load_model`` the verified bytes."""
        import xgboost as xgb

        cls_name = manifest.options.get("model_class", "Booster")
        if cls_name not in _CLASSES:
            raise IntegrityError(
                f"The manifest names the XGBoost class {cls_name!r}, which is not one of "
                f"{sorted(_CLASSES)!r}; Keel refuses to instantiate it."
            )
        model = getattr(xgb, cls_name)()
        model.load_model(bytearray(files[f"model.{manifest.serialization}"]))
        return model

    def predict(self, model: Any, data: Any, manifest: Any) -> Any:
        """Predict; a bare Booster gets its input as a ``DMatrix``."""
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            return model.predict(xgb.DMatrix(data))
        return model.predict(data)

"""The LightGBM flavor: boosters and the scikit-learn wrappers, as LightGBM's model text.

The model is saved as the booster's text (``model_to_string``), data only, and loaded with
``lightgbm.Booster(model_str=...)``: no pickle. For the scikit-learn wrappers the manifest also
keeps what the booster alone does not know (a classifier's class labels), and the loaded model
predicts labels and probabilities the way the wrapper did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from keel.registry._flavor import Flavor, SavedFiles, mro_modules

__all__ = ["LightGBMFlavor"]


def _plain(values: Any) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


class LightGBMFlavor(Flavor):
    """LightGBM ``Booster`` and ``LGBMClassifier`` / ``LGBMRegressor`` / ``LGBMRanker``."""

    name = "lightgbm"
    libraries: ClassVar[dict[str, str]] = {"lightgbm": "lightgbm", "numpy": "numpy"}
    serializations = ("text",)
    extra = "lightgbm"

    def matches(self, model: Any) -> bool:
        """Whether the model is one of LightGBM's classes."""
        return any(m.startswith("lightgbm") for m in mro_modules(model))

    def save(
        self, model: Any, folder: Path, serialization: str, options: dict[str, Any]
    ) -> SavedFiles:
        """Write ``model.txt`` from the booster, and the classes of a classifier."""
        import lightgbm as lgb

        booster = model if isinstance(model, lgb.Booster) else model.booster_
        (folder / "model.txt").write_text(booster.model_to_string(), encoding="utf-8")
        extra: dict[str, Any] = {"model_class": type(model).__name__}
        methods = ["predict"]
        classes = getattr(model, "classes_", None)
        if classes is not None and not isinstance(model, lgb.Booster):
            extra["classes"] = _plain(classes)
            methods.append("predict_proba")
        frame = hasattr(model, "feature_names_in_") or bool(options.get("example_is_frame"))
        return SavedFiles(
            files=["model.txt"],
            serialization=serialization,
            model_input="frame" if frame else "array",
            methods=methods,
            options=extra,
        )

    def load(self, files: dict[str, bytes], manifest: Any, options: dict[str, Any]) -> Any:
        """Parse the verified model text into a ``Booster``."""
        import lightgbm as lgb

        return lgb.Booster(model_str=files["model.txt"].decode("utf-8"))

    def predict_proba(self, model: Any, data: Any, manifest: Any) -> Any:
        """Class probabilities, one column per class (two for a binary classifier)."""
        import numpy as np

        raw = np.asarray(model.predict(data))
        if raw.ndim == 1:  # binary: the booster returns P(class 1)
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, model: Any, data: Any, manifest: Any) -> Any:
        """Class labels for a classifier, the booster's output otherwise."""
        import numpy as np

        classes = manifest.options.get("classes")
        if classes is None:
            return model.predict(data)
        proba = self.predict_proba(model, data, manifest)
        return np.asarray(classes)[np.argmax(proba, axis=1)]

"""The model registry: flavors, signatures, versions, aliases, promotion gates, model cards.

::

    with keel.start_run():
        model = LogisticRegression().fit(X, y)
        info = keel.log_model(model, "model", input_example=X[:5], registered_name="churn")
    keel.models.set_alias("churn", "champion", version=info.version)
    m = keel.load_model("models:/churn@champion")     # or "models:/churn/3", "runs:/ID/model"
    m.predict(df)                                      # DataFrame, NumPy array or records

    keel.models.add_gate("churn", keel.gates.metric("auc", ">=", 0.85))
    keel.models.promote("churn", version=4, to="champion", reason="weekly retrain")

:mod:`keel.models` (this package's :mod:`~keel.registry.models`) holds the registry API and
:mod:`keel.gates` (:mod:`~keel.registry.gates`) the gates. Flavors: ``sklearn`` (cloudpickle,
joblib or skops), ``xgboost``, ``lightgbm``, ``pytorch`` (CPU) and ``pyfunc`` (any object with
``predict``, its code captured). Every load verifies each file's sha256 before deserializing.
"""

from __future__ import annotations

from keel.registry import gates, models
from keel.registry._client import ModelInfo, RegistryClient, get_registry, load_model, log_model
from keel.registry._flavor import FLAVORS
from keel.registry._manifest import LibraryVersionWarning, Manifest
from keel.registry._model import LoadedModel
from keel.registry._signature import (
    ColSpec,
    ModelSignature,
    Schema,
    TensorSpec,
    infer_signature,
)
from keel.registry._uri import ModelRef, parse_model_uri
from keel.registry.gates import Gate, GateOutcome

__all__ = [
    "FLAVORS",
    "ColSpec",
    "Gate",
    "GateOutcome",
    "LibraryVersionWarning",
    "LoadedModel",
    "Manifest",
    "ModelInfo",
    "ModelRef",
    "ModelSignature",
    "RegistryClient",
    "Schema",
    "TensorSpec",
    "gates",
    "get_registry",
    "infer_signature",
    "load_model",
    "log_model",
    "models",
    "parse_model_uri",
]

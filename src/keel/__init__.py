"""Keel: one platform for the machine-learning lifecycle.

``import keel`` is cheap: it reads no settings, opens no database and imports submodules only
when a name is first used.

Examples:
    >>> import keel
    >>> keel.__version__
    '0.1.0'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keel._version import __version__

if TYPE_CHECKING:
    from keel.errors import KeelError as KeelError
    from keel.errors import NotFoundError as NotFoundError
    from keel.llm import evaluate as evaluate
    from keel.llm import trace as trace
    from keel.pipelines import pipeline as pipeline
    from keel.pipelines import schedule as schedule
    from keel.pipelines import step as step
    from keel.pipelines import tune as tune
    from keel.registry import gates as gates
    from keel.registry import load_model as load_model
    from keel.registry import log_model as log_model
    from keel.registry import models as models
    from keel.tracking import ActiveRun as ActiveRun
    from keel.tracking import Run as Run
    from keel.tracking import RunStatus as RunStatus
    from keel.tracking import active_run as active_run
    from keel.tracking import download_artifacts as download_artifacts
    from keel.tracking import end_run as end_run
    from keel.tracking import get_metric_history as get_metric_history
    from keel.tracking import get_run as get_run
    from keel.tracking import list_artifacts as list_artifacts
    from keel.tracking import load_dict as load_dict
    from keel.tracking import log_artifact as log_artifact
    from keel.tracking import log_dict as log_dict
    from keel.tracking import log_input as log_input
    from keel.tracking import log_metric as log_metric
    from keel.tracking import log_metrics as log_metrics
    from keel.tracking import log_output as log_output
    from keel.tracking import log_param as log_param
    from keel.tracking import log_params as log_params
    from keel.tracking import log_text as log_text
    from keel.tracking import search_runs as search_runs
    from keel.tracking import set_experiment as set_experiment
    from keel.tracking import set_tag as set_tag
    from keel.tracking import set_tags as set_tags
    from keel.tracking import start_run as start_run

_TRACKING = (
    "ActiveRun",
    "Run",
    "RunStatus",
    "active_run",
    "download_artifacts",
    "end_run",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "load_dict",
    "log_artifact",
    "log_dict",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_output",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
)
_LAZY: dict[str, str] = dict.fromkeys(_TRACKING, "keel.tracking")
_LAZY.update({"KeelError": "keel.errors", "NotFoundError": "keel.errors"})
_LAZY.update({"log_model": "keel.registry", "load_model": "keel.registry"})
_PIPELINES = ("pipeline", "schedule", "step", "tune")
_LAZY.update(dict.fromkeys(_PIPELINES, "keel.pipelines"))
_LAZY.update({"evaluate": "keel.llm", "trace": "keel.llm"})
# Submodules that live deeper than keel.<name>: keel.models and keel.gates are the registry's.
_SUBMODULE_PATHS = {"models": "keel.registry.models", "gates": "keel.registry.gates"}
_SUBMODULES = (
    "artifacts",
    "automation",
    "config",
    "data",
    "datasets",
    "errors",
    "features",
    "governance",
    "interop",
    "llm",
    "monitoring",
    "pipelines",
    "prompts",
    "scorers",
    "serving",
    "store",
    "tracking",
)

__all__ = ["__version__", *_TRACKING, "KeelError", "NotFoundError", "load_model", "log_model"]
__all__ += _PIPELINES
__all__ += ["evaluate", "trace"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULE_PATHS:
        return importlib.import_module(_SUBMODULE_PATHS[name])
    if name in _SUBMODULES:
        return importlib.import_module(f"keel.{name}")
    raise AttributeError(f"module 'keel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES, *_SUBMODULE_PATHS})

"""Experiment tracking: experiments, runs, params, metric series, tags, artifacts, run I/O.

The module-level functions (re-exported as ``keel.start_run`` and friends) work on the active
run of the current thread; :class:`TrackingClient` is the same API with explicit run ids.
"""

from keel.store import Experiment, Metric, Run, RunData, RunInfo, RunStatus
from keel.tracking._client import TrackingClient, get_client, reset_client, stringify_param
from keel.tracking._doctor import DoctorReport, run_doctor
from keel.tracking._fluent import (
    ActiveRun,
    RunList,
    active_run,
    download_artifacts,
    end_run,
    get_metric_history,
    get_run,
    list_artifacts,
    load_dict,
    log_artifact,
    log_dict,
    log_input,
    log_metric,
    log_metrics,
    log_output,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)

__all__ = [
    "ActiveRun",
    "DoctorReport",
    "Experiment",
    "Metric",
    "Run",
    "RunData",
    "RunInfo",
    "RunList",
    "RunStatus",
    "TrackingClient",
    "active_run",
    "download_artifacts",
    "end_run",
    "get_client",
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
    "reset_client",
    "run_doctor",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
    "stringify_param",
]

"""Pipelines: cached, retried, recorded DAGs of steps, on one machine or a Ray cluster.

::

    @keel.step(retries=2)
    def load(version: str) -> pd.DataFrame: ...

    @keel.step
    def train(df: pd.DataFrame, lr: float) -> LogisticRegression: ...

    @keel.pipeline
    def training(version: str = "latest", lr: float = 0.1):
        df = load(version)
        return train(df, lr)

    run = training.run(lr=0.05)                  # in this thread
    run = training.run(executor="process")       # independent steps in parallel
    run.status, run.steps["train"].cache_hit, run.outputs

Every run is a tracked run recorded in the metadata store with its steps; step outputs are
content-addressed blobs in the artifact store, so a re-run reuses every step whose code,
inputs and parameters did not change (:mod:`keel.pipelines._codehash` says what "code" covers).
A dataset reference (``"churn@latest"``, a ``keel.datasets`` version) or a model URI
(``"models:/churn@champion"``) in the arguments counts as the version it names when the run
starts, so moving ``latest`` or an alias re-runs the steps that read it
(:mod:`keel.pipelines._pins`). Also here: :func:`tune` (Optuna trials on an executor),
:func:`schedule` and the agent loop that fires schedules.
"""

from keel.pipelines._agent import (
    Agent,
    AgentTask,
    ScheduleTask,
    list_agent_tasks,
    register_agent_task,
    run_agent,
)
from keel.pipelines._cron import CronExpression
from keel.pipelines._dag import Dag, Node, OutputHandle
from keel.pipelines._errors import (
    PipelineDefinitionError,
    PipelineFailedError,
    StepTimeoutError,
    UnserializableOutputError,
)
from keel.pipelines._loader import load_pipeline
from keel.pipelines._pipeline import Pipeline, pipeline
from keel.pipelines._run import PipelineRun, StepRun, StepStatus, get_run, list_runs
from keel.pipelines._runner import PipelineEvent
from keel.pipelines._schedule import (
    Schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    schedule,
)
from keel.pipelines._serializers import (
    Serializer,
    list_serializers,
    register_serializer,
)
from keel.pipelines._step import Step, step
from keel.pipelines._tune import Distribution, Pruned, Trial, TrialResult, TuneResult, tune
from keel.pipelines.executors import Executor, get_executor, list_executors, register_executor

__all__ = [
    "Agent",
    "AgentTask",
    "CronExpression",
    "Dag",
    "Distribution",
    "Executor",
    "Node",
    "OutputHandle",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineEvent",
    "PipelineFailedError",
    "PipelineRun",
    "Pruned",
    "Schedule",
    "ScheduleTask",
    "Serializer",
    "Step",
    "StepRun",
    "StepStatus",
    "StepTimeoutError",
    "Trial",
    "TrialResult",
    "TuneResult",
    "UnserializableOutputError",
    "delete_schedule",
    "get_executor",
    "get_run",
    "get_schedule",
    "list_agent_tasks",
    "list_executors",
    "list_runs",
    "list_schedules",
    "list_serializers",
    "load_pipeline",
    "pause_schedule",
    "pipeline",
    "register_agent_task",
    "register_executor",
    "register_serializer",
    "resume_schedule",
    "run_agent",
    "schedule",
    "step",
    "tune",
]

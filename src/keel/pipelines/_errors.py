"""Errors of the pipelines capability, each a subclass of a :mod:`keel.errors` class."""

from __future__ import annotations

from typing import Any

from keel.errors import InvalidArgumentError, InvalidStateError, KeelError

__all__ = [
    "PipelineDefinitionError",
    "PipelineFailedError",
    "StepTimeoutError",
    "UnserializableOutputError",
]


class PipelineDefinitionError(InvalidArgumentError):
    """The DAG a pipeline builds is invalid: a cycle, a type mismatch, a bad step call."""


class UnserializableOutputError(InvalidArgumentError):
    """A step returned an object that no serializer can store."""


class StepTimeoutError(KeelError, TimeoutError):
    """A step attempt ran longer than its ``timeout``."""


class PipelineFailedError(InvalidStateError):
    """A pipeline run failed; the message names the failed step and its error.

    Attributes:
        run_id: The failed pipeline run.
        step: The step that failed first, if a step failed.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        step: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details={"run_id": run_id, "step": step, **(details or {})})
        self.run_id = run_id
        self.step = step

"""Executors: where pipeline steps and tuning trials run, chosen by name.

=========  =============================================  ====================
name       runs tasks                                     class
=========  =============================================  ====================
inline     one at a time, in the calling thread           :class:`InlineExecutor`
process    in parallel, in worker processes               :class:`ProcessExecutor`
ray        on a Ray cluster (``RAY_ADDRESS``) or locally  :class:`RayExecutor`
=========  =============================================  ====================

:func:`get_executor` builds one by name; :func:`register_executor` adds a name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from keel.errors import InvalidArgumentError, near_matches
from keel.pipelines.executors.base import Executor, TaskResult

__all__ = [
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "TaskResult",
    "get_executor",
    "list_executors",
    "register_executor",
]

_REGISTRY: dict[str, str | Callable[..., Executor]] = {
    "inline": "keel.pipelines.executors._inline:InlineExecutor",
    "process": "keel.pipelines.executors._process:ProcessExecutor",
    "ray": "keel.pipelines.executors._ray:RayExecutor",
}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    """Make ``factory(**options)`` available as executor ``name``.

    Raises:
        InvalidArgumentError: ``name`` is empty or ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name.strip() or not callable(factory):
        raise InvalidArgumentError(
            f"register_executor needs a name and a callable, got {name!r} and {factory!r}."
        )
    _REGISTRY[name] = factory


def list_executors() -> list[str]:
    """Return the registered executor names."""
    return sorted(_REGISTRY)


def get_executor(name: str | Executor, **options: Any) -> Executor:
    """Return an executor: ``name`` built with ``options``, or ``name`` itself if an instance.

    Raises:
        InvalidArgumentError: No executor has that name.
        MissingDependencyError: The executor's extra is not installed (``ray``).
    """
    if isinstance(name, Executor):
        return name
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        raise InvalidArgumentError(
            f"Unknown executor {name!r}.{near_matches(str(name), _REGISTRY)} "
            f"Executors: {', '.join(sorted(_REGISTRY))}.",
            details={"executor": str(name)},
        )
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    executor = entry(**options)
    if not isinstance(executor, Executor):
        raise InvalidArgumentError(
            f"The factory of executor {name!r} returned {executor!r}, not an Executor."
        )
    return executor


def __getattr__(name: str) -> Any:
    lazy = {"InlineExecutor": "_inline", "ProcessExecutor": "_process", "RayExecutor": "_ray"}
    if name in lazy:
        return getattr(importlib.import_module(f"keel.pipelines.executors.{lazy[name]}"), name)
    raise AttributeError(f"module 'keel.pipelines.executors' has no attribute {name!r}")

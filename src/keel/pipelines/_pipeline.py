"""``@keel.pipeline``: a function whose step calls form a DAG, run with caching and retries."""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from keel.errors import InvalidArgumentError, near_matches
from keel.pipelines._dag import Dag, Tracer, current_tracer
from keel.pipelines._runner import PipelineEvent, RunOptions, execute
from keel.pipelines._types import describe, resolve_hints, value_matches

if typing.TYPE_CHECKING:
    from keel.pipelines._run import PipelineRun
    from keel.pipelines.executors import Executor

__all__ = ["RUN_OPTIONS", "Pipeline", "coerce_param", "pipeline"]

F = TypeVar("F", bound=Callable[..., Any])

#: Keyword arguments of :meth:`Pipeline.run` that are options, not pipeline parameters.
RUN_OPTIONS = (
    "executor",
    "cache",
    "max_workers",
    "fail_fast",
    "experiment",
    "run_name",
    "tags",
    "on_event",
    "params",
)


def coerce_param(pipeline: str, name: str, text: str, annotation: Any) -> Any:
    """Turn the command-line text of a parameter into a value of its annotated type.

    Raises:
        InvalidArgumentError: The text is not a value of that type.
    """
    empty = inspect.Parameter.empty
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    def fail(why: str = "") -> InvalidArgumentError:
        return InvalidArgumentError(
            f"Pipeline {pipeline!r} parameter {name!r} expects {describe(annotation)}, got "
            f"{text!r}{why}. Pass it as --param {name}=VALUE with a {describe(annotation)}.",
            details={"param": name},
        )

    if annotation in (empty, Any, object):
        try:
            return json.loads(text)
        except ValueError:
            return text
    if origin is typing.Union or origin is __import__("types").UnionType:
        if type(None) in args and text.lower() in ("none", "null", ""):
            return None
        for member in args:
            if member is type(None):
                continue
            try:
                return coerce_param(pipeline, name, text, member)
            except InvalidArgumentError:
                continue
        raise fail()
    if origin is typing.Literal:
        for option in args:
            if str(option) == text:
                return option
        raise fail(f" (allowed: {', '.join(repr(a) for a in args)})")
    if annotation is str:
        return text
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise fail()
    if annotation in (int, float):
        try:
            return annotation(text)
        except ValueError:
            raise fail() from None
    if origin in (list, dict, tuple, set) or annotation in (list, dict, tuple, set):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise fail(f" (not JSON: {exc})") from None
        container = origin or annotation
        if container in (tuple, set) and isinstance(value, list):
            value = container(value)
        if not value_matches(value, annotation):
            raise fail()
        return value
    raise InvalidArgumentError(
        f"Pipeline {pipeline!r} parameter {name!r} is annotated {describe(annotation)}, which "
        "cannot be given as text on the command line. Give it a default, or run the "
        "pipeline from Python.",
        details={"param": name},
    )


class Pipeline:
    """A function made into a pipeline by :func:`pipeline`.

    Its parameters are the pipeline's parameters; the step calls in its body form the DAG.
    ``run()`` checks the parameters and the DAG, then runs it.

    Attributes:
        func: The wrapped function.
        name: The pipeline's name (the function's name by default).
        experiment: The experiment its runs go into (the pipeline's name by default).
        param_types: The annotation of each parameter.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        experiment: str | None = None,
    ) -> None:
        if not callable(func) or isinstance(func, Pipeline):
            raise InvalidArgumentError(
                f"@keel.pipeline decorates a function, got {func!r}. Put it on a def."
            )
        self.func = func
        self.name: str = name or str(getattr(func, "__name__", "pipeline"))
        self.experiment = experiment
        self.signature = inspect.signature(func)
        for param in self.signature.parameters.values():
            if param.kind is inspect.Parameter.VAR_POSITIONAL or param.kind is (
                inspect.Parameter.POSITIONAL_ONLY
            ):
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} has the positional-only parameter {param.name!r}. "
                    "Pipeline parameters are passed by name; make it a normal parameter."
                )
            if param.name in RUN_OPTIONS:
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} has a parameter named {param.name!r}, which is an "
                    f"option of Pipeline.run() ({', '.join(RUN_OPTIONS)}). Rename the parameter."
                )
        hints = resolve_hints(func)
        self.param_types: dict[str, Any] = {
            p: hints[p] for p in self.signature.parameters if p in hints
        }
        self.__doc__ = func.__doc__
        self.__name__ = self.name
        self.__module__ = getattr(func, "__module__", __name__)
        self.__qualname__ = getattr(func, "__qualname__", self.name)
        self.__wrapped__ = func

    @property
    def target(self) -> str | None:
        """``module:attribute`` that imports this pipeline, or ``None`` if it cannot be."""
        module = getattr(self.func, "__module__", None)
        qualname = getattr(self.func, "__qualname__", "")
        if not module or module == "__main__" or "<locals>" in qualname:
            return None
        mod = sys.modules.get(module)
        if mod is None or getattr(mod, qualname, None) is not self:
            return None
        return f"{module}:{qualname}"

    def bind(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the signature and annotations; return them with defaults.

        Raises:
            InvalidArgumentError: A parameter is unknown, missing, or of the wrong type.
        """
        accepts_any = any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in self.signature.parameters.values()
        )
        known = [
            p.name
            for p in self.signature.parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        unknown = [k for k in params if k not in known]
        if unknown and not accepts_any:
            raise InvalidArgumentError(
                f"Pipeline {self.name!r} has no parameter {unknown[0]!r}."
                f"{near_matches(unknown[0], known)} Its parameters: "
                f"{', '.join(known) or 'none'}.",
                details={"param": unknown[0]},
            )
        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            missing = [
                p.name
                for p in self.signature.parameters.values()
                if p.default is inspect.Parameter.empty
                and p.kind is not inspect.Parameter.VAR_KEYWORD
                and p.name not in params
            ]
            raise InvalidArgumentError(
                f"Pipeline {self.name!r} needs a value for parameter(s) {missing!r} ({exc}). "
                f"Pass them: {self.name}.run({', '.join(f'{m}=...' for m in missing)}).",
                details={"missing": missing},
            ) from exc
        bound.apply_defaults()
        values = dict(bound.arguments)
        flat: dict[str, Any] = {}
        for key, value in values.items():
            param = self.signature.parameters[key]
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                flat.update(value)
                continue
            expected = self.param_types.get(key, inspect.Parameter.empty)
            if not value_matches(value, expected):
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} parameter {key!r} expects {describe(expected)}, "
                    f"got {value!r} ({type(value).__name__}). Pass a {describe(expected)}: "
                    f"{self.name}.run({key}=...).",
                    details={"param": key, "expected": describe(expected)},
                )
            flat[key] = value
        return flat

    def coerce(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """Turn ``--param k=v`` texts into typed values (see :func:`coerce_param`).

        Raises:
            InvalidArgumentError: A name is unknown or a text does not parse.
        """
        known = list(self.signature.parameters)
        out: dict[str, Any] = {}
        for key, text in raw.items():
            if key not in self.signature.parameters:
                raise InvalidArgumentError(
                    f"Pipeline {self.name!r} has no parameter {key!r}."
                    f"{near_matches(key, known)} Its parameters: {', '.join(known) or 'none'}.",
                    details={"param": key},
                )
            annotation = self.param_types.get(key, inspect.Parameter.empty)
            out[key] = coerce_param(self.name, key, text, annotation)
        return out

    def build(self, **params: Any) -> Dag:
        """Check the parameters, run the pipeline function to collect its steps, check the DAG.

        Nothing runs. Raises the errors :meth:`run` would raise before running anything.
        """
        bound = self.bind(params)
        with Tracer(self.name) as tracer:
            outputs = self.func(**bound)
        return tracer.build(outputs)

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        executor: str | Executor = "inline",
        cache: bool = True,
        max_workers: int | None = None,
        fail_fast: bool = False,
        experiment: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        on_event: Callable[[PipelineEvent], None] | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """Run the pipeline and return the recorded run (a failed run is returned, not raised).

        Args:
            params: Parameters as a mapping (or pass them as keyword arguments).
            executor: ``"inline"`` (default, in this thread), ``"process"`` (independent steps
                in parallel worker processes), ``"ray"``, or an :class:`Executor`.
            cache: Whether steps may reuse results of earlier runs.
            max_workers: Parallel tasks for ``process`` and ``ray``.
            fail_fast: Stop starting steps after the first failure (by default independent
                branches still finish, so a re-run finds them cached).
            experiment: The experiment of the run (the pipeline's by default).
            run_name: The tracked run's name (the pipeline's name by default).
            tags: Tags of the tracked run.
            on_event: Called with a :class:`PipelineEvent` as steps start and end.
            **kwargs: Pipeline parameters.

        Returns:
            The run: ``status``, ``steps[name].cache_hit``, ``outputs``, ``error``.

        Raises:
            InvalidArgumentError: A parameter is wrong, or the DAG is invalid (a cycle, a type
                mismatch); nothing ran.
        """
        merged = {**(params or {}), **kwargs}
        if not isinstance(cache, bool) or not isinstance(fail_fast, bool):
            raise InvalidArgumentError(
                f"cache and fail_fast must be True or False, got cache={cache!r}, "
                f"fail_fast={fail_fast!r}."
            )
        return self._run(
            merged,
            RunOptions(
                executor=executor,
                cache=cache,
                max_workers=max_workers,
                fail_fast=fail_fast,
                experiment=experiment or self.experiment or self.name,
                run_name=run_name,
                tags=dict(tags or {}),
                on_event=on_event,
                target=self.target,
            ),
        )

    def _run(self, params: dict[str, Any], options: RunOptions) -> PipelineRun:
        bound = self.bind(params)
        with Tracer(self.name) as tracer:
            outputs = self.func(**bound)
        dag = tracer.build(outputs)
        return execute(self.name, dag, bound, options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside another pipeline: add this pipeline's steps there. Elsewhere: :meth:`run`."""
        if current_tracer() is not None:
            bound = self.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return self.func(*bound.args, **bound.kwargs)
        if args:
            raise InvalidArgumentError(
                f"Pass the parameters of pipeline {self.name!r} by name: "
                f"{self.name}({', '.join(f'{p}=...' for p in self.signature.parameters)})."
            )
        return self.run(**kwargs)

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r}>"


@overload
def pipeline(func: F, /) -> Pipeline: ...


@overload
def pipeline(
    func: None = None, /, *, name: str | None = ..., experiment: str | None = ...
) -> Callable[[F], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    experiment: str | None = None,
) -> Any:
    """Make a function a pipeline: its step calls form the DAG, its parameters the params.

    Args:
        func: The function (when used without parentheses).
        name: The pipeline's name (the function's name by default).
        experiment: The experiment its runs are tracked in (the pipeline's name by default).

    Examples:
        >>> import keel
        >>> @keel.step
        ... def add(a: int, b: int) -> int:
        ...     return a + b
        >>> @keel.pipeline
        ... def total(x: int = 1):
        ...     return add(add(x, 2), 3)
        >>> len(total.build(x=5).nodes)
        2
    """
    if func is not None:
        return Pipeline(func, name=name, experiment=experiment)
    return lambda f: Pipeline(f, name=name, experiment=experiment)

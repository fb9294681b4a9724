"""``@keel.step``: a function that a pipeline runs as one cached, retried, recorded unit."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, TypeVar, overload

from keel.errors import InvalidArgumentError
from keel.pipelines._types import resolve_hints, return_types

__all__ = ["Step", "step"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    "name",
    "retries",
    "retry_delay",
    "backoff",
    "max_retry_delay",
    "retry_on",
    "timeout",
    "cache",
    "version",
    "track",
    "n_outputs",
)


def _number(option: str, value: Any, *, minimum: float, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kind)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise InvalidArgumentError(
            f"Step option {option} must be a{'n integer' if integer else ' number'} "
            f">= {minimum:g}, got {value!r}."
        )
    return value


class Step:
    """A function made into a pipeline step by :func:`step`.

    Called inside a ``@keel.pipeline`` function, a step does not run: it adds a node to the
    pipeline's DAG and returns a handle to its output (a tuple of handles when the return
    annotation is a fixed-length ``tuple[A, B]``). Called anywhere else it is the plain
    function, so steps can be unit-tested directly.

    Attributes:
        func: The wrapped function.
        name: The step's name (the function's name by default).
        retries: Extra attempts after a failure.
        retry_delay: Seconds before the first retry.
        backoff: Factor by which the delay grows with each retry.
        max_retry_delay: Upper bound of the delay between attempts, in seconds.
        retry_on: Exception types that are retried; others fail the step at once.
        timeout: Seconds one attempt may take, or ``None``.
        cache: Whether results may be reused from an earlier run.
        version: A string mixed into the cache key; change it to invalidate the cache by hand.
        track: Whether the step gets its own tracked run, nested under the pipeline's run.
        n_outputs: How many outputs the step has.
        output_types: The annotation of each output.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        retries: int = 0,
        retry_delay: float = 1.0,
        backoff: float = 2.0,
        max_retry_delay: float = 600.0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        timeout: float | None = None,
        cache: bool = True,
        version: str | None = None,
        track: bool = False,
        n_outputs: int | None = None,
    ) -> None:
        if not callable(func) or isinstance(func, Step):
            raise InvalidArgumentError(
                f"@keel.step decorates a function, got {func!r}. Put @keel.step on a def."
            )
        if name is not None and (
            not isinstance(name, str) or not name.strip() or name.startswith("$")
        ):
            raise InvalidArgumentError(
                f"Step name must be a non-empty string not starting with '$', got {name!r}."
            )
        self.func = func
        self.__keel_step_function__ = func
        self.name: str = name or getattr(func, "__name__", None) or "step"
        self.retries = _number("retries", retries, minimum=0, integer=True)
        self.retry_delay = float(_number("retry_delay", retry_delay, minimum=0))
        self.backoff = float(_number("backoff", backoff, minimum=1))
        self.max_retry_delay = float(_number("max_retry_delay", max_retry_delay, minimum=0))
        if isinstance(retry_on, type):
            retry_on = (retry_on,)
        if not isinstance(retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in retry_on
        ):
            raise InvalidArgumentError(
                f"Step option retry_on must be an exception class or a tuple of them, got "
                f"{retry_on!r}."
            )
        self.retry_on: tuple[type[BaseException], ...] = retry_on
        self.timeout = (
            None if timeout is None else float(_number("timeout", timeout, minimum=0.001))
        )
        if not isinstance(cache, bool) or not isinstance(track, bool):
            raise InvalidArgumentError(
                f"Step options cache and track must be True or False, got cache={cache!r}, "
                f"track={track!r}."
            )
        self.cache = cache
        self.track = track
        if version is not None and not isinstance(version, str):
            raise InvalidArgumentError(f"Step option version must be a string, got {version!r}.")
        self.version = version
        try:
            self.signature = inspect.signature(func)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"Keel cannot read the signature of {func!r}: {exc}. Steps must be Python "
                "functions."
            ) from exc
        hints = resolve_hints(func)
        self.param_types: dict[str, Any] = {
            p: hints[p] for p in self.signature.parameters if p in hints
        }
        self.return_type: Any = hints.get("return", inspect.Parameter.empty)
        declared = return_types(self.return_type)
        if n_outputs is not None:
            n_outputs = _number("n_outputs", n_outputs, minimum=1, integer=True)
            types = declared if declared and len(declared) == n_outputs else None
            self.output_types: tuple[Any, ...] = types or (inspect.Parameter.empty,) * n_outputs
        elif declared:
            self.output_types = declared
        else:
            self.output_types = (self.return_type,)
        self.n_outputs = len(self.output_types)
        self._options: dict[str, Any] = {
            "name": name,
            "retries": retries,
            "retry_delay": retry_delay,
            "backoff": backoff,
            "max_retry_delay": max_retry_delay,
            "retry_on": retry_on,
            "timeout": timeout,
            "cache": cache,
            "version": version,
            "track": track,
            "n_outputs": n_outputs,
        }
        functools.update_wrapper(self, func)

    @property
    def function_ref(self) -> str:
        """``module:qualname`` of the wrapped function."""
        module = getattr(self.func, "__module__", None) or "?"
        return f"{module}:{getattr(self.func, '__qualname__', self.name)}"

    def with_options(self, **changes: Any) -> Step:
        """Return a copy of this step with some options changed (``retries``, ``name``, ...).

        Raises:
            InvalidArgumentError: An option is unknown or has a bad value.
        """
        unknown = sorted(set(changes) - set(_OPTIONS))
        if unknown:
            from keel.errors import near_matches

            raise InvalidArgumentError(
                f"Unknown step option(s) {unknown!r}.{near_matches(unknown[0], _OPTIONS)} "
                f"Options: {', '.join(_OPTIONS)}."
            )
        return Step(self.func, **{**self._options, **changes})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from keel.pipelines._dag import current_tracer

        tracer = current_tracer()
        if tracer is None:
            return self.func(*args, **kwargs)
        return tracer.add_call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name!r} ({self.function_ref})>"


@overload
def step(func: F, /) -> Step: ...


@overload
def step(
    func: None = None,
    /,
    *,
    name: str | None = ...,
    retries: int = ...,
    retry_delay: float = ...,
    backoff: float = ...,
    max_retry_delay: float = ...,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = ...,
    timeout: float | None = ...,
    cache: bool = ...,
    version: str | None = ...,
    track: bool = ...,
    n_outputs: int | None = ...,
) -> Callable[[F], Step]: ...


def step(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline step: ``@keel.step`` or ``@keel.step(retries=2, timeout=60)``.

    Args:
        func: The function (when used without parentheses).
        **options: ``name``, ``retries`` (extra attempts, default 0), ``retry_delay`` (seconds
            before the first retry, default 1), ``backoff`` (delay factor per retry, default 2),
            ``max_retry_delay``, ``retry_on`` (exception types retried, default
            ``Exception``), ``timeout`` (seconds per attempt), ``cache`` (default True),
            ``version`` (mixed into the cache key), ``track`` (own nested tracked run),
            ``n_outputs`` (number of outputs; read from a ``tuple[A, B]`` return annotation
            by default).

    Returns:
        A :class:`Step`, or a decorator making one.

    Examples:
        >>> import keel
        >>> @keel.step(retries=2)
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> double(4)  # outside a pipeline, a step is the plain function
        8
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        from keel.errors import near_matches

        raise InvalidArgumentError(
            f"Unknown step option(s) {unknown!r}.{near_matches(unknown[0], _OPTIONS)} "
            f"Options: {', '.join(_OPTIONS)}."
        )
    if func is not None:
        return Step(func, **options)
    return lambda f: Step(f, **options)

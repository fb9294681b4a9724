"""Checking values and annotations: pipeline parameters, step arguments, step-to-step edges.

The checks are deliberately forgiving where Python's typing is open-ended: an annotation this
module cannot evaluate (a ``TypeVar``, a protocol, a string it cannot resolve) accepts anything.
What it rejects is a clear mismatch: a ``str`` for a ``float`` parameter, a step that returns a
``DataFrame`` feeding a parameter annotated ``LogisticRegression``.
"""

from __future__ import annotations

import inspect
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["compatible", "describe", "resolve_hints", "return_types", "value_matches"]

_NONE = type(None)
_MAX_ITEMS = 1000  # elements checked per container: enough to catch a wrong element type


def resolve_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Return ``func``'s evaluated annotations; names that cannot be resolved are left out."""
    try:
        return typing.get_type_hints(func, include_extras=False)
    except Exception:  # an unresolvable forward reference: evaluate what we can, one by one
        hints: dict[str, Any] = {}
        raw = getattr(func, "__annotations__", {}) or {}
        glb = getattr(func, "__globals__", {})
        for name, ann in raw.items():
            if isinstance(ann, str):
                try:
                    ann = eval(ann, glb)  # the annotation is the author's own code
                except Exception:
                    continue
            hints[name] = ann
        return hints


def return_types(annotation: Any) -> tuple[Any, ...] | None:
    """Return the element types of a fixed-length ``tuple[A, B]`` return annotation, else None."""
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and Ellipsis not in args and args != ((),):
            return tuple(args)
    return None


def describe(annotation: Any) -> str:
    """Return a short readable name for an annotation (``float``, ``DataFrame``, ``int | None``)."""
    if annotation is _NONE or annotation is None:
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = repr(annotation).replace("typing.", "")
    for prefix in ("pandas.core.frame.", "numpy.", "builtins."):
        text = text.replace(prefix, "")
    return text


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def value_matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` fits ``annotation``; unknown annotation kinds accept anything.

    ``int`` accepts integral numbers but not ``bool``; ``float`` also accepts integers.
    """
    if annotation is Any or annotation is object or annotation is inspect.Parameter.empty:
        return True
    if annotation is None or annotation is _NONE:
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if _is_union(origin):
        return any(value_matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is typing.Annotated:
        return value_matches(value, args[0])
    if origin is not None:
        if not isinstance(origin, type):
            return True
        if not isinstance(value, origin):
            return False
        return _items_match(value, origin, args)
    if not isinstance(annotation, type):
        return True  # TypeVar, NewType, ForwardRef, ...
    if annotation is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if annotation is complex:
        return isinstance(value, numbers.Complex) and not isinstance(value, bool)
    if getattr(annotation, "_is_protocol", False):
        try:
            return isinstance(value, annotation)
        except TypeError:  # a protocol that is not runtime-checkable
            return True
    return isinstance(value, annotation)


def _items_match(value: Any, origin: type, args: tuple[Any, ...]) -> bool:
    if not args:
        return True
    if issubclass(origin, Mapping) and len(args) == 2:
        items = list(value.items())[:_MAX_ITEMS]
        return all(value_matches(k, args[0]) and value_matches(v, args[1]) for k, v in items)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return all(value_matches(v, args[0]) for v in list(value)[:_MAX_ITEMS])
        return len(value) == len(args) and all(
            value_matches(v, a) for v, a in zip(value, args, strict=True)
        )
    if len(args) == 1 and isinstance(value, (list, set, frozenset)):
        return all(value_matches(v, args[0]) for v in list(value)[:_MAX_ITEMS])
    return True


def compatible(produced: Any, expected: Any) -> bool:
    """Whether a value annotated ``produced`` may be passed where ``expected`` is annotated.

    Unknown or open annotations on either side are compatible; so are subclasses, integers
    where floats are expected, and any member of a union.
    """
    empty = inspect.Parameter.empty
    if produced in (Any, object, empty) or expected in (Any, object, empty):
        return True
    p_origin, e_origin = typing.get_origin(produced), typing.get_origin(expected)
    if e_origin is typing.Annotated:
        return compatible(produced, typing.get_args(expected)[0])
    if p_origin is typing.Annotated:
        return compatible(typing.get_args(produced)[0], expected)
    if _is_union(e_origin):
        return any(compatible(produced, e) for e in typing.get_args(expected))
    if _is_union(p_origin):
        return any(compatible(p, expected) for p in typing.get_args(produced))
    if produced in (None, _NONE) or expected in (None, _NONE):
        return produced in (None, _NONE) and expected in (None, _NONE)
    if p_origin is typing.Literal:
        return all(value_matches(v, expected) for v in typing.get_args(produced))
    if e_origin is typing.Literal:
        return True
    p_cls = p_origin if p_origin is not None else produced
    e_cls = e_origin if e_origin is not None else expected
    if not isinstance(p_cls, type) or not isinstance(e_cls, type):
        return True
    if getattr(e_cls, "_is_protocol", False):
        return True
    if e_cls is float and issubclass(p_cls, numbers.Real) or e_cls is float and p_cls is int:
        return True
    try:
        if not issubclass(p_cls, e_cls):
            return False
    except TypeError:
        return True
    p_args, e_args = typing.get_args(produced), typing.get_args(expected)
    if p_args and e_args and len(p_args) == len(e_args) and Ellipsis not in e_args:
        return all(compatible(p, e) for p, e in zip(p_args, e_args, strict=True))
    return True

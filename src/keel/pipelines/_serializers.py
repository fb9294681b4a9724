"""Serializers: how step outputs become bytes in the artifact store, and come back.

Tried in order, the first that accepts an object wins:

1. serializers registered with :func:`register_serializer` (the registry's model flavors go
   here), newest first;
2. ``json`` for plain Python data (``None``, ``bool``, ``int``, ``float``, ``str`` and lists
   and string-keyed dicts of them): readable, and safe to load;
3. ``numpy`` for NumPy arrays of non-object dtype (``.npy``, loaded without pickle);
4. ``pandas-parquet``, ``polars-parquet`` and ``arrow-parquet`` for data frames and tables;
5. ``keel-dataset-version`` for ``keel.datasets`` versions: their reference and digest, read
   back as the same version (so a handle keys the step cache by the version it names);
6. ``pickle`` for everything else (protocol 5). Its bytes are content-addressed like every
   blob, and digests are verified before anything is unpickled.

An object nothing can store (a generator, a lock, an open file) raises
:class:`~keel.pipelines.UnserializableOutputError` naming the step and the type.
"""

from __future__ import annotations

import io
import json
import pickle
import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.pipelines._errors import UnserializableOutputError

__all__ = [
    "Serializer",
    "deserialize",
    "get_serializer",
    "list_serializers",
    "register_serializer",
    "serialize",
    "type_name",
]


class CannotSerialize(Exception):
    """Raised by :meth:`Serializer.dumps` to hand the object on to the next serializer."""


class Serializer(ABC):
    """Turns objects of some types into bytes and back.

    Subclasses set a unique ``name`` (recorded with every output, so the same serializer must
    be registered wherever the output is loaded) and implement the three methods.
    """

    name: ClassVar[str]

    @abstractmethod
    def can_handle(self, obj: Any) -> bool:
        """Whether this serializer stores ``obj`` (cheap: look at the type only)."""

    @abstractmethod
    def dumps(self, obj: Any) -> bytes:
        """Return ``obj``'s bytes; raise :class:`CannotSerialize` to let the next one try."""

    @abstractmethod
    def loads(self, data: bytes) -> Any:
        """Rebuild the object from bytes made by :meth:`dumps`."""


def type_name(obj: Any) -> str:
    """Return ``module.QualName`` of ``obj``'s type (``builtins`` left out)."""
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


_JSON_SCALARS = (str, int, float, bool, type(None))


def _json_ready(obj: Any, depth: int = 0) -> bool:
    t = type(obj)
    if t in _JSON_SCALARS:
        return True
    if depth > 50:
        return False
    if t is list:
        return all(_json_ready(v, depth + 1) for v in obj)
    if t is dict:
        return all(type(k) is str and _json_ready(v, depth + 1) for k, v in obj.items())
    return False


class JsonSerializer(Serializer):
    """Plain Python data as JSON text (NaN and infinities kept)."""

    name = "json"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return _json_ready(obj)

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        return json.dumps(obj, separators=(",", ":"), allow_nan=True).encode()

    def loads(self, data: bytes) -> Any:  # noqa: D102
        return json.loads(data)


def _is(obj: Any, module_prefix: str, name: str) -> bool:
    t = type(obj)
    return t.__name__ == name and t.__module__.split(".")[0] == module_prefix


class NumpySerializer(Serializer):
    """NumPy arrays as ``.npy`` (object arrays go to pickle: ``.npy`` would need pickle too)."""

    name = "numpy"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return _is(obj, "numpy", "ndarray") and not obj.dtype.hasobject

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return buf.getvalue()

    def loads(self, data: bytes) -> Any:  # noqa: D102
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)


class PandasParquetSerializer(Serializer):
    """pandas DataFrames as Parquet (frames Parquet cannot hold go to pickle)."""

    name = "pandas-parquet"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return _is(obj, "pandas", "DataFrame")

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        buf = io.BytesIO()
        try:
            obj.to_parquet(buf, engine="pyarrow")
        except Exception as exc:  # non-string column names, mixed object columns, ...
            raise CannotSerialize(str(exc)) from exc
        return buf.getvalue()

    def loads(self, data: bytes) -> Any:  # noqa: D102
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


class PolarsParquetSerializer(Serializer):
    """polars DataFrames as Parquet."""

    name = "polars-parquet"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return _is(obj, "polars", "DataFrame")

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        buf = io.BytesIO()
        try:
            obj.write_parquet(buf)
        except Exception as exc:
            raise CannotSerialize(str(exc)) from exc
        return buf.getvalue()

    def loads(self, data: bytes) -> Any:  # noqa: D102
        import polars

        return polars.read_parquet(io.BytesIO(data))


class ArrowParquetSerializer(Serializer):
    """Arrow tables as Parquet."""

    name = "arrow-parquet"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return _is(obj, "pyarrow", "Table")

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        try:
            pq.write_table(obj, buf)
        except Exception as exc:
            raise CannotSerialize(str(exc)) from exc
        return buf.getvalue()

    def loads(self, data: bytes) -> Any:  # noqa: D102
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))


class DatasetVersionSerializer(Serializer):
    """``keel.datasets`` versions by reference and digest; loaded back as the same version."""

    name = "keel-dataset-version"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return _is(obj, "keel", "DatasetVersion")

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        return json.dumps({"ref": obj.ref, "digest": obj.digest}, sort_keys=True).encode()

    def loads(self, data: bytes) -> Any:  # noqa: D102
        from keel.data import get
        from keel.errors import IntegrityError

        spec = json.loads(data)
        version = get(spec["ref"])
        if version.digest != spec["digest"]:
            raise IntegrityError(
                f"Dataset version {spec['ref']!r} now has digest {version.digest[:12]!r}, not "
                f"{spec['digest'][:12]!r} as when it was passed to the step. Register the data "
                "again and pass the new version.",
                details={"ref": spec["ref"]},
            )
        return version


class PickleSerializer(Serializer):
    """Anything picklable (protocol 5); tried last."""

    name = "pickle"

    def can_handle(self, obj: Any) -> bool:  # noqa: D102
        return True

    def dumps(self, obj: Any) -> bytes:  # noqa: D102
        return pickle.dumps(obj, protocol=5)

    def loads(self, data: bytes) -> Any:  # noqa: D102
        return pickle.loads(data)  # the artifact store verified the digest before this


_BUILTIN: tuple[Serializer, ...] = (
    JsonSerializer(),
    NumpySerializer(),
    PandasParquetSerializer(),
    PolarsParquetSerializer(),
    ArrowParquetSerializer(),
    DatasetVersionSerializer(),
    PickleSerializer(),
)
_registered: list[Serializer] = []
_by_name: dict[str, Serializer] = {s.name: s for s in _BUILTIN}
_lock = threading.Lock()


def register_serializer(serializer: Serializer) -> None:
    """Add a serializer, tried before every built-in one (and before those added earlier).

    Register it in every process that loads its outputs (import the module that registers it
    from the module that defines your steps, so workers get it too).

    Raises:
        InvalidArgumentError: ``serializer`` is not a :class:`Serializer`, or has no ``name``.
    """
    if not isinstance(serializer, Serializer):
        raise InvalidArgumentError(
            f"register_serializer needs a keel.pipelines.Serializer instance, got {serializer!r}."
        )
    name = getattr(serializer, "name", None)
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"Serializer {serializer!r} has no name. Set the class attribute 'name' to a "
            "unique string; it is recorded with every output it writes."
        )
    with _lock:
        _registered[:] = [s for s in _registered if s.name != name]
        _registered.insert(0, serializer)
        _by_name[name] = serializer


def list_serializers() -> list[str]:
    """Return the names of the serializers in the order they are tried."""
    return [s.name for s in (*_registered, *_BUILTIN)]


def get_serializer(name: str) -> Serializer:
    """Return the serializer called ``name``.

    Raises:
        NotFoundError: No serializer of that name is registered in this process.
    """
    try:
        return _by_name[name]
    except KeyError:
        raise NotFoundError(
            f"No serializer is called {name!r} in this process.{near_matches(name, _by_name)} "
            "An output written by a custom serializer can be loaded only where that "
            "serializer is registered: import the module that calls register_serializer.",
            details={"serializer": name},
        ) from None


def serialize(obj: Any, *, what: str) -> tuple[bytes, str]:
    """Return ``(bytes, serializer name)`` for ``obj``.

    Args:
        obj: The object to store.
        what: What the object is, for the error (``"Step 'train' returned"``).

    Raises:
        UnserializableOutputError: No serializer can store it; the message names ``what`` and
            the type.
    """
    reasons: list[str] = []
    for serializer in (*_registered, *_BUILTIN):
        if not serializer.can_handle(obj):
            continue
        try:
            return serializer.dumps(obj), serializer.name
        except CannotSerialize as exc:
            reasons.append(f"{serializer.name}: {exc}")
        except Exception as exc:
            reasons.append(f"{serializer.name}: {type(exc).__name__}: {exc}")
    shown = repr(obj)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    raise UnserializableOutputError(
        f"{what} a {type_name(obj)} object ({shown}), which no serializer can store "
        f"({'; '.join(reasons)}). Return a value Keel can store (a data frame, an array, plain "
        "Python data or a picklable object), or register a serializer for this type with "
        "keel.pipelines.register_serializer().",
        details={"type": type_name(obj)},
    )


def deserialize(data: bytes, serializer: str) -> Any:
    """Rebuild an object from bytes written by the serializer called ``serializer``."""
    return get_serializer(serializer).loads(data)

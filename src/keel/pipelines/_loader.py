"""Finding a pipeline from text: ``module:attribute`` or ``path/to/file.py:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from keel.errors import InvalidArgumentError, NotFoundError, near_matches
from keel.pipelines._pipeline import Pipeline

__all__ = ["load_pipeline"]


def _import_file(path: Path) -> object:
    name = path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidArgumentError(f"{str(path)!r} is not a Python file Keel can import.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so workers can pickle its functions by reference
    spec.loader.exec_module(module)
    return module


def load_pipeline(target: str, working_dir: str | None = None) -> Pipeline:
    """Import the pipeline named by ``target``.

    ``target`` is ``module:attribute`` (the current directory is importable, as with
    ``python -m``) or ``file.py:attribute``; the attribute may be left out when the module
    defines exactly one pipeline.

    Raises:
        InvalidArgumentError: The target is malformed, or names something that is not a
            pipeline.
        NotFoundError: The module or attribute does not exist.
    """
    if not isinstance(target, str) or not target.strip():
        raise InvalidArgumentError(
            f"Name a pipeline as 'module:function' or 'file.py:function', got {target!r}."
        )
    base = Path(working_dir) if working_dir else Path.cwd()
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    module_text, _, attr = target.partition(":")
    try:
        if module_text.endswith(".py") or os.sep in module_text:
            path = (base / module_text).resolve()
            if not path.is_file():
                raise NotFoundError(
                    f"Pipeline file {module_text!r} does not exist (looked in {str(base)!r})."
                )
            module = _import_file(path)
        else:
            module = importlib.import_module(module_text)
    except ModuleNotFoundError as exc:
        raise NotFoundError(
            f"Cannot import module {module_text!r} for pipeline {target!r}: {exc}. Run from "
            "the folder that holds it, or give a file path: 'path/to/file.py:function'.",
            details={"target": target},
        ) from exc
    pipelines = {k: v for k, v in vars(module).items() if isinstance(v, Pipeline)}
    if not attr:
        if len(pipelines) == 1:
            return next(iter(pipelines.values()))
        raise InvalidArgumentError(
            f"Module {module_text!r} defines {len(pipelines)} pipelines "
            f"({', '.join(sorted(pipelines)) or 'none'}); name one: '{module_text}:NAME'."
        )
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise NotFoundError(
                f"Module {module_text!r} has no {attr!r}.{near_matches(attr, pipelines)} "
                f"Pipelines in it: {', '.join(sorted(pipelines)) or 'none'}.",
                details={"target": target},
            )
        obj = getattr(obj, part)
    if not isinstance(obj, Pipeline):
        raise InvalidArgumentError(
            f"{target!r} is a {type(obj).__name__}, not a pipeline. Decorate the function "
            "with @keel.pipeline."
        )
    return obj

"""The code hash of a step: its source and the source of the user code it calls.

A step's hash covers its own function and, transitively, the functions, classes and Keel steps
of *user code* that it refers to by global name, through module attributes (``helpers.clean``)
or closures. User code is everything outside the standard library, installed packages and Keel
itself: library upgrades are not code changes of yours.

Source is compared as parsed code (``ast.unparse`` without decorators and docstrings), so
editing a comment, a docstring, the formatting or the decorator's options (``retries=3``) keeps
the cache; changing what the code does does not. Code without source (defined in a REPL)
is hashed by its bytecode and constants.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import sys
import sysconfig
import textwrap
import types
import weakref
from pathlib import Path
from typing import Any

__all__ = ["code_hash", "is_user_code"]

_MAX_OBJECTS = 500  # bound the walk through a large code base
_hashes: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


@functools.cache
def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(str(Path(path).resolve()))
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix):
        roots.add(str((Path(prefix) / "lib").resolve()))
    # keel's own package folder (two levels up from keel/pipelines/), without importing the
    # facade: `import keel` would count as importing every layer it lazily re-exports.
    roots.add(str(Path(__file__).resolve().parent.parent))
    return tuple(sorted(roots))


@functools.lru_cache(maxsize=4096)
def _is_user_file(file: str | None) -> bool:
    if not file:
        return True  # defined interactively: certainly the user's
    path = str(Path(file).resolve())
    if "site-packages" in path or "dist-packages" in path:
        return False
    return not any(path == root or path.startswith(root + "/") for root in _library_roots())


def is_user_code(obj: Any) -> bool:
    """Whether ``obj`` (a function, class or module) is defined in the user's own code."""
    if inspect.ismodule(obj):
        name = obj.__name__
        file = getattr(obj, "__file__", None)
    else:
        name = getattr(obj, "__module__", None) or ""
        module = sys.modules.get(name)
        if module is None:
            return False
        file = getattr(module, "__file__", None)
    if name == "keel" or name.startswith("keel.") or name in sys.builtin_module_names:
        return False
    return _is_user_file(file)


def _strip(node: ast.AST) -> ast.AST:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        node.decorator_list = []
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return node


def _code_text(code: types.CodeType) -> str:
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def _source_text(obj: Any) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(obj))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        code = getattr(obj, "__code__", None)
        if isinstance(code, types.CodeType):
            return _code_text(code)
        return repr(obj)
    if len(tree.body) == 1:
        return ast.unparse(_strip(tree.body[0]))
    return ast.unparse(tree)  # a lambda inside a longer statement: hash the statement


def _names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_names(const))
    return names


class _Walker:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.parts: list[str] = []

    def visit(self, obj: Any) -> None:
        if id(obj) in self.seen or len(self.seen) >= _MAX_OBJECTS:
            return
        self.seen.add(id(obj))
        # The qualified name without the module: a script run as __main__ and imported as a
        # module is the same code.
        label = getattr(obj, "__qualname__", "?")
        self.parts.append(f"{label}\n{_source_text(obj)}")
        if inspect.isclass(obj):
            for member in vars(obj).values():
                func = (
                    member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                )
                if inspect.isfunction(func):
                    self._references(func)
        elif inspect.isfunction(obj):
            self._references(obj)

    def _references(self, func: types.FunctionType) -> None:
        names = _names(func.__code__)
        glb = func.__globals__
        for name in dict.fromkeys(names):
            if name in glb:
                self.consider(glb[name], names)
        for cell in func.__closure__ or ():
            try:
                self.consider(cell.cell_contents, names)
            except ValueError:  # an empty cell
                continue

    def consider(self, obj: Any, names: list[str]) -> None:
        inner = getattr(obj, "__keel_step_function__", None)
        if inner is not None:  # a Keel step: hash the function it wraps
            self.visit(inner)
            return
        if inspect.ismodule(obj):
            if is_user_code(obj) and id(obj) not in self.seen:
                self.seen.add(id(obj))
                for name in dict.fromkeys(names):
                    attr = getattr(obj, name, None)
                    if attr is not None and not inspect.ismodule(attr):
                        self.consider(attr, [])
            return
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and is_user_code(obj):
            self.visit(obj)


def code_hash(func: Any) -> str:
    """Return the sha256 of ``func``'s normalized source and of the user code it calls.

    Computed once per function object per process.
    """
    try:
        return _hashes[func]
    except (KeyError, TypeError):
        pass
    walker = _Walker()
    walker.visit(func)
    digest = hashlib.sha256("\n\n".join(walker.parts).encode()).hexdigest()
    with contextlib.suppress(TypeError):  # not weak-referenceable: compute again next time
        _hashes[func] = digest
    return digest

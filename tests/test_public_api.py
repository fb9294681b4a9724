"""The public API: every name a package exports exists and is documented (as httpx checks).

``keel/__init__.py`` is a lazy facade, so it gets its own checks: names resolve on first use,
and ``import keel`` loads none of them.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import keel

#: Modules that run code on import for a host program, not for users.
NOT_IMPORTABLE = ("keel.store.migrations",)


def _all_modules() -> list[str]:
    names = ["keel"]
    for info in pkgutil.walk_packages(keel.__path__, prefix="keel."):
        if not info.name.startswith(NOT_IMPORTABLE):
            names.append(info.name)
    return sorted(names)


MODULES = _all_modules()


def _import(name: str) -> ModuleType:
    return importlib.import_module(name)


def _exporting_modules() -> list[str]:
    return [m for m in MODULES if m != "keel" and "__all__" in vars(_import(m))]


def _own_docstring(obj: Any) -> str | None:
    """The docstring written on ``obj`` itself (not inherited, not a dataclass's signature)."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not doc or not doc.strip():
        return None
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return None  # @dataclass fills in "Name(field: type, ...)" when there is no docstring
    return str(doc)


def _is_ours(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "") or "").startswith("keel")


def test_every_module_imports() -> None:
    # A module that fails to import hides its names from every other check here.
    assert len(MODULES) > 10
    for name in MODULES:
        _import(name)


@pytest.mark.parametrize("module_name", _exporting_modules())
def test_every_name_in_all_exists(module_name: str) -> None:
    module = _import(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{module_name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{module_name}.__all__ names {missing}, which do not exist"


@pytest.mark.parametrize("module_name", _exporting_modules())
def test_every_exported_function_and_class_is_documented(module_name: str) -> None:
    module = _import(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"
    undocumented = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not _is_ours(obj):
            continue
        if obj.__name__ != name:
            continue  # a variable holding a function (a hook): the module documents it
        if _own_docstring(obj) is None:
            undocumented.append(name)
        if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = member.fget if isinstance(member, property) else member
                func = getattr(func, "__func__", func)  # classmethod / staticmethod
                if inspect.isfunction(func) and _own_docstring(func) is None:
                    undocumented.append(f"{name}.{attr}")
    assert not undocumented, f"{module_name} exports undocumented names: {undocumented}"


def test_private_modules_are_not_exported_by_name() -> None:
    for module_name in _exporting_modules():
        private = [n for n in _import(module_name).__all__ if n.startswith("_")]
        assert not private, f"{module_name}.__all__ exports private names {private}"


# -- the lazy facade ------------------------------------------------------------------------------


def _run(code: str) -> Any:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_keel_all_names_resolve_lazily() -> None:
    result = _run(
        "import json, sys, keel\n"
        "before = sorted(m for m in sys.modules if m.startswith('keel.'))\n"
        "missing = [n for n in keel.__all__ if getattr(keel, n, None) is None]\n"
        "after = sorted(m for m in sys.modules if m.startswith('keel.'))\n"
        "print(json.dumps({'before': before, 'missing': missing, 'after': after}))\n"
    )
    assert result["before"] == ["keel._version"]
    assert result["missing"] == []
    assert "keel.tracking" in result["after"]


def test_keel_names_are_the_objects_of_their_modules() -> None:
    lazy: dict[str, str] = keel._LAZY
    for name, module in lazy.items():
        assert name in keel.__all__, f"keel._LAZY has {name!r}, missing from keel.__all__"
        assert getattr(keel, name) is getattr(_import(module), name)
    assert keel.__version__ == _import("keel._version").__version__


def test_star_import_and_dir_of_keel() -> None:
    result = _run(
        "import json\n"
        "ns = {}\n"
        "exec('from keel import *', ns)\n"
        "import keel\n"
        "print(json.dumps({'star': sorted(k for k in ns if not k.startswith('__') or "
        "k == '__version__'), 'dir': dir(keel)}))\n"
    )
    assert sorted(result["star"]) == sorted(keel.__all__)
    assert set(keel.__all__) <= set(result["dir"])


def test_unknown_attribute_of_keel() -> None:
    with pytest.raises(AttributeError, match="module 'keel' has no attribute 'strat_run'"):
        keel.strat_run  # noqa: B018


def test_type_checkers_see_every_lazy_name() -> None:
    """Each lazy name is imported under ``if TYPE_CHECKING`` so mypy and IDEs know its type."""
    tree = ast.parse(Path(keel.__file__).read_text(encoding="utf-8"))
    typed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    typed.update(a.asname or a.name for a in stmt.names)
    untyped = sorted(set(keel.__all__) - typed - {"__version__"})
    assert not untyped, f"add these to the TYPE_CHECKING block of keel/__init__.py: {untyped}"

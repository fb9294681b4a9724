"""The layering rule of DESIGN.md, checked over the import graph of ``src/keel``.

Every ``keel.*`` import counts: at module top, inside functions (lazy imports), under
``TYPE_CHECKING``, relative ones, ``from keel import <submodule>``, and
``importlib.import_module("keel....")`` with a literal name. A lower layer importing a higher
one fails the test with every offending line listed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import keel

SRC = Path(keel.__file__).parent

#: DESIGN.md's layers: a package may import its own layer and the ones below it.
LAYERS: dict[str, int] = {
    "config": 0,
    "errors": 0,
    "_utils": 0,
    "_version": 0,
    "store": 1,
    "artifacts": 1,
    "tracking": 2,
    "data": 2,
    "datasets": 2,  # keel.datasets: the data package's public entry point
    "registry": 2,
    "governance": 2,
    "pipelines": 3,
    "features": 3,
    "monitoring": 3,
    "llm": 3,
    "prompts": 3,  # keel.prompts: the llm package's prompt registry
    "scorers": 3,  # keel.scorers: the llm package's scorers
    "interop": 3,
    "serving": 4,
    "automation": 4,
    "cli": 5,
    "server": 5,
    "client": 5,
    "quickstart": 5,
    "ui": 5,
}

#: Modules exempt from the check: the lazy public facade re-exports every layer.
EXEMPT = {"keel"}

HEAVY = ["sqlalchemy", "alembic", "pandas", "pyarrow", "numpy", "typer", "rich", "fsspec"]


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    importer: str
    imported: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.importer} (layer {LAYERS[self.importer]}) imports "
            f"{self.imported} (layer {LAYERS[self.imported]})"
        )


def module_name(root: Path, path: Path) -> str:
    """``root/keel/store/_sql.py`` -> ``keel.store._sql``; packages end in their name."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_package(module: str) -> str | None:
    """``keel.store._sql`` -> ``store``; ``keel`` itself -> ``None``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every ``keel...`` module (or attribute of one) the code imports, with its line."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # ``from keel import store`` imports keel.store; ``from keel.x import y`` may too.
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names if a.name != "*"]
            if target != "keel":
                found.append((node.lineno, target))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
                elif isinstance(arg, ast.JoinedStr) and arg.values:
                    head = arg.values[0]
                    if isinstance(head, ast.Constant) and isinstance(head.value, str):
                        found.append((node.lineno, head.value.rstrip(".")))
    return [(line, name) for line, name in found if name == "keel" or name.startswith("keel.")]


def facade_target(name: str) -> str | None:
    """What ``keel.<name>`` resolves to through the lazy facade, as a top-level package."""
    lazy: dict[str, str] = getattr(keel, "_LAZY", {})
    paths: dict[str, str] = getattr(keel, "_SUBMODULE_PATHS", {})
    if name in lazy:
        return top_package(lazy[name])
    if name in paths:
        return top_package(paths[name])
    return None


def facade_layer() -> int:
    """The layer of ``import keel``: the highest layer the lazy facade can load."""
    lazy: dict[str, str] = getattr(keel, "_LAZY", {})
    paths: dict[str, str] = getattr(keel, "_SUBMODULE_PATHS", {})
    submodules: tuple[str, ...] = getattr(keel, "_SUBMODULES", ())
    targets = [top_package(m) for m in (*lazy.values(), *paths.values())] + list(submodules)
    return max(LAYERS[t] for t in targets if t is not None)


def check_tree(root: Path) -> tuple[list[Violation], list[str]]:
    """Return (violations, problems) for the package at ``root`` (a folder named ``keel``)."""
    violations: list[Violation] = []
    problems: list[str] = []
    for entry in sorted(root.iterdir()):
        name = entry.stem if entry.suffix == ".py" else entry.name
        is_module = entry.suffix == ".py" and name != "__init__"
        is_package = entry.is_dir() and (entry / "__init__.py").exists()
        if (is_module or is_package) and name not in LAYERS:
            problems.append(
                f"keel.{name} is not in the layer map. Add it to LAYERS in tests/test_layers.py "
                "and to the layers of DESIGN.md."
            )
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        if module in EXEMPT:
            continue
        importer = top_package(module)
        if importer not in LAYERS:
            continue  # reported above
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        seen: set[tuple[int, str]] = set()
        for line, target in imported_modules(tree, module, path.name == "__init__.py"):
            parts = target.split(".")
            if (line, parts[1] if len(parts) > 1 else "") in seen:
                continue  # ``from keel.x import y`` names both keel.x and keel.x.y
            seen.add((line, parts[1] if len(parts) > 1 else ""))
            if len(parts) == 1:
                imported: str | None = "keel"
            elif parts[1] in LAYERS:
                imported = parts[1]
            else:
                imported = facade_target(parts[1])
                if imported is None:
                    problems.append(
                        f"{path}:{line}: imports {target!r}, whose package keel.{parts[1]} is "
                        "not in the layer map. Add it to LAYERS in tests/test_layers.py and to "
                        "the layers of DESIGN.md."
                    )
                    continue
            rel = str(path.relative_to(root.parent))
            if imported == "keel":
                if facade_layer() > LAYERS[importer]:
                    problems.append(
                        f"{rel}:{line}: {importer} (layer {LAYERS[importer]}) uses 'import keel', "
                        f"whose lazy names reach layer {facade_layer()}; import the submodule "
                        "you need instead."
                    )
                continue
            if LAYERS[imported] > LAYERS[importer]:
                violations.append(Violation(rel, line, importer, imported))
    return violations, problems


def test_no_lower_layer_imports_a_higher_one() -> None:
    violations, problems = check_tree(SRC)
    assert not problems, "\n".join(problems)
    assert not violations, "Layering violations (DESIGN.md, 'Layers'):\n" + "\n".join(
        map(str, violations)
    )


# -- the checker itself, on small made-up trees --------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "keel"
    for rel, code in {"__init__.py": "", **files}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(code))
    return root


def test_checker_finds_every_kind_of_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "store/__init__.py": "from keel.store import _sql\n",
            "store/_sql.py": """
                from __future__ import annotations
                import keel.tracking
                from keel import cli
                from keel.serving import app
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from keel.pipelines import Step
                from .. import features
                from ..monitoring._drift import psi
                import importlib

                def lazy():
                    from keel.automation import policy
                    importlib.import_module("keel.server")
                    importlib.import_module(f"keel.quickstart.{lazy}")
                """,
            "store/_ok.py": """
                from keel.errors import KeelError
                from keel import config, _utils
                from . import _sql
                from keel.artifacts import open_artifact_store
                """,
            "tracking/__init__.py": "from keel.store import SqlMetadataStore\n",
            "errors.py": "",
            "config.py": "from keel.errors import KeelError\n",
        },
    )
    violations, problems = check_tree(root)
    assert problems == []
    found = sorted((v.file, v.line, v.imported) for v in violations)
    sql = "keel/store/_sql.py"
    assert found == [
        (sql, 3, "tracking"),
        (sql, 4, "cli"),
        (sql, 5, "serving"),
        (sql, 8, "pipelines"),
        (sql, 9, "features"),
        (sql, 10, "monitoring"),
        (sql, 14, "automation"),
        (sql, 15, "server"),
        (sql, 16, "quickstart"),
    ]
    assert str(violations[0]).endswith("store (layer 1) imports tracking (layer 2)")


def test_checker_resolves_names_imported_through_the_facade(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"store/__init__.py": "from keel import start_run\n"})
    violations, _ = check_tree(root)
    assert [(v.importer, v.imported) for v in violations] == [("store", "tracking")]


def test_checker_rejects_packages_missing_from_the_layer_map(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "billing/__init__.py": "",
            "store/__init__.py": "from keel.payments import charge\n",
        },
    )
    _, problems = check_tree(root)
    assert len(problems) == 2
    assert problems[0] == (
        "keel.billing is not in the layer map. Add it to LAYERS in tests/test_layers.py and to "
        "the layers of DESIGN.md."
    )
    assert "keel.payments is not in the layer map" in problems[1]


def test_checker_rejects_import_keel_below_the_facade_layer(tmp_path: Path) -> None:
    root = _tree(
        tmp_path, {"store/__init__.py": "import keel\n", "cli/__init__.py": "import keel\n"}
    )
    _, problems = check_tree(root)
    assert len(problems) == 1
    assert problems[0].startswith("keel/store/__init__.py:1: store (layer 1) uses 'import keel'")


# -- import keel stays light ---------------------------------------------------------------------


def test_import_keel_loads_no_heavy_library() -> None:
    code = (
        "import sys, json, keel\n"
        "keel.__version__\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('keel'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "[]", f"'import keel' imported heavy libraries: {out[0]}"
    assert out[1] == '["keel", "keel._version"]', f"'import keel' imported {out[1]}"

"""The generic Python-function flavor: any object with a ``predict`` method, code included.

The object is pickled with cloudpickle, and the module that defines its class is pickled *by
value* when it is the user's own code (a script, a notebook, a module outside site-packages),
so the model loads where that code is not installed. The module's source is also saved as
``code/<module>.py`` (plus any ``code_paths`` given) so a reviewer can read what will run.
Unpickling runs code, so only bytes verified against their digests are unpickled.
"""

from __future__ import annotations

import inspect
import pickle
import shutil
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from keel.errors import InvalidArgumentError, NotFoundError
from keel.registry._flavor import Flavor, SavedFiles

__all__ = ["PyFuncFlavor"]


def _is_user_module(module: ModuleType) -> bool:
    if module.__name__ == "__main__":
        return True
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = str(Path(file).resolve())
    installed = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    return not any(path.startswith(str(Path(p).resolve())) for p in installed if p)


class PyFuncFlavor(Flavor):
    """Any Python object with a ``predict(data)`` method."""

    name = "pyfunc"
    libraries: ClassVar[dict[str, str]] = {"cloudpickle": "cloudpickle", "numpy": "numpy"}
    serializations = ("cloudpickle",)
    extra = "sklearn"

    def matches(self, model: Any) -> bool:
        """Whether the object has a callable ``predict``."""
        return callable(getattr(model, "predict", None))

    def save(
        self, model: Any, folder: Path, serialization: str, options: dict[str, Any]
    ) -> SavedFiles:
        """Write ``model.pkl`` and the source of the model's module under ``code/``."""
        import cloudpickle

        if not self.matches(model):
            raise InvalidArgumentError(
                f"A python-function model needs a predict(data) method; {type(model).__name__!r} "
                "has none."
            )
        files = ["model.pkl"]
        module = sys.modules.get(type(model).__module__)
        by_value = module if module is not None and module.__name__ != "__main__" else None
        if by_value is not None and not _is_user_module(by_value):
            by_value = None
        if by_value is not None:
            cloudpickle.register_pickle_by_value(by_value)
        try:
            data = cloudpickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            if by_value is not None:
                cloudpickle.unregister_pickle_by_value(by_value)
        (folder / "model.pkl").write_bytes(data)
        code = folder / "code"
        if module is not None and _is_user_module(module):
            try:
                source = inspect.getsource(module)
            except (OSError, TypeError):  # an interactive session has no source file
                source = None
            if source is None:
                try:
                    source = inspect.getsource(type(model))
                except (OSError, TypeError):
                    source = None
            if source is not None:
                code.mkdir(exist_ok=True)
                name = "main" if module.__name__ == "__main__" else module.__name__
                (code / f"{name}.py").write_text(source, encoding="utf-8")
                files.append(f"code/{name}.py")
        for extra in options.get("code_paths") or ():
            src = Path(extra)
            if not src.exists():
                raise NotFoundError(f"code_paths names {str(extra)!r}, which does not exist.")
            code.mkdir(exist_ok=True)
            if src.is_dir():
                for f in sorted(p for p in src.rglob("*") if p.is_file()):
                    rel = Path(src.name) / f.relative_to(src)
                    (code / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, code / rel)
                    files.append(f"code/{rel.as_posix()}")
            else:
                shutil.copyfile(src, code / src.name)
                files.append(f"code/{src.name}")
        methods = [m for m in ("predict", "predict_proba") if callable(getattr(model, m, None))]
        return SavedFiles(
            files=sorted(set(files)),
            serialization=serialization,
            model_input="frame" if options.get("example_is_frame") else "array",
            methods=methods,
            options={
                "pickled_by_value": by_value or module is None or module.__name__ == "__main__"
            },
        )

    def load(self, files: dict[str, bytes], manifest: Any, options: dict[str, Any]) -> Any:
        """Unpickle the verified bytes."""
        return pickle.loads(files["model.pkl"])  # noqa: S301  (bytes verified against digest)

"""The PyTorch flavor (CPU): ``torch.nn.Module`` as an exported program or a state dict.

Formats:

* ``export`` (default when an ``input_example`` is given): ``torch.export`` captures the
  module's graph and weights into one ``.pt2`` file that loads without the model's Python
  code, with a dynamic batch dimension. (TorchScript is deprecated in current PyTorch.)
* ``state_dict``: only the weights, loaded with ``torch.load(weights_only=True)``, which
  refuses anything but tensors and plain containers. The module's class is imported by name
  from installed code (it must be a ``torch.nn.Module`` subclass) and built with the
  ``init_kwargs`` given at logging time, so no code comes from the artifact at all.

Both run on the CPU; their bytes are verified against their digests before loading.
"""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from typing import Any, ClassVar

from keel.errors import IntegrityError, InvalidArgumentError
from keel.registry._flavor import Flavor, SavedFiles, mro_modules, qualname

__all__ = ["PyTorchFlavor"]


def _example_tensor(example: Any, module: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(example, torch.Tensor):
        return example.detach().cpu()
    from keel.registry._signature import as_array, to_frame_or_array

    arr = as_array(to_frame_or_array(example))
    if arr.dtype.kind == "f":
        param = next((p for p in module.parameters() if p.is_floating_point()), None)
        arr = arr.astype(np.float32 if param is None else _np_dtype(param.dtype))
    return torch.from_numpy(np.ascontiguousarray(arr))


def _np_dtype(dtype: Any) -> Any:
    import torch

    return torch.empty(0, dtype=dtype).numpy().dtype


class PyTorchFlavor(Flavor):
    """``torch.nn.Module`` on the CPU."""

    name = "pytorch"
    libraries: ClassVar[dict[str, str]] = {"torch": "torch", "numpy": "numpy"}
    serializations = ("export", "state_dict")
    extra = "torch"

    def matches(self, model: Any) -> bool:
        """Whether the model is a ``torch.nn.Module``."""
        return "torch.nn.modules.module" in mro_modules(model)

    def save(
        self, model: Any, folder: Path, serialization: str, options: dict[str, Any]
    ) -> SavedFiles:
        """Write ``model.pt2`` (exported program) or ``state_dict.pt`` (weights only)."""
        import torch

        model = model.eval()
        extra: dict[str, Any] = {"module_class": qualname(model)}
        if serialization == "export":
            example = options.get("input_example")
            if example is None:
                raise InvalidArgumentError(
                    "Saving a PyTorch module in the 'export' format needs an input_example to "
                    "trace it with. Pass input_example=..., or serialization='state_dict' with "
                    "init_kwargs=... to save only the weights."
                )
            x = _example_tensor(example, model)
            if x.shape[0] < 2:  # size-1 dims are specialized; trace with a batch of two
                x = torch.cat([x, x])
            batch = torch.export.Dim("batch")
            with torch.no_grad():
                program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
            torch.export.save(program, str(folder / "model.pt2"))
            extra["input_dtype"] = str(x.dtype).removeprefix("torch.")
            files = ["model.pt2"]
        else:
            init_kwargs = options.get("init_kwargs") or {}
            try:
                json.dumps(init_kwargs)
            except TypeError as exc:
                raise InvalidArgumentError(
                    f"init_kwargs must be JSON values (numbers, strings, lists, dicts), got "
                    f"{init_kwargs!r}."
                ) from exc
            cls = type(model)
            if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
                raise InvalidArgumentError(
                    f"The 'state_dict' format rebuilds {cls.__qualname__!r} by importing it, "
                    "but it is defined in a script or a function. Move it into an importable "
                    "module, or use serialization='export'."
                )
            torch.save(model.state_dict(), str(folder / "state_dict.pt"))
            extra.update(init_kwargs=init_kwargs)
            param = next((p for p in model.parameters() if p.is_floating_point()), None)
            extra["input_dtype"] = "float32" if param is None else str(param.dtype)[6:]
            files = ["state_dict.pt"]
        return SavedFiles(
            files=files,
            serialization=serialization,
            model_input="array",
            methods=["predict"],
            options=extra,
        )

    def load(self, files: dict[str, bytes], manifest: Any, options: dict[str, Any]) -> Any:
        """Load the exported program, or rebuild the module and load its weights safely."""
        import torch

        if manifest.serialization == "export":
            return torch.export.load(io.BytesIO(files["model.pt2"])).module()
        module_name, _, cls_name = manifest.options["module_class"].rpartition(".")
        try:
            cls = importlib.import_module(module_name)
            for part in cls_name.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError) as exc:
            raise InvalidArgumentError(
                f"Cannot import the module class {manifest.options['module_class']!r} this "
                "state dict belongs to. Install the code that defines it, or log the model "
                "again with serialization='export'."
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise IntegrityError(
                f"The manifest names {manifest.options['module_class']!r} as the module class, "
                "which is not a torch.nn.Module subclass; Keel refuses to call it."
            )
        module = cls(**manifest.options.get("init_kwargs", {}))
        state = torch.load(io.BytesIO(files["state_dict.pt"]), weights_only=True)
        module.load_state_dict(state)
        return module.eval()

    def predict(self, model: Any, data: Any, manifest: Any) -> Any:
        """Run the module on the input as a tensor, without gradients; return NumPy."""
        import numpy as np
        import torch

        from keel.registry._signature import as_array

        arr = np.ascontiguousarray(as_array(data))
        dtype = manifest.options.get("input_dtype")
        if dtype and arr.dtype.kind == "f":
            arr = arr.astype(dtype)
        with torch.no_grad():
            out = model(torch.from_numpy(arr))
        if isinstance(out, (tuple, list)):
            return [o.detach().cpu().numpy() for o in out]
        return out.detach().cpu().numpy()

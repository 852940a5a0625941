"""The PyTorch front ends' loader: a saved ``torch.export`` program (``.pt2``) or a
``module:function`` / ``path/file.py:function`` returning an ``nn.Module``."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import TensorSpec
from edgesdk.errors import ModelError
from edgesdk.inputs.models import FloatModel

log = logging.getLogger(__name__)

TORCH_INSTALL = (
    "pip install 'edgesdk[torch]' --extra-index-url https://download.pytorch.org/whl/cpu"
)


def import_torch() -> Any:
    """``torch``, or one line saying how to install it.

    Raises:
        ModelError: torch or litert-torch is not installed.
    """
    try:
        import torch

        importlib.import_module("litert_torch")
    except ImportError as e:
        raise ModelError(
            f"PyTorch models need torch and litert-torch ({e.name or 'torch'} is not "
            f"installed): {TORCH_INSTALL}",
            what="model",
        ) from e
    return torch


def _import_function(spec: str) -> Any:
    from edgesdk.inputs.user_code import import_function

    return import_function(spec, ModelError, "model")


def _from_function(torch: Any, spec: str) -> Any:
    func = _import_function(spec)
    try:
        module = func()
    except Exception as e:  # noqa: BLE001 - user code may raise anything
        raise ModelError(f"{spec} failed: {type(e).__name__}: {e}") from e
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"{spec} returned a {type(module).__name__}; expected a torch.nn.Module")
    return module.eval()


def _from_program(torch: Any, path: Path) -> tuple[Any, tuple[int, ...]]:
    try:
        program = torch.export.load(str(path))
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(
            f"Not a PyTorch program: cannot load {path} ({type(e).__name__}: {first}; expected "
            "a file saved with torch.export.save)"
        ) from e
    user_inputs = list(program.graph_signature.user_inputs)
    shapes = [
        tuple(int(d) for d in node.meta["val"].shape)
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in user_inputs
    ]
    if len(shapes) != 1:
        raise ModelError(f"{path} has {len(shapes)} inputs; PyTorch models need exactly one")
    return program.module(), shapes[0]


def load_torch(source: str, input_shape: tuple[int, ...] | None = None) -> FloatModel:
    """The PyTorch front ends' loader. ``input_shape`` (batch first) is needed for a function
    model; a ``.pt2`` program records its own.

    Raises:
        ModelError: torch missing, not a program, not an ``nn.Module``, no input shape, or the
            model refuses an input of that shape.
    """
    torch = import_torch()
    path = Path(source)
    if path.suffix.lower() == ".pt2" and path.is_file():
        module, shape = _from_program(torch, path)
        kind = "torch_program"
    else:
        module = _from_function(torch, source)
        if input_shape is None:
            raise ModelError(
                f"{source} gives no input shape: pass `input_shape` (one sample, e.g. 1,28,28) "
                "or .npy/.npz data",
                what="input_shape",
            )
        shape = (1, *input_shape[1:])
        kind = "torch_function"
    try:
        with torch.no_grad():
            out = module(torch.zeros(shape))
    except Exception as e:  # noqa: BLE001 - the model's own error for a wrong shape
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(
            f"{source} refuses an input of shape {shape} ({type(e).__name__}: {first}); "
            "PyTorch image models take NCHW data (N, C, H, W)"
        ) from e
    outs = out if isinstance(out, (list, tuple)) else [out]
    inputs = [TensorSpec(name="x", shape=(None, *shape[1:]))]
    outputs = [
        TensorSpec(name=f"output_{i}", shape=(None, *o.shape[1:])) for i, o in enumerate(outs)
    ]

    step = 1 if kind == "torch_program" else None  # a saved program keeps its batch size (1)

    def predict(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = np.ascontiguousarray(batch["x"], dtype=np.float32)
        parts = [x] if step is None else [x[i : i + step] for i in range(len(x))]
        results = []
        with torch.no_grad():
            for part in parts:
                r = module(torch.from_numpy(part))
                results.append([t.numpy() for t in (r if isinstance(r, (list, tuple)) else [r])])
        return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]

    def no_converter() -> Any:
        raise ModelError(f"{source} is a PyTorch model: it has no TensorFlow converter")

    return FloatModel(
        path=path,
        kind=kind,
        inputs=inputs,
        outputs=outputs,
        predict_fn=predict,
        converter_fn=no_converter,
        loader=kind,
        framework="torch",
        torch_module=module,
        layout="NCHW" if len(shape) == 4 else None,
    )

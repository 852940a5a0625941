"""Model front ends, defined once: how a model source is recognised, loaded and converted.

A front end is a row of ``FRONTENDS``: Keras 3 ``.keras``, legacy ``.h5``, a SavedModel folder,
a saved ``torch.export`` program (``.pt2``) and a PyTorch ``module:function`` (or
``path/file.py:function``) returning an ``nn.Module``. Recognising a source is cheap (no
TensorFlow or torch import); the loader and converters are ``"module:function"`` names imported
only where they run (the worker), as in the worker's task table. A new front end is a new row.
"""

from __future__ import annotations

import importlib
import re
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgesdk.errors import ModelError

if TYPE_CHECKING:
    from edgesdk.core.options import QuantizeOptions
    from edgesdk.inputs.models import FloatModel
    from edgesdk.inputs.samples import Samples

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_EXPECTED = "expected a Keras .keras file, a legacy .h5 file or a SavedModel directory"
_FUNCTION = re.compile(r"(?P<module>.+):(?P<function>[A-Za-z_]\w*)")


class ModelKind(str, Enum):
    """What a model source is (the value is the ``kind`` recorded in results)."""

    KERAS = "keras"
    H5 = "h5"
    SAVED_MODEL = "saved_model"
    TORCH_PROGRAM = "torch_program"
    TORCH_FUNCTION = "torch_function"


class Loader(Protocol):
    """Loads a model source: ``(source, input_shape) -> FloatModel``."""

    def __call__(self, source: str, input_shape: tuple[int, ...] | None) -> FloatModel: ...


class Converter(Protocol):
    """Converts a loaded model to .tflite bytes: float (``opts`` None) or as ``opts`` say."""

    def __call__(
        self, model: FloatModel, opts: QuantizeOptions | None, calibration: Samples | None
    ) -> bytes: ...


@dataclass(frozen=True)
class FrontEnd:
    """One row of the table."""

    kind: ModelKind
    framework: str  # "tensorflow" or "torch": which float model the proofs compare against
    loader: str  # "module:function", a Loader
    converter: str  # "module:function", a Converter

    def load(self, source: str, input_shape: tuple[int, ...] | None = None) -> FloatModel:
        return _resolve(self.loader)(source, input_shape)

    def convert(
        self, model: FloatModel, opts: QuantizeOptions | None, calibration: Samples | None
    ) -> bytes:
        return _resolve(self.converter)(model, opts, calibration)


_TF_CONVERT = "edgesdk.quantization.convert:convert_tensorflow"
_TORCH_LOAD = "edgesdk.inputs.torch_models:load_torch"
_TORCH_CONVERT = "edgesdk.quantization.torch_convert:convert_torch"

FRONTENDS: dict[ModelKind, FrontEnd] = {
    ModelKind.KERAS: FrontEnd(
        ModelKind.KERAS, "tensorflow", "edgesdk.inputs.models:load_keras_file", _TF_CONVERT
    ),
    ModelKind.H5: FrontEnd(
        ModelKind.H5, "tensorflow", "edgesdk.inputs.models:load_keras_file", _TF_CONVERT
    ),
    ModelKind.SAVED_MODEL: FrontEnd(
        ModelKind.SAVED_MODEL, "tensorflow", "edgesdk.inputs.models:load_saved_model", _TF_CONVERT
    ),
    ModelKind.TORCH_PROGRAM: FrontEnd(
        ModelKind.TORCH_PROGRAM, "torch", _TORCH_LOAD, _TORCH_CONVERT
    ),
    ModelKind.TORCH_FUNCTION: FrontEnd(
        ModelKind.TORCH_FUNCTION, "torch", _TORCH_LOAD, _TORCH_CONVERT
    ),
}


def _resolve(name: str) -> Any:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def is_function_spec(source: str | Path) -> bool:
    """``module:function`` or ``path/file.py:function`` (not an existing path)."""
    text = str(source)
    if Path(text).exists():
        return False
    match = _FUNCTION.fullmatch(text)
    return match is not None and not match.group("module").endswith(":")


def recognise(source: str | Path) -> ModelKind:
    """Which front end reads ``source`` (cheap: no TensorFlow or torch import).

    Raises:
        ModelError: missing, or no front end reads it (what each expects named).
    """
    if not isinstance(source, Path) and is_function_spec(source):
        module = _FUNCTION.fullmatch(str(source)).group("module")  # type: ignore[union-attr]
        if module.endswith(".py") and not Path(module).is_file():
            raise ModelError(f"Model module not found: {module} (in {source})")
        return ModelKind.TORCH_FUNCTION
    p = Path(source)
    if not p.exists():
        raise ModelError(f"Model not found: {p} ({_EXPECTED})")
    if p.is_dir():
        if (p / "saved_model.pb").is_file():
            return ModelKind.SAVED_MODEL
        raise ModelError(f"Not a SavedModel directory (no saved_model.pb): {p} ({_EXPECTED})")
    suffix = p.suffix.lower()
    with p.open("rb") as f:
        head = f.read(8)
    if suffix == ".keras":
        if zipfile.is_zipfile(p):
            return ModelKind.KERAS
        raise ModelError(f"Not a Keras model: {p} is not a .keras archive ({_EXPECTED})")
    if suffix in (".h5", ".hdf5"):
        if head == _HDF5_MAGIC:
            return ModelKind.H5
        raise ModelError(f"Not a Keras model: {p} is not an HDF5 file ({_EXPECTED})")
    if suffix == ".pt2":
        if zipfile.is_zipfile(p):
            return ModelKind.TORCH_PROGRAM
        raise ModelError(
            f"Not a PyTorch program: {p} is not a .pt2 archive (expected a file saved with "
            "torch.export.save)"
        )
    if suffix == ".tflite":
        raise ModelError(f"{p} is already a .tflite model ({_EXPECTED})")
    if suffix in (".pt", ".pth"):
        raise ModelError(
            f"Unsupported model file {p} (a torch.save file holds weights, not a graph: save the "
            "program with torch.export.save as .pt2, or give module:function returning the "
            "nn.Module)"
        )
    raise ModelError(f"Unsupported model file {p} ({_EXPECTED})")


def frontend_for(source: str | Path) -> FrontEnd:
    """The row of the table that reads ``source`` (see :func:`recognise`)."""
    return FRONTENDS[recognise(source)]


def locate(source: str | Path) -> str:
    """``source`` as a worker process finds it: paths absolute, ``module:function`` as given
    (``file.py:function`` with its file made absolute)."""
    if not isinstance(source, Path) and is_function_spec(source):
        module, _, function = str(source).rpartition(":")
        if module.endswith(".py"):
            return f"{Path(module).absolute()}:{function}"
        return str(source)
    return str(Path(source).absolute())

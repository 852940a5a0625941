"""A benchmark's real inputs (a .npy/.npz file) checked against the model on this machine, before
anything is uploaded: the runner on the device takes the first sample of each array as it is,
so an array in another layout or another type must be refused here, in one line, not reshaped
or cast into numbers the model was never meant to see."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import BenchmarkError, DatasetError
from edgesdk.inputs.arrays import materialize, open_npy, open_npz, take_rows
from edgesdk.tflite.model_info import TensorInfo, inspect_file


def _arrays(path: Path) -> list[Any]:
    """The file's arrays, opened but not read (inputs/arrays: headers checked, data on disk)."""
    if not path.is_file():
        raise BenchmarkError(f"No such input file: {path} (expected a .npy or .npz)")
    try:
        return list(open_npz(path).values()) if zipfile.is_zipfile(path) else [open_npy(path)]
    except DatasetError as e:
        raise BenchmarkError(str(e)) from None


def _expected(t: TensorInfo, layout_hint: str) -> str:
    return f"the model's input {t.name!r} takes {t.dtype} {tuple(t.shape)}{layout_hint}"


def check_input_file(model: Path, input_file: str | Path) -> None:
    """Refuse an input file whose arrays do not fit ``model``'s inputs: too few arrays, another
    shape (a batch dimension may be left out; the first sample is used), or float values for an
    integer input (quantize them with the input's scale and zero point first).

    Raises:
        BenchmarkError: one line saying what was expected.
    """
    path = Path(input_file)
    arrays = _arrays(path)
    info = inspect_file(model)
    inputs, _ = info.io_tensors()
    if len(arrays) < len(inputs):
        raise BenchmarkError(
            f"The input file {path.name} has {len(arrays)} arrays; the model has "
            f"{len(inputs)} inputs (one array per input, in order)"
        )
    layout = info.layout
    for k, (t, a) in enumerate(zip(inputs, arrays, strict=False)):
        hint = f" ({layout.to_layout})" if layout is not None else ""
        shape = tuple(a.shape)
        if len(shape) == len(t.shape) - 1:
            shape = (1, *shape)
        if shape[1:] != tuple(t.shape[1:]) or shape[0] < 1:
            said = f"array {k} of {path.name} has shape {tuple(a.shape)}; {_expected(t, hint)}"
            if layout is not None and shape[1:] == tuple(layout.model_shape[1:]):
                raise BenchmarkError(
                    f"{said}: the data is in the source model's {layout.from_layout} layout; "
                    f"transpose it to {layout.to_layout} (np.moveaxis(x, 1, -1))"
                )
            raise BenchmarkError(f"{said} (the batch dimension may be left out)")
        if np.dtype(t.dtype).kind in "iu" and a.dtype.kind not in "iub":
            raise BenchmarkError(
                f"array {k} of {path.name} holds {a.dtype} values; {_expected(t, hint)}: "
                "quantize the data with the input's scale and zero point first"
            )
        if np.dtype(t.dtype).kind in "iu" and 0 not in shape:
            lo, hi = np.iinfo(np.dtype(t.dtype)).min, np.iinfo(np.dtype(t.dtype)).max
            # the one sample the runner uses: the first row, or the whole array without batch
            first = take_rows(a, np.zeros(1)) if len(a.shape) == len(shape) else materialize(a)
            if first.min() < lo or first.max() > hi:
                raise BenchmarkError(
                    f"array {k} of {path.name} has values in [{first.min()}, {first.max()}]; "
                    f"{_expected(t, hint)}, values in [{lo}, {hi}]"
                )

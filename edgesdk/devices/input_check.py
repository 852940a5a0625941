"""A benchmark's real inputs (a .npy/.npz file) checked against the model on this machine, before
anything is uploaded: the runner on the device takes the first sample of each array as it is,
so an array in another layout or another type must be refused here, in one line, not reshaped
or cast into numbers the model was never meant to see."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesdk.errors import BenchmarkError
from edgesdk.tflite.model_info import TensorInfo, inspect_file


def _arrays(path: Path) -> list[np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise BenchmarkError(f"No such input file: {path} (expected a .npy or .npz)") from None
    except (OSError, ValueError, EOFError) as e:
        raise BenchmarkError(f"Cannot read the input file {path} as .npy/.npz: {e}") from None
    if isinstance(data, np.ndarray):
        return [data]
    with data:
        return [np.asarray(data[k]) for k in data.files]


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
        if np.dtype(t.dtype).kind in "iu" and a.size:
            lo, hi = np.iinfo(np.dtype(t.dtype)).min, np.iinfo(np.dtype(t.dtype)).max
            first = a.reshape(shape)[:1]
            if first.min() < lo or first.max() > hi:
                raise BenchmarkError(
                    f"array {k} of {path.name} has values in [{first.min()}, {first.max()}]; "
                    f"{_expected(t, hint)}, values in [{lo}, {hi}]"
                )

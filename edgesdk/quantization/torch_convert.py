"""The PyTorch front ends' converter (litert-torch): float, or int8 through PyTorch's PT2E flow
with NHWC inputs (``to_channel_last_io``), calibrated on the representative samples."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edgesdk.core.options import IoType, QuantizeOptions, QuantMode
from edgesdk.errors import ConfigError, ConversionError
from edgesdk.inputs.models import FloatModel
from edgesdk.inputs.samples import Samples
from edgesdk.quantization.torch_layout import fold_flatten_transposes

log = logging.getLogger(__name__)

PREPARE_ATTEMPTS = 5  # prepare_pt2e fails at random on MaxPool2d; each attempt re-exports


TORCH_MODES = {QuantMode.INT8: IoType.INT8, QuantMode.FLOAT32: IoType.FLOAT32}
"""What litert-torch makes: int8 through PT2E (int8 I/O), or the float model (float32 I/O)."""


def check_torch_options(opts: QuantizeOptions) -> None:
    """What litert-torch can make: int8 with int8 I/O (per-channel or per-tensor) through
    PT2E, or float32 (no quantizer) with float32 I/O.

    Raises:
        ConfigError: another mode or I/O type, naming the option.
    """
    if opts.mode not in TORCH_MODES:
        raise ConfigError(
            f"Invalid mode={opts.mode.value if opts.mode else None} for a PyTorch model "
            "(litert-torch makes int8 through PT2E or the float model: `mode=int8` or "
            "`mode=float32`)",
            what="mode",
            value=opts.mode.value if opts.mode else None,
            allowed=[m.value for m in TORCH_MODES],
        )
    io = TORCH_MODES[opts.mode]
    if opts.io is not io:
        raise ConfigError(
            f"Invalid io={opts.io.value if opts.io else None} for a PyTorch model in mode "
            f"{opts.mode.value} (litert-torch gives {io.value} inputs and outputs only: "
            f"`io={io.value}`)",
            what="io",
            value=opts.io.value if opts.io else None,
            allowed=[io.value],
        )


def _wrapped(model: FloatModel) -> tuple[Any, tuple[Any, ...]]:
    """The module with NHWC inputs (image models) and a zero sample in that layout."""
    import litert_torch
    import torch

    shape = (1, *model.inputs[0].shape[1:])
    if model.layout == "NCHW":
        n, c, h, w = shape
        return litert_torch.to_channel_last_io(model.torch_module, args=[0]), (
            torch.zeros((n, h, w, c)),
        )
    return model.torch_module, (torch.zeros(shape),)


def with_layout(model: FloatModel, data: bytes) -> bytes:
    """``data`` with the NCHW -> NHWC layout recorded in it (unchanged for other models)."""
    from edgesdk.tflite.layout_record import LayoutRecord, add_layout

    if model.layout != "NCHW":
        return data
    n, c, h, w = (1, *model.inputs[0].shape[1:])
    record = LayoutRecord("pytorch", "NCHW", "NHWC", (n, c, h, w), (n, h, w, c))
    return add_layout(data, record)


def _tflite_inputs(model: FloatModel, x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if model.layout == "NCHW" else x


def _prepare(module: Any, sample: tuple[Any, ...], quantizer: Any) -> Any:
    """Export and ``prepare_pt2e``, a fresh export per attempt (the MaxPool annotation flake)."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    for attempt in range(1, PREPARE_ATTEMPTS + 1):
        graph = torch.export.export(module, sample).module()
        try:
            return prepare_pt2e(graph, quantizer)
        except AssertionError as e:  # the shared-spec annotation of max-pool, at random
            log.info("prepare_pt2e attempt %d failed (%s); exporting again", attempt, e)
            last = e
    raise ConversionError(
        f"PT2E preparation failed {PREPARE_ATTEMPTS} times: {str(last).splitlines()[0][:200]}"
    ) from last


def pt2e_int8(model: FloatModel, opts: QuantizeOptions, calibration: Samples) -> bytes:
    """litert-torch's int8 model as it comes (the flatten TRANSPOSE still in)."""
    import litert_torch
    import torch
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    module, sample = _wrapped(model)
    config = get_symmetric_quantization_config(is_per_channel=bool(opts.per_channel))
    quantizer = PT2EQuantizer().set_global(config)
    prepared = _prepare(module, sample, quantizer)
    x = _tflite_inputs(model, next(iter(calibration.arrays.values())))
    with torch.no_grad():
        for i in range(len(x)):
            prepared(torch.from_numpy(np.ascontiguousarray(x[i : i + 1])))
    converted = convert_pt2e(prepared, fold_quantize=False)
    edge = litert_torch.convert(
        converted, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer)
    )
    return bytes(edge.model_content())


def convert_torch(
    model: FloatModel, opts: QuantizeOptions | None, calibration: Samples | None
) -> bytes:
    """Float .tflite bytes (``opts`` None or mode float32) or int8 ones calibrated on
    ``calibration``, the flatten TRANSPOSE folded into the weights.

    Raises:
        ConfigError: a mode or I/O type the PT2E route cannot make.
        ConversionError: litert-torch failed (its first line).
    """
    import litert_torch

    try:
        if opts is not None:
            check_torch_options(opts)
        if opts is None or opts.mode is QuantMode.FLOAT32:  # no quantizer: the float model
            module, sample = _wrapped(model)
            return with_layout(model, bytes(litert_torch.convert(module, sample).model_content()))
        if calibration is None:
            raise ConversionError("Mode int8 needs representative data")
        model_bytes, _ = fold_flatten_transposes(pt2e_int8(model, opts, calibration))
        return with_layout(model, model_bytes)
    except (ConfigError, ConversionError):
        raise
    except Exception as e:  # noqa: BLE001 - torch and litert-torch raise many types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        what = "float" if opts is None else opts.mode.value
        raise ConversionError(f"PyTorch conversion ({what}) failed: {first}") from e

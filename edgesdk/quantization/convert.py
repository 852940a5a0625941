"""Quantization: option resolution against a profile, converter set-up, post-conversion checks."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.manifest import array_digest
from edgesdk.core.options import ALLOWED_IO, IoType, QuantizeOptions, QuantMode, TargetKind
from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ConfigError, ConversionError
from edgesdk.inputs.samples import Samples, open_samples, read_split
from edgesdk.quantization.result import IoTensor, QuantizationResult, SizeInfo
from edgesdk.tflite.fidelity import OutputFidelity, compare
from edgesdk.tflite.layout_record import read_layout
from edgesdk.tflite.model_info import ModelInfo, inspect_bytes

log = logging.getLogger(__name__)


def resolve_options(options: QuantizeOptions, profile: TargetProfile) -> QuantizeOptions:
    """Fill the options' blanks from the profile and check the combination.

    Raises:
        ConfigError: a mode the target cannot run, an I/O type the mode cannot have, or
            strict mode asked for a float mode.
    """
    q = profile.quantization
    mode = options.mode or q.mode
    if mode not in q.allowed_modes:
        allowed = ", ".join(m.value for m in q.allowed_modes)
        raise ConfigError(
            f"Invalid mode={mode.value} for target {profile.name} (must be one of: {allowed})"
        )
    io = options.io
    if io is None:
        io = q.io if q.io in ALLOWED_IO[mode] else ALLOWED_IO[mode][0]
    if io not in ALLOWED_IO[mode]:
        allowed = ", ".join(i.value for i in ALLOWED_IO[mode])
        raise ConfigError(
            f"Invalid io={io.value} for mode {mode.value} (must be one of: {allowed})"
        )
    per_channel = q.per_channel if options.per_channel is None else options.per_channel
    strict = options.strict
    if strict is None:
        strict = mode.integer_only and (profile.kind is TargetKind.MCU or not q.float_ops_allowed)
    elif strict and not mode.integer_only:
        raise ConfigError(
            f"Invalid strict=True for mode {mode.value} (strict needs int8 or int16x8)"
        )
    return dataclasses.replace(options, mode=mode, io=io, per_channel=per_channel, strict=strict)


def _tf_dtype(io: IoType) -> Any:
    import tensorflow as tf

    return {
        IoType.INT8: tf.int8,
        IoType.UINT8: tf.uint8,
        IoType.INT16: tf.int16,
        IoType.FLOAT32: tf.float32,
    }[io]


def configure_converter(converter: Any, opts: QuantizeOptions, calibration: Samples | None) -> Any:
    """Set a TFLiteConverter up for ``opts`` (resolved) with calibration samples."""
    import tensorflow as tf

    mode = opts.mode
    if mode is QuantMode.FLOAT32:  # not quantized: the converter as it comes
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter._experimental_disable_per_channel = not opts.per_channel
    if mode is QuantMode.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
        return converter
    if mode is QuantMode.DYNAMIC:
        return converter
    if calibration is None:
        raise ConversionError(f"Mode {mode.value} needs representative data")
    names = list(calibration.arrays)

    def representative() -> Any:
        for i in range(calibration.count):
            if len(names) == 1:
                yield [calibration.arrays[names[0]][i : i + 1]]
            else:
                yield {n: calibration.arrays[n][i : i + 1] for n in names}

    converter.representative_dataset = representative
    ops_set = (
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8
        if mode is QuantMode.INT8
        else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    )
    ops = [ops_set] if opts.strict else [ops_set, tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.target_spec.supported_ops = ops
    converter.inference_input_type = _tf_dtype(opts.io)
    converter.inference_output_type = _tf_dtype(opts.io)
    return converter


def _converter_message(error: Exception) -> str:
    text = str(error).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    picked = [ln for ln in lines if "error:" in ln.lower()] or lines[:1] or [type(error).__name__]
    message = picked[0]
    if "error:" in message.lower():
        message = message[message.lower().index("error:") + 6 :].strip()
    if message.startswith("loc("):
        message = re.split(r"\)\s*:\s+", message)[-1]
    return message[:500]


def convert(converter: Any, what: str) -> bytes:
    """Run the converter, turning its exceptions into one-line ConversionErrors."""
    try:
        return bytes(converter.convert())
    except Exception as e:  # noqa: BLE001 - the converter raises many exception types
        raise ConversionError(f"TFLite conversion ({what}) failed: {_converter_message(e)}") from e


def convert_tensorflow(
    model: Any, opts: QuantizeOptions | None, calibration: Samples | None
) -> bytes:
    """The TensorFlow front ends' converter: float when ``opts`` is None, else as ``opts``."""
    if opts is None:
        return convert(model.converter(), "float")
    return convert(configure_converter(model.converter(), opts, calibration), opts.mode.value)


def _size(data: bytes) -> SizeInfo:
    return SizeInfo.of(data)


def _io_tensors(details: dict[str, dict[str, Any]], names: list[str]) -> tuple[IoTensor, ...]:
    result = []
    for name in names:
        d = details[name]
        scale, zero = d["quantization"]
        quantized = np.dtype(d["dtype"]).kind in "iu" and scale != 0
        result.append(
            IoTensor(
                name=name,
                dtype=np.dtype(d["dtype"]).name,
                shape=tuple(int(x) for x in d["shape"]),
                scale=float(scale) if quantized else None,
                zero_point=int(zero) if quantized else None,
            )
        )
    return tuple(result)


def measure_fidelity(
    float_model: Any, runner: Any, info: ModelInfo, samples: Samples
) -> list[OutputFidelity]:
    """Run ``samples`` through the float model and the .tflite model and compare outputs."""
    mapping = runner.map_inputs(list(samples.arrays))
    reference = float_model.predict(samples.arrays)
    arrays = samples.arrays
    if getattr(float_model, "layout", None) == "NCHW":  # the .tflite takes NHWC
        arrays = {k: np.moveaxis(v, 1, -1) for k, v in arrays.items()}
    _, candidate = runner.run({mapping[k]: v for k, v in arrays.items()})
    if len(reference) != len(candidate):
        raise ConversionError(
            f"The .tflite model has {len(candidate)} outputs, the float model {len(reference)}"
        )
    fidelity = []
    for pos, name in enumerate(runner.output_names):
        scale = info.scale_of(runner.output_details[name]["index"])
        fidelity.append(compare(name, reference[pos], candidate[pos], scale[0] if scale else None))
    return fidelity


def run_quantize(
    model_path: str, data: str | None, profile: TargetProfile, options: QuantizeOptions
) -> tuple[QuantizationResult, bytes]:
    """The whole quantization job (run inside the worker process).

    Returns:
        The result (``output`` unset) and the .tflite bytes.
    """
    from edgesdk.inputs.frontends import frontend_for

    start = time.perf_counter()
    opts = resolve_options(options, profile)
    frontend = frontend_for(model_path)
    float_model = frontend.load(model_path, input_shape_of(options, data))
    notes: list[str] = []
    warnings: list[str] = []
    if data is None and opts.mode.needs_calibration:
        raise ConfigError(f"Mode {opts.mode.value} needs representative data (`data`)", what="data")
    split = None
    if data is not None:
        source = open_samples(
            data,
            float_model.inputs,
            opts.normalization,
            opts.normalize_arrays,
            limit=opts.samples + opts.eval_samples,
        )
        notes.extend(source.notes)
        # only the samples the split uses are read (not the rest of a large .npy)
        split = read_split(source, opts.samples, opts.eval_samples, opts.seed)
        warnings.extend(split.notes)
    else:
        notes.append("no data given: fidelity against the float model was not measured")
    float_bytes = frontend.convert(float_model, None, None)
    calibration = split.calibration if split else None
    if opts.mode is QuantMode.FLOAT32:  # the float conversion is the result
        quant_bytes = float_bytes
    else:
        quant_bytes = frontend.convert(float_model, opts, calibration)
    if float_model.layout == "NCHW":
        notes.append(
            "inputs: the PyTorch model takes NCHW; the .tflite takes NHWC (what TFLite Micro, "
            "the C export and MediaPipe expect): transpose data (N, C, H, W) -> (N, H, W, C)"
        )
    result = build_result(
        model_path,
        float_model,
        profile,
        opts,
        float_bytes,
        quant_bytes,
        calibration,
        (split.held_out or split.calibration) if split else None,
        notes,
        warnings,
        start,
    )
    extra: dict[str, Any] = {"calibration": calibration_info(data, calibration)}
    if float_model.framework != "tensorflow":
        extra["framework"] = float_model.framework
        extra["layout"] = {"model": float_model.layout, "tflite": "NHWC"}
        recorded = read_layout(quant_bytes)
        if recorded is not None:  # what export-c and package read back from the .tflite
            extra["layout"]["recorded"] = recorded.to_dict()
    result = dataclasses.replace(result, extra=extra)
    return result, quant_bytes


def input_shape_of(options: QuantizeOptions, data: str | None) -> tuple[int, ...] | None:
    """The input shape given in the options (batch first), else that of array data, else None."""
    from edgesdk.inputs.samples import data_shape

    if options.input_shape is not None:
        return (1, *options.input_shape)
    return data_shape(data)


def calibration_info(spec: str | None, calibration: Samples | None) -> dict[str, Any] | None:
    """Where the calibration samples came from, how many, and a hash of their values."""
    if calibration is None:
        return None
    return {"spec": spec, "samples": calibration.count, "sha256": array_digest(calibration.arrays)}


def build_result(
    model_path: str,
    float_model: Any,
    profile: TargetProfile,
    opts: QuantizeOptions,
    float_bytes: bytes,
    quant_bytes: bytes,
    calibration: Samples | None,
    fidelity_samples: Samples | None,
    notes: list[str],
    warnings: list[str],
    start: float,
) -> QuantizationResult:
    """Inspect the converted model (float ops vs strict), measure fidelity, make the result.

    Raises:
        ConversionError: float computation left in the graph of a strict conversion.
    """
    from edgesdk.tflite.runner import TfliteRunner

    info = inspect_bytes(quant_bytes, "converted model")
    float_ops = info.float_ops()
    warnings = list(warnings)
    if float_ops and opts.mode.integer_only:
        listed = ", ".join(f"{op.name} (op {op.index})" for op in float_ops)
        message = f"Float computation left in the graph: {listed}"
        if opts.strict:
            raise ConversionError(
                f"{message}; target {profile.name} needs integer-only ops "
                "(replace those layers, or allow float ops with strict off)"
            )
        warnings.append(message)
    runner = TfliteRunner(quant_bytes)
    fidelity: list[OutputFidelity] = []
    if fidelity_samples is not None:
        fidelity = measure_fidelity(float_model, runner, info, fidelity_samples)
    return QuantizationResult(
        model=str(model_path),
        target=profile.name,
        mode=opts.mode.value,
        io=opts.io.value,
        per_channel=bool(opts.per_channel),
        strict=bool(opts.strict),
        output=None,
        float_size=_size(float_bytes),
        size=_size(quant_bytes),
        op_counts=info.op_counts(),
        dtype_table=tuple(info.dtype_table()),
        float_ops=tuple(op.name for op in float_ops),
        inputs=_io_tensors(runner.input_details, runner.input_names),
        outputs=_io_tensors(runner.output_details, runner.output_names),
        fidelity=tuple(fidelity),
        calibration_samples=calibration.count if calibration else 0,
        held_out_samples=fidelity_samples.count if fidelity_samples else 0,
        seconds=time.perf_counter() - start,
        notes=tuple(notes),
        warnings=tuple(warnings),
        model_loader=float_model.loader,
    )


def save_keras_model(model: Any, folder: Path) -> Path:
    """Save an in-memory Keras model so that a worker process can load it."""
    path = folder / "model.keras"
    model.save(path)
    return path

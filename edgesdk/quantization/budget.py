"""Accuracy budget: search int8 variants (then 16x8, then float fallback) for the smallest model
that stays within a top-1 drop on labelled evaluation data. Runs inside the worker."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.core.options import IoType, QuantizeOptions, QuantMode, TargetKind
from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ConversionError, EdgeSdkError
from edgesdk.inputs.samples import Samples, check_labels, load_samples
from edgesdk.quantization.convert import (
    build_result,
    calibration_info,
    configure_converter,
    convert,
    resolve_options,
)
from edgesdk.tflite.model_info import inspect_bytes
from edgesdk.tflite.runner import top1_accuracy

log = logging.getLogger(__name__)

DEBUG_SAMPLES = 64
MAX_FLOAT_LAYERS = 3
MORE_CALIBRATION = 4  # the "better calibration" candidate uses this many times more samples


@dataclass
class Candidate:
    """One configuration tried, and what it measured."""

    name: str
    mode: str
    per_channel: bool
    calibration_samples: int
    float_layers: tuple[str, ...] = ()
    io: str = ""
    size: int | None = None
    accuracy: float | None = None
    drop: float | None = None
    float_ops: int | None = None
    fits: bool = False
    error: str | None = None
    model: bytes | None = None
    options: QuantizeOptions | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("model", "options")
        }
        data["float_layers"] = list(self.float_layers)
        return data


def worst_channel_sqnr(f: np.ndarray, q: np.ndarray, scale: float, zero_point: int) -> float:
    """The lowest per-channel SQNR (dB) of a quantized tensor against its float values."""
    dq = (q.astype(np.float32) - zero_point) * scale
    channels = f.shape[-1] if f.ndim else 1
    f2 = f.reshape(-1, channels).astype(np.float64)
    d2 = dq.reshape(-1, channels).astype(np.float64)
    signal = np.mean(f2**2, axis=0)
    noise = np.maximum(np.mean((f2 - d2) ** 2, axis=0), 1e-20)
    live = signal > 0
    return float(np.min(10 * np.log10(signal[live] / noise[live]))) if live.any() else float("nan")


class _Debugger:
    """TFLite's QuantizationDebugger on the int8 configuration: per-layer error metrics."""

    def __init__(self, float_model: Any, opts: QuantizeOptions, calibration: Samples):
        import tensorflow as tf

        converter = configure_converter(
            float_model.converter(), dataclasses.replace(opts, strict=False), calibration
        )
        names = list(calibration.arrays)
        count = min(DEBUG_SAMPLES, calibration.count)

        def dataset() -> Any:
            for i in range(count):
                yield [calibration.arrays[n][i : i + 1] for n in names]

        options = tf.lite.experimental.QuantizationDebugOptions(
            layer_direct_compare_metrics={"worst_channel_sqnr": worst_channel_sqnr}
        )
        self.debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset, debug_options=options
        )
        # the direct comparison reads intermediate tensors: keep them all
        self.debugger._quant_interpreter = tf.lite.Interpreter(
            model_content=self.debugger.quant_model, experimental_preserve_all_tensors=True
        )
        self.debugger.run()
        self.layers = []
        for key, metrics in self.debugger.layer_statistics.items():
            tensor = self.debugger._get_operand_name_and_index(key)[0]
            row = {"tensor": tensor, **{k: float(v) for k, v in metrics.items()}}
            self.layers.append(row)

    def worst(self, k: int) -> list[str]:
        """The k tensors with the lowest worst-channel SQNR."""
        ranked = sorted(
            (r for r in self.layers if not np.isnan(r["worst_channel_sqnr"])),
            key=lambda r: r["worst_channel_sqnr"],
        )
        return [r["tensor"] for r in ranked[:k]]

    def model_without(self, tensors: list[str]) -> bytes:
        import tensorflow as tf

        self.debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=tensors
        )
        return bytes(self.debugger.get_nondebug_quantized_model())


def _micro_mismatch(model: bytes, profile: TargetProfile) -> str | None:
    """Why export-c would refuse this model for an MCU (TFLite Micro vs reference kernels)."""
    from edgesdk.tflite.micro import compare_with_litert, load_interpreter

    interpreter, _ = load_interpreter(model)
    tolerance = profile.header.lsb_tolerance
    for p in compare_with_litert(model, interpreter, 100):
        if p.max_lsb > tolerance or p.top1_changes:
            return (
                f"TFLite Micro differs from the reference kernels by {p.max_lsb} LSB "
                f"(tolerance {tolerance}); export-c would refuse it"
            )
    return None


def run_search(
    model_path: str,
    data: str,
    eval_data: str,
    profile: TargetProfile,
    options: QuantizeOptions,
    max_drop: float,
) -> tuple[Any, bytes]:
    """Try candidates in order of cost; return the smallest within ``max_drop`` points.

    Raises:
        ConversionError: no candidate is within the budget (``data`` holds every candidate).
        DatasetError: unlabelled evaluation data, or labels outside the model's classes.
    """
    from edgesdk.inputs.models import load_float_model

    start = time.perf_counter()
    base = resolve_options(
        dataclasses.replace(options, mode=options.mode or QuantMode.INT8), profile
    )
    float_model = load_float_model(model_path)
    if len(float_model.outputs) != 1:
        raise ConversionError("An accuracy budget needs a classifier with one output")
    classes = int(float_model.outputs[0].shape[-1] or 0)
    eval_set = load_samples(
        eval_data, float_model.inputs, base.normalization, base.normalize_arrays
    )
    labels = check_labels(eval_set.labels, classes, eval_data)
    pool = load_samples(
        data,
        float_model.inputs,
        base.normalization,
        base.normalize_arrays,
        limit=base.samples * MORE_CALIBRATION,
    )
    order = np.random.default_rng(base.seed).permutation(pool.count)
    calibration = pool.take(order[: base.samples])
    float_out = float_model.predict(eval_set.arrays)[0]
    float_acc = float(np.mean(np.argmax(float_out, axis=-1) == labels) * 100.0)
    mcu = profile.kind is TargetKind.MCU
    float_capable = profile.quantization.float_ops_allowed and not mcu
    tried: list[Candidate] = []

    def attempt(
        name: str, opts: QuantizeOptions, cal: Samples, float_layers: tuple[str, ...] = ()
    ) -> Candidate:
        cand = Candidate(name, opts.mode.value, bool(opts.per_channel), cal.count, float_layers)
        cand.options = (
            dataclasses.replace(opts, io=IoType.FLOAT32, strict=False) if float_layers else opts
        )
        try:
            if float_layers:
                cand.model = debugger.model_without(list(float_layers))
            else:
                cand.model = convert(
                    configure_converter(float_model.converter(), opts, cal), opts.mode.value
                )
            info = inspect_bytes(cand.model, name)
            cand.float_ops = len(info.float_ops())
            if cand.float_ops and opts.strict:
                raise ConversionError(f"{cand.float_ops} float ops left; the target needs none")
            inputs, _ = info.io_tensors()
            cand.io = inputs[0].dtype if inputs else ""
            cand.size = len(cand.model)
            cand.accuracy = 100.0 * top1_accuracy(cand.model, eval_set.arrays, labels)
            cand.drop = float_acc - cand.accuracy
            cand.fits = cand.drop <= max_drop
            if mcu:
                cand.error = _micro_mismatch(cand.model, profile)
                cand.fits = cand.fits and cand.error is None
        except EdgeSdkError as e:
            cand.error, cand.model = str(e), None
        log.info("candidate %s: %s", name, cand.to_dict())
        tried.append(cand)
        return cand

    def done() -> bool:
        return any(c.fits for c in tried)

    granularity = "per-channel" if base.per_channel else "per-tensor"
    attempt(f"int8 {granularity} (target default)", base, calibration)
    other = dataclasses.replace(base, per_channel=not base.per_channel)
    attempt(f"int8 {'per-tensor' if base.per_channel else 'per-channel'}", other, calibration)
    debugger = None
    notes: list[str] = []
    if not done():
        best = max(
            (c for c in tried if c.accuracy is not None),
            key=lambda c: c.accuracy or 0.0,
            default=tried[0],
        )
        better = base if best.per_channel == bool(base.per_channel) else other
        if pool.count > calibration.count:
            more = pool.take(order)
            attempt(
                f"int8 {'per-channel' if better.per_channel else 'per-tensor'}, "
                f"{more.count} calibration samples",
                dataclasses.replace(better, samples=more.count),
                more,
            )
        else:
            notes.append(
                f"no more calibration data than {calibration.count} samples: "
                "the larger-calibration candidate was skipped"
            )
    if not done() and not mcu and QuantMode.INT16X8 in profile.quantization.allowed_modes:
        io = IoType.INT16 if base.io in (IoType.INT8, IoType.UINT8, IoType.INT16) else base.io
        sixteen = resolve_options(
            dataclasses.replace(options, mode=QuantMode.INT16X8, io=io), profile
        )
        attempt("int16x8 (16-bit activations)", sixteen, calibration)
    layers: list[dict[str, Any]] = []
    try:
        debugger = _Debugger(float_model, base, calibration)
        layers = debugger.layers
    except Exception as e:  # noqa: BLE001 - the debugger is TensorFlow-internal and fragile
        notes.append(f"QuantizationDebugger failed ({type(e).__name__}: {e}); no per-layer metrics")
    if not done() and float_capable and debugger is not None:
        for k in range(1, MAX_FLOAT_LAYERS + 1):
            worst = tuple(debugger.worst(k))
            if len(worst) < k:
                break
            attempt(f"int8 with {k} worst layer(s) in float", base, calibration, worst)
            if done():
                break
    if mcu:
        notes.append(f"{profile.name} is a microcontroller: only int8-only candidates were tried")
    elif not float_capable:
        notes.append(f"{profile.name} allows no float ops: no float-fallback candidate")
    search = {
        "budget": max_drop,
        "float_accuracy": float_acc,
        "eval_data": eval_data,
        "eval_samples": eval_set.count,
        "candidates": [c.to_dict() for c in tried],
        "layers": layers,
        "notes": notes,
        "chosen": None,
        "reason": "",
    }
    fitting = [c for c in tried if c.fits and c.model is not None]
    if not fitting:
        valid = [c for c in tried if c.drop is not None]
        best = min(valid, key=lambda c: c.drop or 0.0) if valid else None
        closest = f"; closest: {best.name} loses {best.drop:.2f} pts" if best else ""
        search["reason"] = "no candidate within budget"
        err = ConversionError(
            f"No quantized variant stays within {max_drop:g} pts of the float model's "
            f"{float_acc:.2f}% on {eval_data} for {profile.name} ({len(tried)} tried{closest}); "
            "try quantization-aware training: edgesdk compress MODEL --data TRAIN --qat -o DIR"
        )
        err.data = {"search": search}
        raise err
    chosen = min(fitting, key=lambda c: c.size or 0)
    search["chosen"] = chosen.name
    search["reason"] = (
        f"smallest of {len(fitting)} candidate(s) within {max_drop:g} pts "
        f"({chosen.size:,} bytes, loses {chosen.drop:.2f} pts)"
    )
    assert chosen.model is not None and chosen.options is not None
    cal = calibration if chosen.calibration_samples == calibration.count else pool.take(order)
    result = build_result(
        model_path,
        float_model,
        profile,
        dataclasses.replace(chosen.options, samples=chosen.calibration_samples),
        convert(float_model.converter(), "float"),
        chosen.model,
        cal,
        eval_set,
        notes,
        [],
        start,
    )
    result = dataclasses.replace(
        result, extra={"calibration": calibration_info(data, cal), "search": search}
    )
    return result, chosen.model

"""Accuracy budget: walk the recipe ladder (int8 variants, 16x8, float fallback) for the smallest
model within a top-1 drop on labelled evaluation data. Runs inside the worker."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesdk.core.options import IoType, QuantizeOptions, QuantMode, TargetKind
from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import BudgetNotMetError, ConversionError, EdgeSdkError
from edgesdk.inputs.samples import Samples, check_labels, load_samples, open_samples
from edgesdk.quantization.convert import (
    build_result,
    calibration_info,
    configure_converter,
    convert,
    resolve_options,
)
from edgesdk.quantization.recipes import LADDER, MORE_CALIBRATION, Change, Needs, Recipe
from edgesdk.tflite import metrics
from edgesdk.tflite.model_info import inspect_bytes
from edgesdk.tflite.runner import top1_accuracy

log = logging.getLogger(__name__)

DEBUG_SAMPLES = 64


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
        for key, stats in self.debugger.layer_statistics.items():
            tensor = self.debugger._get_operand_name_and_index(key)[0]
            row = {"tensor": tensor, **{k: float(v) for k, v in stats.items()}}
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
    from edgesdk.tflite.parity import parity_failures, parity_message

    interpreter, _ = load_interpreter(model)
    share = profile.header.max_top1_change_percent
    bad = parity_failures(compare_with_litert(model, interpreter, 100, what="<candidate>"), share)
    return parity_message(bad[0], share) + "; export-c would refuse it" if bad else None


@dataclass
class _Search:
    """Everything the ladder's recipes work from, and what they have found so far."""

    float_model: Any
    profile: TargetProfile
    options: QuantizeOptions  # as the user gave them
    base: QuantizeOptions  # the target's int8 configuration
    pool: Samples  # a seeded shuffle of up to MORE_CALIBRATION x the calibration samples
    calibration: Samples  # the first ``base.samples`` of the pool
    eval_set: Samples
    labels: np.ndarray
    float_acc: float  # a fraction
    max_drop: float  # a fraction
    tried: list[Candidate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    debugger: Any = None
    debugger_ran: bool = False

    @property
    def mcu(self) -> bool:
        return self.profile.kind is TargetKind.MCU

    def has(self, need: Needs) -> bool:
        quant = self.profile.quantization
        return {
            Needs.MORE_DATA: lambda: self.pool.count > self.calibration.count,
            Needs.INT16X8: lambda: not self.mcu and QuantMode.INT16X8 in quant.allowed_modes,
            Needs.FLOAT_OPS: lambda: quant.float_ops_allowed and not self.mcu,
            Needs.DEBUGGER: lambda: self.run_debugger() is not None,
        }[need]()

    def run_debugger(self) -> Any:
        """TFLite's QuantizationDebugger on the base configuration, once (None if it fails)."""
        if not self.debugger_ran:
            self.debugger_ran = True
            try:
                self.debugger = _Debugger(self.float_model, self.base, self.calibration)
            except Exception as e:  # noqa: BLE001 - TensorFlow-internal and fragile
                self.notes.append(
                    f"QuantizationDebugger failed ({type(e).__name__}: {e}); no per-layer metrics"
                )
        return self.debugger


def _prepare(
    model_path: str,
    data: str,
    eval_data: str,
    profile: TargetProfile,
    options: QuantizeOptions,
    max_drop: float,
) -> _Search:
    """Load the model, the labelled evaluation set and the calibration pool; float accuracy."""
    from edgesdk.inputs.models import load_float_model

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
    source = open_samples(
        data,
        float_model.inputs,
        base.normalization,
        base.normalize_arrays,
        limit=base.samples * MORE_CALIBRATION,
    )
    # only the samples the search can use are read (not the rest of a large .npy)
    order = np.random.default_rng(base.seed).permutation(source.count)
    pool = source.read(order[: base.samples * MORE_CALIBRATION])
    float_out = float_model.predict(eval_set.arrays)[0]
    return _Search(
        float_model=float_model,
        profile=profile,
        options=options,
        base=base,
        pool=pool,
        calibration=pool.take(np.arange(min(base.samples, pool.count))),
        eval_set=eval_set,
        labels=labels,
        float_acc=metrics.top1_accuracy(float_out, labels),
        max_drop=max_drop,
    )


def _granularity(per_channel: bool | None) -> str:
    return "per-channel" if per_channel else "per-tensor"


def _plan(
    recipe: Recipe, s: _Search
) -> tuple[str, QuantizeOptions, Samples, tuple[str, ...]] | None:
    """The candidate a recipe makes: (name, options, calibration, float layers); None if the
    recipe has nothing to try here (fewer ranked layers than it keeps in float)."""
    base = s.base
    if recipe.change is Change.NONE:
        return f"int8 {_granularity(base.per_channel)} (target default)", base, s.calibration, ()
    if recipe.change is Change.OTHER_GRANULARITY:
        other = dataclasses.replace(base, per_channel=not base.per_channel)
        return f"int8 {_granularity(other.per_channel)}", other, s.calibration, ()
    if recipe.change is Change.MORE_CALIBRATION:
        measured = [c for c in s.tried if c.accuracy is not None and not c.float_layers]
        best = max(measured, key=lambda c: c.accuracy or 0.0, default=None)
        per_channel = best.per_channel if best else bool(base.per_channel)
        more = s.pool
        opts = dataclasses.replace(base, per_channel=per_channel, samples=more.count)
        return f"int8 {_granularity(per_channel)}, {more.count} calibration samples", opts, more, ()
    if recipe.change is Change.INT16X8:
        io = IoType.INT16 if base.io in (IoType.INT8, IoType.UINT8, IoType.INT16) else base.io
        sixteen = resolve_options(
            dataclasses.replace(s.options, mode=QuantMode.INT16X8, io=io), s.profile
        )
        return "int16x8 (16-bit activations)", sixteen, s.calibration, ()
    worst = tuple(s.debugger.worst(recipe.float_layers))
    if len(worst) < recipe.float_layers:
        return None
    name = f"int8 with {recipe.float_layers} worst layer(s) in float"
    return name, base, s.calibration, worst


def _attempt(
    s: _Search, name: str, opts: QuantizeOptions, cal: Samples, float_layers: tuple[str, ...]
) -> Candidate:
    """Convert one candidate and measure it (size, accuracy, drop, float ops, MCU parity)."""
    cand = Candidate(name, opts.mode.value, bool(opts.per_channel), cal.count, float_layers)
    cand.options = (
        dataclasses.replace(opts, io=IoType.FLOAT32, strict=False) if float_layers else opts
    )
    try:
        if float_layers:
            cand.model = s.debugger.model_without(list(float_layers))
        else:
            converter = configure_converter(s.float_model.converter(), opts, cal)
            cand.model = convert(converter, opts.mode.value)
        info = inspect_bytes(cand.model, name)
        cand.float_ops = len(info.float_ops())
        if cand.float_ops and opts.strict:
            raise ConversionError(f"{cand.float_ops} float ops left; the target needs none")
        inputs, _ = info.io_tensors()
        cand.io = inputs[0].dtype if inputs else ""
        cand.size = len(cand.model)
        cand.accuracy = top1_accuracy(cand.model, s.eval_set.arrays, s.labels)
        cand.drop = s.float_acc - cand.accuracy
        cand.fits = cand.drop <= s.max_drop
        if s.mcu:
            cand.error = _micro_mismatch(cand.model, s.profile)
            cand.fits = cand.fits and cand.error is None
    except EdgeSdkError as e:
        cand.error, cand.model = str(e), None
    log.info("candidate %s: %s", name, cand.to_dict())
    s.tried.append(cand)
    return cand


def _skip_note(recipe: Recipe, missing: list[Needs], s: _Search) -> str | None:
    """Why a recipe was skipped, when the user should know."""
    if Needs.MORE_DATA in missing:
        return (
            f"no more calibration data than {s.calibration.count} samples: "
            "the larger-calibration candidate was skipped"
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
    """Walk ``LADDER``; return the smallest candidate within ``max_drop`` (a fraction).

    Raises:
        BudgetNotMetError: no candidate is within the budget (``details["search"]``).
        DatasetError: unlabelled evaluation data, or labels outside the model's classes.
    """
    start = time.perf_counter()
    s = _prepare(model_path, data, eval_data, profile, options, max_drop)
    fitted_cost: int | None = None
    for recipe in LADDER:
        if fitted_cost is not None and recipe.cost > fitted_cost:
            break
        missing = [need for need in recipe.needs if not s.has(need)]
        if missing:
            note = _skip_note(recipe, missing, s)
            if note and note not in s.notes:
                s.notes.append(note)
            continue
        plan = _plan(recipe, s)
        if plan is not None and _attempt(s, *plan).fits:
            fitted_cost = recipe.cost
    s.run_debugger()  # its per-layer metrics go into the report either way
    if s.mcu:
        s.notes.append(f"{profile.name} is a microcontroller: only int8-only candidates were tried")
    elif not s.has(Needs.FLOAT_OPS):
        s.notes.append(f"{profile.name} allows no float ops: no float-fallback candidate")
    return _choose(s, model_path, data, eval_data, start)


def _choose(
    s: _Search, model_path: str, data: str, eval_data: str, start: float
) -> tuple[Any, bytes]:
    """The smallest fitting candidate as a QuantizationResult (or BudgetNotMetError)."""
    search = {
        "budget": s.max_drop,
        "float_accuracy": s.float_acc,
        "eval_data": eval_data,
        "eval_samples": s.eval_set.count,
        "candidates": [c.to_dict() for c in s.tried],
        "layers": s.debugger.layers if s.debugger is not None else [],
        "notes": s.notes,
        "chosen": None,
        "reason": "",
    }
    fitting = [c for c in s.tried if c.fits and c.model is not None]
    if not fitting:
        valid = [c for c in s.tried if c.drop is not None]
        best = min(valid, key=lambda c: c.drop or 0.0) if valid else None
        closest = f"; closest: {best.name} loses {100 * best.drop:.2f} pts" if best else ""
        search["reason"] = "no candidate within budget"
        raise BudgetNotMetError(
            f"No quantized variant stays within {100 * s.max_drop:g} pts of the float model's "
            f"{100 * s.float_acc:.2f}% on {eval_data} for {s.profile.name} ({len(s.tried)} tried{closest}); "
            "try quantization-aware training (compress with `qat=True`, then quantize its output)",
            what="accuracy budget",
            value=best.drop if best else None,
            allowed=s.max_drop,
            details={"search": search},
        )
    chosen = min(fitting, key=lambda c: c.size or 0)
    search["chosen"] = chosen.name
    search["reason"] = (
        f"smallest of {len(fitting)} candidate(s) within {100 * s.max_drop:g} pts "
        f"({chosen.size:,} bytes, loses {100 * chosen.drop:.2f} pts)"
    )
    assert chosen.model is not None and chosen.options is not None
    cal = s.calibration if chosen.calibration_samples == s.calibration.count else s.pool
    result = build_result(
        model_path,
        s.float_model,
        s.profile,
        dataclasses.replace(chosen.options, samples=chosen.calibration_samples),
        convert(s.float_model.converter(), "float"),
        chosen.model,
        cal,
        s.eval_set,
        s.notes,
        [],
        start,
    )
    result = dataclasses.replace(
        result, extra={"calibration": calibration_info(data, cal), "search": search}
    )
    return result, chosen.model

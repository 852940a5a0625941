"""Pruning within an accuracy budget (worker side): measure per-layer sensitivity, plan
per-layer sparsities for the target, fine-tune, and verify the int8 model; lower the target
step by step when the budget is not met."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from edgesdk.compression import sensitivity as sens
from edgesdk.compression import techniques as tech
from edgesdk.compression.training import ProgressLog
from edgesdk.core.options import CompressOptions
from edgesdk.errors import BudgetNotMetError, CompressionError

log = logging.getLogger(__name__)

STEP = 0.1  # how much lower each further target is
MAX_ATTEMPTS = 3
MIN_TARGET = 0.3
CALIBRATION = 200


def int8_accuracy(model: Any, x_cal: list[np.ndarray], x: list[np.ndarray], y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` converted to full-integer int8 (float I/O) with LiteRT."""
    import tensorflow as tf

    from edgesdk.core.options import IoType, QuantizeOptions, QuantMode
    from edgesdk.inputs.samples import Samples
    from edgesdk.quantization.convert import configure_converter, convert
    from edgesdk.tflite.runner import top1_accuracy

    names = [t.name.split(":")[0] for t in model.inputs]
    count = min(CALIBRATION, len(x_cal[0]))
    calibration = Samples({n: a[:count] for n, a in zip(names, x_cal, strict=True)}, None, "train")
    opts = QuantizeOptions(mode=QuantMode.INT8, io=IoType.FLOAT32, per_channel=True, strict=True)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    tflite = convert(configure_converter(converter, opts, calibration), "int8 check")
    return top1_accuracy(tflite, dict(zip(names, x, strict=True)), y)


def _clone(model: Any) -> Any:
    import tf_keras

    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _targets(first: float) -> list[float]:
    targets = [first]
    while len(targets) < MAX_ATTEMPTS and targets[-1] - STEP >= MIN_TARGET - 1e-9:
        targets.append(round(targets[-1] - STEP, 4))
    return targets


def search(
    model: Any,
    data: tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray],
    opts: CompressOptions,
    progress: ProgressLog,
    baseline: float,
    registry_map: dict[Any, list[str]],
) -> tuple[Any, list[str], Any, dict[str, Any]]:
    """The pruned model for the highest target (``opts.prune`` first) whose int8 accuracy on the
    held-out data stays within ``opts.max_accuracy_drop`` of ``baseline`` (the float model's).

    Returns:
        (stripped model, pruned layers, prune steps, the search report).

    Raises:
        BudgetNotMetError: no target met the budget (``details["prune_search"]``); nothing is
            written.
    """
    x_train, y_train, x_val, y_val = data
    assert opts.prune is not None and opts.max_accuracy_drop is not None
    start = time.perf_counter()
    layers = [
        layer.name
        for layer in model.layers
        if layer.name not in opts.skip_layers and registry_map.get(layer.__class__)
    ]
    progress.emit(stage="sensitivity", done=0, total=len(layers))
    curves = sens.measure(model, layers, registry_map, x_val, y_val)
    progress.emit(stage="sensitivity", done=len(layers), total=len(layers))
    report: dict[str, Any] = {
        "budget": opts.max_accuracy_drop,
        "target": opts.prune,
        "baseline_accuracy": baseline,
        "sensitivity": [c.to_dict() for c in curves],
        "attempts": [],
        "chosen": None,
        "sensitivity_seconds": round(time.perf_counter() - start, 2),
    }
    for target in _targets(opts.prune):
        layer_plan, reached = sens.plan(curves, target, baseline)
        pruned_model, pruned, steps = tech.prune(
            _clone(model), x_train, y_train, opts, progress, layer_plan
        )
        accuracy = int8_accuracy(pruned_model, x_train, x_val, y_val)
        attempt = {
            "target": target,
            "planned_sparsity": round(reached, 4),
            "layers": {k: v for k, v in layer_plan.items()},
            "int8_accuracy": accuracy,
            "drop": baseline - accuracy,
            "fits": baseline - accuracy <= opts.max_accuracy_drop + 1e-12,
        }
        report["attempts"].append(attempt)
        log.info("pruning target %.2f: %s", target, attempt)
        if attempt["fits"]:
            report["chosen"] = target
            report["seconds"] = round(time.perf_counter() - start, 2)
            return pruned_model, pruned, steps, report
    report["seconds"] = round(time.perf_counter() - start, 2)
    best = min(report["attempts"], key=lambda a: a["drop"])
    raise BudgetNotMetError(
        f"No pruning target from {opts.prune:.0%} down to {report['attempts'][-1]['target']:.0%} "
        f"keeps the int8 model within {100 * opts.max_accuracy_drop:g} pts of the float "
        f"model's {100 * baseline:.2f}% (closest: {best['target']:.0%} loses "
        f"{100 * best['drop']:.2f} pts); nothing was written",
        what="accuracy budget",
        value=best["drop"],
        allowed=opts.max_accuracy_drop,
        details={"prune_search": report},
    )


def verify_layers(stats: list[Any], layer_plan: dict[str, float]) -> None:
    """Each pruned layer reached its own planned sparsity (within 1 pt or one weight)."""
    short = [
        f"{s.layer} {s.sparsity:.1f}% of {100 * layer_plan[s.layer]:.0f}%"
        for s in stats
        if s.layer in layer_plan
        and s.sparsity / 100.0 < layer_plan[s.layer] - max(0.01, 1.0 / max(s.parameters, 1))
    ]
    if short:
        raise CompressionError(f"Pruning fell short of the planned sparsity in: {', '.join(short)}")

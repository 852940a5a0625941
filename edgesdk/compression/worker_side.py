"""The compress job, run in a worker with TF_USE_LEGACY_KERAS=1: load, bridge, train, verify."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk._worker import protocol
from edgesdk.compression import techniques as tech
from edgesdk.compression.bridge import copy_weights_by_name, max_output_difference, to_tf_keras
from edgesdk.compression.result import LayerStat
from edgesdk.compression.training import (
    ProgressLog,
    accuracy,
    classes_of,
    outputs_probabilities,
)
from edgesdk.core.options import CompressOptions, TensorSpec
from edgesdk.errors import CompressionError, ModelError
from edgesdk.inputs.models import load_keras, load_keras_model
from edgesdk.inputs.samples import check_labels, load_samples

log = logging.getLogger(__name__)

BRIDGE_TOLERANCE = 1e-4
VALIDATION_SHARE = 0.1


def _specs(model: Any) -> list[TensorSpec]:
    return [
        TensorSpec(t.name, tuple(None if d is None else int(d) for d in t.shape))
        for t in model.inputs
    ]


def _arrays(samples: Any, specs: list[TensorSpec]) -> list[np.ndarray]:
    return [samples.arrays[s.name] for s in specs]


def _own_weights(layer: Any) -> tuple[Any, list[Any]]:
    """The layer inside any wrapper, and its own variables (not the wrapper's quantizer ranges)."""
    core = getattr(layer, "layer", layer)
    own = [v for v in layer.weights if v.name.split("/")[0] == core.name]
    return core, own or list(core.weights)


def _stats_table(model: Any, layers: list[str], registry_map: dict[Any, list[str]]) -> list[Any]:
    inner = {}
    for layer in model.layers:
        core, own = _own_weights(layer)
        inner[core.name] = (core, own)
    stats = []
    for name in layers:
        core, own = inner[name]
        wanted = registry_map.get(core.__class__, [])
        values = [
            np.asarray(v.numpy()).ravel()
            for v in own
            if v.name.split("/")[-1].split(":")[0] in wanted
        ]
        flat = np.concatenate(values) if values else np.zeros(0, np.float32)
        stats.append(
            LayerStat(
                name, int(flat.size), int(np.count_nonzero(flat == 0)), int(np.unique(flat).size)
            )
        )
    return stats


def _verify_sparsity(stats: list[Any], target: float) -> None:
    short = [
        f"{s.layer} {s.sparsity:.1f}%"
        for s in stats
        if s.sparsity / 100.0 < target - max(0.01, 1.0 / max(s.parameters, 1))
    ]
    if short:
        raise CompressionError(
            f"Pruning fell short of {target * 100:.1f}% sparsity in: {', '.join(short)} "
            "(try more epochs or the constant schedule)"
        )


def _verify_clusters(stats: list[Any], k: int, zeros_kept: bool) -> None:
    allowed = k + (1 if zeros_kept else 0)
    over = [f"{s.layer} ({s.unique} values)" for s in stats if s.unique > allowed]
    if over:
        raise CompressionError(
            f"Clustering left more than {allowed} distinct weight values in: {', '.join(over)}"
        )


def _training_data(
    args: dict[str, Any], specs: list[TensorSpec], classes: int, opts: CompressOptions
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray, list[str]]:
    """Training and validation arrays with checked labels (10% held out without validation)."""
    train = load_samples(args["data"], specs, opts.normalization)
    y_all = check_labels(train.labels, classes, args["data"])
    notes = list(train.notes)
    if args.get("validation"):
        val = load_samples(args["validation"], specs, opts.normalization)
        y_val = check_labels(val.labels, classes, args["validation"])
        return _arrays(train, specs), y_all, _arrays(val, specs), y_val, notes
    order = np.random.default_rng(opts.seed).permutation(train.count)
    n_val = max(1, int(train.count * VALIDATION_SHARE))
    held, rest = order[:n_val], order[n_val:]
    x_all = _arrays(train, specs)
    notes.append(f"no validation data given: {n_val} training samples held out for it")
    return [a[rest] for a in x_all], y_all[rest], [a[held] for a in x_all], y_all[held], notes


def _load_teacher(path: str, specs: list[TensorSpec], classes: int) -> Any:
    """The teacher, checked to take the same inputs and give the same classes as the student."""
    teacher = load_keras_model(path)
    t_classes = classes_of(teacher, f"Teacher {path}")
    if t_classes != classes:
        raise ModelError(
            f"Teacher {path} has {t_classes} classes but the student has {classes} "
            "(expected the same output classes)"
        )
    if [t.shape for t in _specs(teacher)] != [s.shape for s in specs]:
        raise ModelError(
            f"Teacher {path} takes inputs {[s.shape_text() for s in _specs(teacher)]} "
            f"but the student takes {[s.shape_text() for s in specs]} (expected the same)"
        )
    return teacher


# Over 80 lines: the technique chain in its fixed order (distill, prune, cluster, QAT), each
# followed by its check; splitting it would hide that order.
def run_compress(args: dict[str, Any], jobdir: Path) -> dict[str, Any]:
    """The worker task: returns what was done and measured; writes the model into ``jobdir``."""
    from tensorflow_model_optimization.python.core.clustering.keras.clustering_registry import (
        ClusteringRegistry,
    )
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
        PruneRegistry,
    )

    opts = CompressOptions.from_dict(args["options"])
    progress = ProgressLog(jobdir / protocol.PROGRESS)
    loaded = load_keras(args["model"])
    original = loaded.model
    legacy = loaded.loader == "tf_keras"  # a Keras 2 file that only tf_keras reads
    specs = _specs(original)
    classes = classes_of(original, f"Model {args['model']}")  # every technique trains on labels
    notes: list[str] = []

    x_train, y_train, x_val, y_val, data_notes = _training_data(args, specs, classes, opts)
    notes.extend(data_notes)
    teacher = _load_teacher(opts.teacher, specs, classes) if opts.teacher else None
    model = to_tf_keras(original)
    bridge_diff = max_output_difference(original, model, [a[:64] for a in x_val])
    if bridge_diff > BRIDGE_TOLERANCE:
        raise ModelError(
            f"The tf_keras copy of {args['model']} differs from it by {bridge_diff:.3g} "
            f"(allowed {BRIDGE_TOLERANCE:g}); this model cannot be compressed safely"
        )
    tech.check_support(model, opts)
    acc_before = accuracy(model, x_val, y_val)
    teacher_acc = distilled_acc = baseline_acc = None
    if teacher is not None:
        teacher_acc = accuracy(teacher, x_val, y_val)
        t_out = np.asarray(teacher.predict(x_train if len(x_train) > 1 else x_train[0], verbose=0))
        student_before = tech.copy_model(model) if opts.baseline else None
        model = tech.distill(
            model, t_out, outputs_probabilities(teacher, x_train), x_train, y_train, opts, progress
        )
        distilled_acc = accuracy(model, x_val, y_val)
        if student_before is not None:
            baseline = tech.train_on_labels(student_before, x_train, y_train, opts, progress)
            baseline_acc = accuracy(baseline, x_val, y_val)
            del baseline, student_before
    pruned: list[str] = []
    clustered: list[str] = []
    steps = None
    prune_search = None
    if opts.prune is not None and opts.max_accuracy_drop is not None:
        from edgesdk.compression import prune_budget

        registry = PruneRegistry._LAYERS_WEIGHTS_MAP
        model, pruned, steps, prune_search = prune_budget.search(
            model, (x_train, y_train, x_val, y_val), opts, progress, acc_before, registry
        )
        chosen = next(a for a in prune_search["attempts"] if a["fits"])
        prune_budget.verify_layers(_stats_table(model, pruned, registry), chosen["layers"])
    elif opts.prune is not None:
        model, pruned, steps = tech.prune(model, x_train, y_train, opts, progress)
        _verify_sparsity(_stats_table(model, pruned, PruneRegistry._LAYERS_WEIGHTS_MAP), opts.prune)
    if opts.cluster is not None:
        model, clustered = tech.cluster(
            model, x_train, y_train, opts, progress, preserve_sparsity=bool(pruned)
        )
        _verify_clusters(
            _stats_table(model, clustered, ClusteringRegistry._LAYERS_WEIGHTS_MAP),
            opts.cluster,
            zeros_kept=bool(pruned),
        )
    if opts.qat:
        model = tech.qat(
            model, x_train, y_train, opts, progress, pruned=bool(pruned), clustered=bool(clustered)
        )
    weights_map = {**ClusteringRegistry._LAYERS_WEIGHTS_MAP, **PruneRegistry._LAYERS_WEIGHTS_MAP}
    compressible = [
        layer.name
        for layer in original.layers
        if layer.name not in opts.skip_layers and weights_map.get(_tf_class(layer))
    ]
    stats = _stats_table(model, compressible, weights_map)
    if opts.prune is not None and prune_search is None:
        _verify_sparsity([s for s in stats if s.layer in pruned], opts.prune)
    acc_after = accuracy(model, x_val, y_val)

    out, kind = _save_model(model, original, legacy, opts, args, jobdir, x_val)
    np.savez(
        jobdir / protocol.VALIDATION,
        y=y_val,
        **{s.name: a for s, a in zip(specs, x_val, strict=True)},
    )
    return {
        "kind": kind,
        "path": out.name,
        "techniques": list(opts.techniques),
        "classes": classes,
        "train_samples": len(y_train),
        "validation_samples": len(y_val),
        "accuracy_before": acc_before,
        "accuracy_after": acc_after,
        "teacher_accuracy": teacher_acc,
        "distilled_accuracy": distilled_acc,
        "baseline_accuracy": baseline_acc,
        "learning_rates": opts.learning_rates,
        "teacher_parameters": int(teacher.count_params()) if teacher is not None else None,
        "bridge_max_difference": bridge_diff,
        "prune_steps": steps.to_dict() if steps else None,
        "pruned_layers": pruned,
        "clustered_layers": clustered,
        "layers": [s.to_dict() for s in stats],
        "parameters": int(original.count_params()),
        "nonzero_parameters": _nonzero(model),
        "original_nonzero_parameters": _nonzero(original),
        "input_names": [s.name for s in specs],
        "model_loader": loaded.loader,
        "prune_search": prune_search,
        "notes": notes,
    }


def _tf_class(layer: Any) -> Any:
    import tf_keras

    return getattr(tf_keras.layers, type(layer).__name__, None)


def _nonzero(model: Any) -> int:
    """Non-zero values among the model's own weights (QAT range variables excluded)."""
    total = 0
    for layer in model.layers:
        if type(layer).__name__ == "QuantizeLayer":  # QAT's input range variables
            continue
        for w in _own_weights(layer)[1]:
            total += int(np.count_nonzero(np.asarray(w.numpy())))
    return total


def _save_model(
    model: Any,
    original: Any,
    legacy: bool,
    opts: CompressOptions,
    args: dict[str, Any],
    jobdir: Path,
    x_val: list[np.ndarray],
) -> tuple[Path, str]:
    """Write the compressed model into ``jobdir``: a SavedModel for QAT; otherwise a Keras 3
    copy of the original with the trained weights (checked), or tf_keras's own file for a
    legacy model. Returns (path, kind)."""
    import keras

    if opts.qat:
        out = jobdir / "model"
        model.save(str(out), save_format="tf", include_optimizer=False)
        kind = "saved_model"
    elif legacy:  # it came from tf_keras: it goes back as tf_keras wrote it
        out = jobdir / f"model{'.h5' if args.get('output_suffix') == '.h5' else '.keras'}"
        model.save(str(out))
        kind = "keras"
    else:
        back = keras.models.clone_model(original)
        copy_weights_by_name(model, back)
        diff = max_output_difference(back, model, [a[:64] for a in x_val])
        if diff > BRIDGE_TOLERANCE:
            raise ModelError(
                f"The compressed model changed by {diff:.3g} on its way back to Keras 3"
            )
        suffix = ".h5" if args.get("output_suffix") == ".h5" else ".keras"
        out = jobdir / f"model{suffix}"
        back.save(str(out))
        kind = "keras"
    return out, kind

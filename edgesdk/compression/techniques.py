"""The techniques: distillation, pruning, clustering and QAT on tf_keras models (tfmot)."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.compression.training import (
    ProgressLog,
    classes_of,
    classification_loss,
    fit,
    outputs_probabilities,
)
from edgesdk.core.options import CompressOptions, PruneSchedule
from edgesdk.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

_WHAT_TO_DO = "leave it out with `skip_layers`"


def _weight_names(registry_map: dict[Any, list[str]], layer: Any) -> list[str] | None:
    return registry_map.get(layer.__class__)


def _check_supported(model: Any, technique: str, supports: Any, skip: tuple[str, ...]) -> None:
    unknown = sorted(set(skip) - {layer.name for layer in model.layers})
    if unknown:
        names = ", ".join(layer.name for layer in model.layers)
        raise ConfigError(f"No layer named {', '.join(unknown)} to skip (layers: {names})")
    bad = [
        f"{layer.name} ({type(layer).__name__})"
        for layer in model.layers
        if layer.name not in skip and layer.weights and not supports(layer)
    ]
    if bad:
        raise ModelError(
            f"{technique} does not support layer(s) {', '.join(bad)}; {_WHAT_TO_DO}",
            what="skip_layers",
        )


def check_support(model: Any, opts: CompressOptions) -> None:
    """Name every layer a requested technique cannot handle, before any training.

    Raises:
        ModelError: unsupported layers that are not skipped.
        ConfigError: a skipped layer name that does not exist.
    """
    from tensorflow_model_optimization.python.core.clustering.keras.clustering_registry import (
        ClusteringRegistry,
    )
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
        PruneRegistry,
    )

    if opts.prune is not None:
        _check_supported(model, "Pruning", PruneRegistry.supports, opts.skip_layers)
    if opts.cluster is not None:
        _check_supported(model, "Clustering", ClusteringRegistry.supports, opts.skip_layers)
    if opts.qat:
        build_qat(model, opts.skip_layers, _scheme(False, False))  # a dry run, no training


def _fine_tune(
    model: Any,
    x: list[np.ndarray],
    y: np.ndarray,
    opts: CompressOptions,
    progress: ProgressLog,
    stage: str,
    loss: Any,
    **kwargs: Any,
) -> None:
    fit(
        model,
        x,
        y,
        stage=stage,
        epochs=opts.epochs,
        batch_size=opts.batch_size,
        learning_rate=opts.rate(stage),
        seed=opts.seed,
        progress=progress,
        loss=loss,
        **kwargs,
    )


def _wrap_layers(
    model: Any,
    registry_map: dict[Any, list[str]],
    skip: tuple[str, ...],
    wrapper: Any,
    verb: str,
) -> tuple[Any, list[str]]:
    """Clone ``model`` with ``wrapper`` around each layer that has weights to compress.

    Raises:
        ModelError: no layer has such weights.
    """
    wrapped_names: list[str] = []

    def wrap(layer: Any) -> Any:
        if layer.name in skip or not _weight_names(registry_map, layer):
            return layer
        wrapped_names.append(layer.name)
        return wrapper(layer)

    wrapped = _clone(model, wrap)
    if not wrapped_names:
        raise ModelError(f"Nothing to {verb}: the model has no Dense/Conv/Embedding kernels")
    return wrapped, wrapped_names


def _clone(model: Any, wrap: Any) -> Any:
    import tf_keras

    return tf_keras.models.clone_model(model, clone_function=wrap)


def distill(
    student: Any,
    teacher_out: np.ndarray,
    teacher_probabilities: bool,
    x: list[np.ndarray],
    y: np.ndarray,
    opts: CompressOptions,
    progress: ProgressLog,
) -> Any:
    """Train ``student`` on the true labels mixed (alpha) with the teacher's soft labels (T)."""
    import tensorflow as tf

    classes = classes_of(student, "The student model")
    t = opts.temperature
    alpha = opts.alpha
    logits = np.log(np.clip(teacher_out, 1e-7, 1.0)) if teacher_probabilities else teacher_out
    soft = tf.nn.softmax(logits / t).numpy().astype(np.float32)
    targets = np.concatenate([np.eye(classes, dtype=np.float32)[y], soft], axis=1)
    student_probs = outputs_probabilities(student, x)

    def student_logits(y_pred: Any) -> Any:
        return tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0)) if student_probs else y_pred

    def loss(y_true: Any, y_pred: Any) -> Any:
        hard, soft_t = y_true[:, :classes], y_true[:, classes:]
        z = student_logits(y_pred)
        ce = tf.nn.softmax_cross_entropy_with_logits(labels=hard, logits=z)
        log_s = tf.nn.log_softmax(z / t)
        kl = tf.reduce_sum(
            soft_t * (tf.math.log(tf.clip_by_value(soft_t, 1e-7, 1.0)) - log_s), axis=-1
        )
        return alpha * ce + (1.0 - alpha) * (t * t) * kl

    def acc(y_true: Any, y_pred: Any) -> Any:
        return tf.cast(
            tf.equal(tf.argmax(y_true[:, :classes], -1), tf.argmax(y_pred, -1)), tf.float32
        )

    _fine_tune(student, x, targets, opts, progress, "distill", loss, metrics=[acc])
    return student


def copy_model(model: Any) -> Any:
    """A second model with the same architecture and the same weights (nothing shared)."""
    copy = _clone(model, None)
    copy.set_weights(model.get_weights())
    return copy


def train_on_labels(
    student: Any,
    x: list[np.ndarray],
    y: np.ndarray,
    opts: CompressOptions,
    progress: ProgressLog,
) -> Any:
    """The label-only baseline: train ``student`` (a copy of the distilled student before
    distillation) on the true labels alone, with the baseline's own learning rate."""
    loss = classification_loss(outputs_probabilities(student, x))
    _fine_tune(student, x, y, opts, progress, "baseline", loss)
    return student


@dataclass(frozen=True)
class PruneSteps:
    """The schedule actually used, derived from the data size and epochs."""

    total_steps: int
    end_step: int
    frequency: int

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total_steps, "end": self.end_step, "frequency": self.frequency}


def prune_steps(samples: int, opts: CompressOptions) -> PruneSteps:
    """Begin at 0, reach the target sparsity at ~70% of training, then fine-tune with it fixed.

    Raises:
        ConfigError: too few training steps for a schedule to reach its target.
    """
    total = math.ceil(samples / opts.batch_size) * opts.epochs
    if total < 2:
        raise ConfigError(
            f"Pruning needs at least 2 training steps; {samples} samples in batches of "
            f"{opts.batch_size} for {opts.epochs} epoch(s) give {total} "
            "(use more epochs or a smaller batch size)"
        )
    if opts.schedule is PruneSchedule.CONSTANT:
        return PruneSteps(total, -1, max(1, total // 10))
    end = max(1, int((total - 1) * 0.7))
    frequency = max(1, end // 10)
    return PruneSteps(total, (end // frequency) * frequency, frequency)


def prune(
    model: Any,
    x: list[np.ndarray],
    y: np.ndarray,
    opts: CompressOptions,
    progress: ProgressLog,
    layer_sparsity: dict[str, float] | None = None,
) -> tuple[Any, list[str], PruneSteps]:
    """Magnitude pruning to ``opts.prune`` sparsity (or each layer to its own sparsity in
    ``layer_sparsity``; a layer at 0 stays dense); returns the stripped model and pruned
    layers."""
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
        PruneRegistry,
    )

    sparsity = tfmot.sparsity.keras
    # Wrappers take over the layers' kernels: call the bare model only before wrapping.
    loss = classification_loss(outputs_probabilities(model, x))
    steps = prune_steps(len(y), opts)
    assert opts.prune is not None

    def schedule(target: float) -> Any:
        if opts.schedule is PruneSchedule.CONSTANT:
            return sparsity.ConstantSparsity(target, begin_step=0, frequency=steps.frequency)
        return sparsity.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=target,
            begin_step=0,
            end_step=steps.end_step,
            frequency=steps.frequency,
        )

    targets = layer_sparsity or {}
    dense = tuple(name for name, target in targets.items() if target <= 0)
    wrapped, pruned = _wrap_layers(
        model,
        PruneRegistry._LAYERS_WEIGHTS_MAP,
        opts.skip_layers + dense,
        lambda layer: sparsity.prune_low_magnitude(
            layer, pruning_schedule=schedule(targets.get(layer.name, opts.prune))
        ),
        "prune",
    )
    _fine_tune(
        wrapped, x, y, opts, progress, "prune", loss, callbacks=(sparsity.UpdatePruningStep(),)
    )
    return sparsity.strip_pruning(wrapped), pruned, steps


def cluster(
    model: Any,
    x: list[np.ndarray],
    y: np.ndarray,
    opts: CompressOptions,
    progress: ProgressLog,
    preserve_sparsity: bool,
) -> tuple[Any, list[str]]:
    """Weight clustering to ``opts.cluster`` values per kernel; returns the stripped model."""
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.clustering.keras.clustering_registry import (
        ClusteringRegistry,
    )
    from tensorflow_model_optimization.python.core.clustering.keras.experimental import (
        cluster as sparsity_preserving,
    )

    clustering = tfmot.clustering.keras
    loss = classification_loss(outputs_probabilities(model, x))
    cluster_weights = (
        sparsity_preserving.cluster_weights if preserve_sparsity else clustering.cluster_weights
    )
    extra = {"preserve_sparsity": True} if preserve_sparsity else {}
    # Layers are wrapped as they are, trained weights included: centroids come from them.
    wrapped, clustered = _wrap_layers(
        model,
        ClusteringRegistry._LAYERS_WEIGHTS_MAP,
        opts.skip_layers,
        lambda layer: cluster_weights(
            layer,
            number_of_clusters=opts.cluster,
            cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
            **extra,
        ),
        "cluster",
    )
    _fine_tune(wrapped, x, y, opts, progress, "cluster", loss)
    return clustering.strip_clustering(wrapped), clustered


def _scheme(pruned: bool, clustered: bool) -> Any:
    import tensorflow_model_optimization as tfmot

    quant = tfmot.quantization.keras
    if clustered:
        from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve.default_8bit_cluster_preserve_quantize_scheme import (  # noqa: E501
            Default8BitClusterPreserveQuantizeScheme,
        )

        return Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=pruned)
    if pruned:
        return quant.collab_opts.Default8BitPrunePreserveQuantizeScheme()
    return quant.default_8bit.Default8BitQuantizeScheme()


def build_qat(model: Any, skip: tuple[str, ...], scheme: Any) -> Any:
    """Annotate every layer but the skipped ones and apply the scheme (fake-quant wrappers).

    Raises:
        ModelError: tfmot cannot quantize a layer; names it.
    """
    import tensorflow_model_optimization as tfmot

    quant = tfmot.quantization.keras

    def annotate(layer: Any) -> Any:
        if layer.name in skip or isinstance(layer, _input_layer_type()):
            return layer
        return quant.quantize_annotate_layer(layer)

    annotated = _clone(model, annotate)
    try:
        with quant.quantize_scope():
            return quant.quantize_apply(annotated, scheme)
    except (ValueError, RuntimeError, TypeError) as e:
        match = re.search(r"[Ll]ayer:? ?([\w/.-]+):?\s*<class '[\w.]*\.(\w+)'>", str(e))
        what = f"{match.group(1)} ({match.group(2)})" if match else str(e).splitlines()[0]
        raise ModelError(
            f"Quantization-aware training does not support layer {what}; {_WHAT_TO_DO}"
        ) from e


def qat(
    model: Any,
    x: list[np.ndarray],
    y: np.ndarray,
    opts: CompressOptions,
    progress: ProgressLog,
    pruned: bool,
    clustered: bool,
) -> Any:
    """Quantization-aware training; keeps sparsity and clusters when they were applied."""
    loss = classification_loss(outputs_probabilities(model, x))
    qat_model = build_qat(model, opts.skip_layers, _scheme(pruned, clustered))
    _fine_tune(qat_model, x, y, opts, progress, "qat", loss)
    return qat_model


def _input_layer_type() -> Any:
    import tf_keras

    return tf_keras.layers.InputLayer

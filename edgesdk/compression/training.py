"""Training helpers shared by the compression techniques (tf_keras, inside the worker)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import ModelError


def classes_of(model: Any, what: str) -> int:
    """The number of classes of a single-output classifier.

    Raises:
        ModelError: the model has several outputs or its output is not (N, classes >= 2).
    """
    outputs = model.outputs
    shape = tuple(outputs[0].shape) if len(outputs) == 1 else ()
    if len(outputs) != 1 or len(shape) != 2 or shape[-1] is None or int(shape[-1]) < 2:
        shapes = [tuple(o.shape) for o in outputs]
        raise ModelError(
            f"{what} is not a classifier: its outputs have shapes {shapes} "
            "(expected one output of shape (N, classes) with at least 2 classes)"
        )
    return int(shape[-1])


def outputs_probabilities(model: Any, x: list[np.ndarray]) -> bool:
    """Whether the model ends in a softmax (rows of non-negative values summing to 1)."""
    sample = [a[:64] for a in x]
    out = np.asarray(model(sample if len(sample) > 1 else sample[0], training=False))
    return bool(np.all(out >= -1e-6) and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))


def accuracy(model: Any, x: list[np.ndarray], y: np.ndarray, batch_size: int = 256) -> float:
    """Top-1 accuracy as a fraction in [0, 1]."""
    out = model.predict(x if len(x) > 1 else x[0], batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(out, axis=-1) == y))


class ProgressLog:
    """Appends training progress as JSON lines to a file the caller polls."""

    def __init__(self, path: Path | None):
        self.path = path

    def emit(self, **event: Any) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def callback(self, stage: str, epochs: int, steps: int) -> Any:
        """A tf_keras callback reporting every few batches and each epoch."""
        import tf_keras

        log = self
        every = max(1, steps // 20)

        class _Callback(tf_keras.callbacks.Callback):
            epoch = 0

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.epoch = epoch

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if (batch + 1) % every == 0 or batch + 1 == steps:
                    log.emit(
                        stage=stage,
                        done=self.epoch * steps + batch + 1,
                        total=epochs * steps,
                        loss=float((logs or {}).get("loss", math.nan)),
                    )

        return _Callback()


def fit(
    model: Any,
    x: list[np.ndarray],
    y: np.ndarray,
    *,
    stage: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: ProgressLog,
    loss: Any,
    metrics: list[Any] | None = None,
    callbacks: tuple[Any, ...] = (),
) -> None:
    """Compile with Adam and train, reporting progress; ``seed`` fixes the shuffles and
    dropout, so two stages given the same seed see the same batches."""
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    steps = math.ceil(len(y) / batch_size)
    model.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=metrics or [],
    )
    model.fit(
        x if len(x) > 1 else x[0],
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[*callbacks, progress.callback(stage, epochs, steps)],
    )


def classification_loss(probabilities: bool) -> Any:
    import tf_keras

    return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)

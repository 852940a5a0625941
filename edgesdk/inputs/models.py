"""Loading float models: Keras 3 ``.keras``, legacy ``.h5`` and SavedModel directories (the
front ends that pick a loader are :mod:`edgesdk.inputs.frontends`)."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import TensorSpec
from edgesdk.errors import ModelError
from edgesdk.tflite.runner import natural_key

log = logging.getLogger(__name__)


def model_kind(path: str | Path) -> str:
    """Which kind of float model lives at ``path`` (cheap; no TensorFlow import): the value of
    :class:`edgesdk.inputs.frontends.ModelKind`.

    Raises:
        ModelError: missing, or no front end reads it.
    """
    from edgesdk.inputs.frontends import recognise

    return recognise(path).value


_EXPORTS: list[str] = []


def cleanup_exports() -> None:
    """Remove the temporary SavedModel exports made for conversion."""
    while _EXPORTS:
        shutil.rmtree(_EXPORTS.pop(), ignore_errors=True)


atexit.register(cleanup_exports)


@dataclass
class FloatModel:
    """A loaded float model: its inputs and outputs, a predict function, a converter factory."""

    path: Path
    kind: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    predict_fn: Callable[[dict[str, np.ndarray]], list[np.ndarray]]
    converter_fn: Callable[[], Any]
    keras_model: Any = None
    loader: str = "keras"
    framework: str = "tensorflow"
    torch_module: Any = None  # the PyTorch float model (torch front ends)
    layout: str | None = None  # "NCHW" when the .tflite takes the inputs as NHWC

    def predict(self, arrays: dict[str, np.ndarray], batch_size: int = 256) -> list[np.ndarray]:
        """Float outputs, in output order, for a dict of input arrays."""
        count = len(next(iter(arrays.values())))
        parts: list[list[np.ndarray]] = []
        for start in range(0, count, batch_size):
            batch = {k: v[start : start + batch_size] for k, v in arrays.items()}
            parts.append(self.predict_fn(batch))
        return [np.concatenate([p[i] for p in parts]) for i in range(len(self.outputs))]

    def converter(self) -> Any:
        """A fresh ``tf.lite.TFLiteConverter`` for this model."""
        return self.converter_fn()


def _spec(name: str, shape: Any, dtype: Any) -> TensorSpec:
    dims = tuple(None if d is None else int(d) for d in shape)
    return TensorSpec(name=name, shape=dims, dtype=str(getattr(dtype, "name", dtype)))


def from_keras(model: Any, path: Path, kind: str = "keras", loader: str = "keras") -> FloatModel:
    """Wrap an in-memory Keras model (Keras 3, or tf_keras when ``loader`` says so)."""
    import tensorflow as tf

    inputs = [_spec(t.name, t.shape, t.dtype) for t in model.inputs]
    outputs = [_spec(t.name, t.shape, t.dtype) for t in model.outputs]
    names = [i.name for i in inputs]
    exported: list[str] = []

    def converter() -> Any:
        """Export the model once (as from_keras_model would each time), then convert from it."""
        if not exported:
            folder = tempfile.mkdtemp(prefix="edgesdk-export-")
            _EXPORTS.append(folder)
            if loader == "tf_keras":
                model.export(folder)  # tf_keras's export takes no verbose flag
            else:
                model.export(folder, verbose=False)
            exported.append(folder)
        return tf.lite.TFLiteConverter.from_saved_model(exported[0])

    def predict(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        feed = [batch[n] for n in names]
        out = model(feed if len(feed) > 1 else feed[0], training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o) for o in out]

    return FloatModel(
        path=path,
        kind=kind,
        inputs=inputs,
        outputs=outputs,
        predict_fn=predict,
        converter_fn=converter,
        keras_model=model,
        loader=loader,
    )


def load_saved_model(source: str, input_shape: tuple[int, ...] | None = None) -> FloatModel:
    """The SavedModel front end's loader (``input_shape`` is read from the model)."""
    return _from_saved_model(Path(source))


def load_keras_file(source: str, input_shape: tuple[int, ...] | None = None) -> FloatModel:
    """The ``.keras`` / ``.h5`` front ends' loader (``input_shape`` is read from the model)."""
    p = Path(source)
    loaded = load_keras(p)
    return from_keras(loaded.model, p, model_kind(p), loader=loaded.loader)


def _from_saved_model(path: Path) -> FloatModel:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:  # noqa: BLE001 - TensorFlow raises many types here
        raise ModelError(f"Cannot load SavedModel {path}: {type(e).__name__}: {e}") from e
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
        raise ModelError(
            f"SavedModel {path} has no 'serving_default' signature "
            f"(found: {sorted(signatures) or 'none'})"
        )
    fn = signatures["serving_default"]
    in_specs = fn.structured_input_signature[1]
    inputs = [_spec(k, v.shape, v.dtype) for k, v in sorted(in_specs.items())]
    out_names = sorted(fn.structured_outputs, key=natural_key)
    outputs = [
        _spec(k, fn.structured_outputs[k].shape, fn.structured_outputs[k].dtype) for k in out_names
    ]

    def predict(batch: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = fn(**{k: tf.constant(v) for k, v in batch.items()})
        return [np.asarray(result[k]) for k in out_names]

    return FloatModel(
        path=path,
        kind="saved_model",
        loader="saved_model",
        inputs=inputs,
        outputs=outputs,
        predict_fn=predict,
        converter_fn=lambda: tf.lite.TFLiteConverter.from_saved_model(str(path)),
    )


def load_float_model(path: str | Path, input_shape: tuple[int, ...] | None = None) -> FloatModel:
    """Load a float model through its front end (imports TensorFlow or torch).

    Args:
        path: a model file or folder, or a PyTorch ``module:function``.
        input_shape: the input shape (batch first) where the model cannot tell it.

    Raises:
        ModelError: the file is missing or cannot be loaded as a model.
    """
    from edgesdk.inputs.frontends import frontend_for

    return frontend_for(path).load(str(path), input_shape)


@dataclass(frozen=True)
class LoadedKeras:
    """A Keras model and the loader that read it: ``keras`` (Keras 3) or ``tf_keras`` (legacy)."""

    model: Any
    loader: str


def load_keras(path: str | Path) -> LoadedKeras:
    """A ``.keras`` or ``.h5`` file, uncompiled: Keras 3 first, then tf_keras for files saved by
    Keras 2.x whose layer configs Keras 3 refuses (e.g. ``DepthwiseConv2D`` with ``groups``).

    Raises:
        ModelError: neither loader can read the file (both attempts named), or no Keras model.
    """
    import keras

    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises many types for bad files
        first = f"{type(e).__name__}: {_first_line(e)}"
        try:
            import tf_keras

            model = tf_keras.models.load_model(str(path), compile=False)
        except Exception as e2:  # noqa: BLE001 - so does tf_keras
            raise ModelError(
                f"Cannot load Keras model {path}: Keras 3 failed ({first}); tf_keras failed "
                f"({type(e2).__name__}: {_first_line(e2)})"
            ) from e2
        if not isinstance(model, tf_keras.Model):
            raise ModelError(f"{path} holds a {type(model).__name__}, not a Keras model") from e
        log.info("%s: Keras 3 failed (%s); loaded with tf_keras", path, first)
        return LoadedKeras(model, "tf_keras")
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path} holds a {type(model).__name__}, not a Keras model")
    return LoadedKeras(model, "keras")


def load_keras_model(path: str | Path) -> Any:
    """:func:`load_keras`, the model only."""
    return load_keras(path).model


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else "no message"

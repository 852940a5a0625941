"""Loading float models: Keras 3 ``.keras``, legacy ``.h5`` and SavedModel directories."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import TensorSpec
from edgesdk.errors import ModelError
from edgesdk.tflite.runner import natural_key

log = logging.getLogger(__name__)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def model_kind(path: str | Path) -> str:
    """Which kind of float model lives at ``path`` (cheap; no TensorFlow import).

    Raises:
        ModelError: missing, or not a ``.keras``/``.h5`` file or SavedModel directory.
    """
    p = Path(path)
    expected = "expected a Keras .keras file, a legacy .h5 file or a SavedModel directory"
    if not p.exists():
        raise ModelError(f"Model not found: {p} ({expected})")
    if p.is_dir():
        if (p / "saved_model.pb").is_file():
            return "saved_model"
        raise ModelError(f"Not a SavedModel directory (no saved_model.pb): {p} ({expected})")
    suffix = p.suffix.lower()
    with p.open("rb") as f:
        head = f.read(8)
    if suffix == ".keras":
        if zipfile.is_zipfile(p):
            return "keras"
        raise ModelError(f"Not a Keras model: {p} is not a .keras archive ({expected})")
    if suffix in (".h5", ".hdf5"):
        if head == _HDF5_MAGIC:
            return "h5"
        raise ModelError(f"Not a Keras model: {p} is not an HDF5 file ({expected})")
    if suffix == ".tflite":
        raise ModelError(f"{p} is already a .tflite model ({expected})")
    raise ModelError(f"Unsupported model file {p} ({expected})")


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


def load_float_model(path: str | Path) -> FloatModel:
    """Load a float model (imports TensorFlow).

    Raises:
        ModelError: the file is missing or cannot be loaded as a model.
    """
    p = Path(path)
    kind = model_kind(p)
    if kind == "saved_model":
        return _from_saved_model(p)
    loaded = load_keras(p)
    return from_keras(loaded.model, p, kind, loader=loaded.loader)


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

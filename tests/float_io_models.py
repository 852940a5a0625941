"""Models with float I/O as third parties publish them: a small Keras CNN trained on scikit-learn
digits, converted to full int8 with ``inference_input_type``/``inference_output_type`` left
float32 (QUANTIZE and DEQUANTIZE ops at the edges), and its relatives: the same converter run
with int8 I/O, the float model, a 16x8 model (edges to int16) and one with a float island."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cnn(x_train: np.ndarray, y_train: np.ndarray, sin: bool = False):
    import keras

    keras.utils.set_random_seed(7)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    if sin:  # SIN has no int8 kernel: the converter leaves it in float
        x = keras.layers.Lambda(keras.ops.sin)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    return model


def _converter(model, x_train: np.ndarray, ops):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x_train[i : i + 1]] for i in range(100))
    converter.target_spec.supported_ops = ops
    return converter


def build_float_io_models(folder: Path, x_train: np.ndarray, y_train: np.ndarray) -> dict:
    """Write the models into ``folder``; returns name -> path.

    ``float_io``: int8 inside, float32 I/O (the inference types left at their default);
    ``int8_io``: the same with int8 I/O; ``float``: not quantized; ``int16_edges``: 16x8 with
    float I/O (its QUANTIZE gives int16); ``float_island``: float I/O and a float SIN inside.
    """
    import tensorflow as tf

    model = _cnn(x_train, y_train)
    int8_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    paths = {name: folder / f"{name}.tflite" for name in
             ("float_io", "int8_io", "float", "int16_edges", "float_island")}  # fmt: skip
    converter = _converter(model, x_train, int8_ops)
    paths["float_io"].write_bytes(converter.convert())
    converter.inference_input_type = converter.inference_output_type = tf.int8
    paths["int8_io"].write_bytes(converter.convert())
    paths["float"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    int16 = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    paths["int16_edges"].write_bytes(_converter(model, x_train, int16).convert())
    island = _cnn(x_train, y_train, sin=True)
    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    paths["float_island"].write_bytes(_converter(island, x_train, builtins).convert())
    return paths

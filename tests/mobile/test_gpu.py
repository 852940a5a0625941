"""The GPU-delegate check: per-op placement and partitions from the rules kept as data."""

from __future__ import annotations

import pytest

from edgesdk.errors import ConfigError
from edgesdk.mobile.gpu import check_gpu, load_rules


def _float16(model) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _cnn(middle=None):
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3), batch_size=1)  # a fixed batch: a static RESHAPE
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, activation="relu6")(x)
    if middle is not None:
        x = middle(x)
    x = keras.layers.Conv2D(8, 1)(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def whole() -> bytes:
    return _float16(_cnn())


@pytest.fixture(scope="module")
def split() -> bytes:
    import keras

    return _float16(_cnn(keras.layers.Lambda(lambda t: keras.ops.floor(t))))


def test_supported_model_is_one_gpu_partition(whole):
    report = check_gpu(whole)
    ops = {op.op for op in report.ops}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"} <= ops
    assert "DEQUANTIZE" in ops  # float16 weights are dequantized on the GPU
    assert report.fully_delegated and len(report.partitions) == 1
    assert report.delegated_ops == len(report.ops)


def test_unsupported_op_falls_back_and_splits(split):
    report = check_gpu(split)
    cpu = [op for op in report.ops if not op.gpu]
    assert [op.op for op in cpu] == ["FLOOR"]
    assert "not in the GPU delegate's op list" in cpu[0].reason
    assert len(report.partitions) == 2 and not report.fully_delegated
    # only the largest partition is delegated with the default options
    assert report.delegated_ops == max(len(p) for p in report.partitions) < len(report.ops) - 1
    data = report.to_dict()
    assert data["cpu_ops"] == 1 and data["partitions"] == 2


def test_rules_are_the_data(whole):
    """The placement follows gpu_ops.toml: drop an op from it and that op leaves the GPU."""
    from importlib import resources

    text = (resources.files("edgesdk.mobile") / "gpu_ops.toml").read_text()
    assert "[ops.DEPTHWISE_CONV_2D]" in text
    rules = load_rules(text.replace("[ops.DEPTHWISE_CONV_2D]\n", ""))
    report = check_gpu(whole, rules)
    assert [op.op for op in report.ops if not op.gpu] == ["DEPTHWISE_CONV_2D"]
    assert len(report.partitions) == 2
    relu_only = load_rules(text.replace('"RELU6", ', ""))
    moved = [op for op in check_gpu(whole, relu_only).ops if not op.gpu]
    assert [op.op for op in moved] == ["DEPTHWISE_CONV_2D"] and "RELU6" in moved[0].reason
    with pytest.raises(ConfigError, match="Invalid GPU delegate rules"):
        load_rules("schema_version = 1\n")

"""Tiny int8 models built in code (seeded) for the standalone engine's tests, cached on disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CACHE = (
    Path(os.environ.get("EDGESDK_CACHE", Path.home() / ".cache" / "edgesdk")) / "standalone-models"
)
VERSION = "3"  # bump when a builder changes


def convert(model: Any, shape: tuple[int, ...], per_channel: bool = True, data: str = "normal",
            float_io: bool = False, seed: int = 0) -> bytes:  # fmt: skip
    """Full-integer int8 conversion with a seeded representative dataset.

    ``data``: "normal", "positive" (input zero point -128) or "negative" (zero point 127).
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(64, *shape)).astype(np.float32)
    if data == "positive":
        samples = np.abs(samples)
    elif data == "negative":
        samples = -np.abs(samples)

    def rep():
        for s in samples:
            yield [s[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if not per_channel:
        conv._experimental_disable_per_channel = True
    return conv.convert()


def cached(key: str, build: Callable[[], bytes]) -> bytes:
    """The model for ``key`` from the cache, else built and stored (atomically)."""
    digest = hashlib.sha256(f"{VERSION}:{key}".encode()).hexdigest()[:16]
    path = CACHE / f"{digest}.tflite"
    if path.is_file():
        return path.read_bytes()
    data = build()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return data


def single_layer(layer: Callable[[], Any], shape: tuple[int, ...], seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer()(inputs))


def _k():
    import keras

    return keras


# name -> (builder of a Keras model, input shape, conversion options)
def op_cases() -> dict[str, tuple[Callable[[], Any], tuple[int, ...], dict[str, Any]]]:
    L = _k().layers
    return {
        "conv_same_relu": (
            lambda: single_layer(
                lambda: L.Conv2D(8, 3, padding="same", activation="relu"), (9, 7, 3)
            ),
            (9, 7, 3),
            {},
        ),
        "conv_valid_stride2": (
            lambda: single_layer(lambda: L.Conv2D(6, (3, 2), strides=2), (11, 9, 4)),
            (11, 9, 4),
            {},
        ),
        "conv_same_stride2_relu6": (
            lambda: single_layer(
                lambda: L.Conv2D(5, 5, strides=2, padding="same", activation="relu6"), (10, 9, 2)
            ),
            (10, 9, 2),
            {},
        ),
        # the converter lowers dilation to SPACE_TO_BATCH_ND: hand-set on a SAME stride-1 conv
        "conv_dilation": (
            lambda: single_layer(lambda: L.Conv2D(4, 3, padding="same"), (9, 9, 3)),
            (9, 9, 3),
            {"dilation": (2, 3)},
        ),
        "conv_per_tensor": (
            lambda: single_layer(lambda: L.Conv2D(8, 3, padding="same"), (8, 8, 3)),
            (8, 8, 3),
            {"per_channel": False},
        ),
        "conv_1x1_zp_min": (
            lambda: single_layer(lambda: L.Conv2D(16, 1, activation="relu"), (6, 6, 8)),
            (6, 6, 8),
            {"data": "positive"},
        ),
        "conv_zp_max": (
            lambda: single_layer(lambda: L.Conv2D(4, 3, padding="same"), (6, 6, 2)),
            (6, 6, 2),
            {"data": "negative"},
        ),
        "dwconv_same_stride2_mult2": (
            lambda: single_layer(
                lambda: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
                (9, 8, 3),
            ),
            (9, 8, 3),
            {},
        ),
        "dwconv_dilation_relu": (
            lambda: single_layer(
                lambda: L.DepthwiseConv2D(3, padding="same", activation="relu"), (10, 10, 4)
            ),
            (10, 10, 4),
            {"dilation": (3, 2)},
        ),
        "dwconv_per_tensor": (
            lambda: single_layer(lambda: L.DepthwiseConv2D(3, padding="same"), (7, 7, 5)),
            (7, 7, 5),
            {"per_channel": False},
        ),
        "dense_relu": (
            lambda: single_layer(lambda: L.Dense(12, activation="relu"), (20,)),
            (20,),
            {},
        ),
        "dense_per_tensor": (
            lambda: single_layer(lambda: L.Dense(9), (17,)),
            (17,),
            {"per_channel": False},
        ),
        "avgpool_same_stride2": (
            lambda: single_layer(
                lambda: L.AveragePooling2D(3, strides=2, padding="same"), (9, 7, 4)
            ),
            (9, 7, 4),
            {},
        ),
        "maxpool_valid": (
            lambda: single_layer(lambda: L.MaxPooling2D(2), (8, 6, 3)),
            (8, 6, 3),
            {},
        ),
        "global_avgpool": (
            lambda: single_layer(lambda: L.GlobalAveragePooling2D(), (5, 6, 7)),
            (5, 6, 7),
            {},
        ),
        "mean_same_quant": (
            lambda: single_layer(lambda: L.GlobalAveragePooling2D(), (5, 3, 6)),
            (5, 3, 6),
            {"same_quant": True},
        ),
        "mean_large": (  # 289 values a channel: more than one 16-bit lane's 256
            lambda: single_layer(lambda: L.GlobalAveragePooling2D(), (17, 17, 5)),
            (17, 17, 5),
            {},
        ),
        "mean_keepdims": (
            lambda: single_layer(lambda: L.GlobalAveragePooling2D(keepdims=True), (4, 4, 6)),
            (4, 4, 6),
            {},
        ),
        "softmax": (lambda: single_layer(lambda: L.Softmax(), (13,)), (13,), {}),
        "sigmoid": (lambda: single_layer(lambda: L.Activation("sigmoid"), (4, 5)), (4, 5), {}),
        # hand-built: the converter folds int8 requantization away
        "requantize": (
            lambda: single_layer(lambda: L.Activation("sigmoid"), (4, 5)),
            (4, 5),
            {"requantize": True},
        ),
        "zero_padding": (
            lambda: single_layer(lambda: L.ZeroPadding2D(((1, 2), (2, 0))), (4, 5, 3)),
            (4, 5, 3),
            {},
        ),
        "float_io": (lambda: single_layer(lambda: L.Dense(6), (10,)), (10,), {"float_io": True}),
        "add_mul_concat": (_add_mul_concat, (6, 5, 4), {}),
        "in_place_chain": (_in_place_chain, (9, 7, 3), {}),
        "residual_rows": (_residual_rows, (9, 7, 3), {}),
        "residual_not_fused": (_residual_not_fused, (6, 5, 4), {}),
        "residual_pointwise": (_residual_pointwise, (5, 4, 7), {}),
    }


def _add_mul_concat() -> Any:
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(1)
    x = keras.Input((6, 5, 4))
    a = L.Conv2D(4, 1)(x)
    b = L.Conv2D(4, 1)(x)
    s = L.Add()([a, b])
    m = L.Multiply()([a, b])
    r = L.ReLU()(L.Add()([s, x]))
    out = L.Concatenate()([r, m, L.Reshape((6, 5, 4))(L.Reshape((120,))(s))])
    return keras.Model(x, out)


def _in_place_chain() -> Any:
    """Ops the planner runs over their own input: a 5x5 depthwise (a ring of 3 saved rows),
    a widening and a narrowing pointwise convolution."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(2)
    x = keras.Input((9, 7, 3))
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(5, padding="same")(y)
    y = L.Conv2D(20, 1, activation="relu6")(y)
    y = L.Conv2D(6, 1)(y)
    return keras.Model(x, L.Conv2D(4, 3, strides=2)(y))


def digits_cnn() -> Any:
    from edgesdk.demos.digits import build_digits_cnn

    return build_digits_cnn(seed=0)


def ds_cnn() -> Any:
    """A keyword-spotting DS-CNN look-alike (MLPerf Tiny KWS shape, scaled down)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(3)
    inputs = keras.Input((49, 10, 1))
    x = L.Conv2D(32, (10, 4), strides=2, padding="same")(inputs)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(2):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(32, 1)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D((25, 5))(x)
    x = L.Reshape((32,))(x)
    return keras.Model(inputs, L.Dense(12, activation="softmax")(x))


def mobilenet_vww() -> Any:
    """A MobileNet-style visual-wake-words look-alike: ReLU6, stride-2 depthwise, a residual."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(4)
    inputs = keras.Input((24, 24, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inputs)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    y = L.Conv2D(16, 1)(x)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    y = L.Conv2D(16, 1)(y)
    x = L.Add()([x, y])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax")(x))


def resnet_like() -> Any:
    """A ResNet-style image classifier look-alike: conv blocks with ADD skips, max pooling."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 3))
    x = L.Conv2D(12, 3, padding="same", activation="relu")(inputs)
    x = L.MaxPooling2D(2)(x)
    for _ in range(2):
        y = L.Conv2D(12, 3, padding="same", activation="relu")(x)
        y = L.Conv2D(12, 3, padding="same")(y)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.Conv2D(24, 3, strides=2, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, activation="softmax")(x))


def autoencoder() -> Any:
    """A fully-connected autoencoder look-alike (anomaly detection, MLPerf Tiny AD shape)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(6)
    inputs = keras.Input((64,))
    x = L.Dense(32, activation="relu")(inputs)
    x = L.Dense(8, activation="relu")(x)
    x = L.Dense(32, activation="relu")(x)
    return keras.Model(inputs, L.Dense(64, activation="sigmoid")(x))


def vww_stem() -> Any:
    """The VWW look-alike's first blocks at a small size: a 3-channel input read by a stride-2
    3x3 convolution, a widening pointwise, a stride-2 depthwise (the plan puts the input inside
    the first convolution's output: layers.row_overlay_shift)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(7)
    inputs = keras.Input((24, 20, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(inputs)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = L.Conv2D(16, 1, activation="relu6")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(24, 1, activation="relu6")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax")(x))


def resnet_blocks() -> Any:
    """The ResNet-8 look-alike's stacks at a small size: a stride-1 block (two 3x3 convolutions,
    ADD) and a stride-2 block with a 1x1 stride-2 shortcut; 3x3 convolutions run over their
    own input (layers.row_overlay_shift)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(8)
    inputs = keras.Input((14, 12, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same")(y)
    x = L.ReLU()(L.Add()([x, y]))
    y = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    y = L.Conv2D(16, 3, padding="same")(y)
    s = L.Conv2D(16, 1, strides=2)(x)
    x = L.ReLU()(L.Add()([s, y]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, activation="softmax")(x))


def vww_mobilenet() -> Any:
    """A MobileNet-v1-style visual-wake-words net at benchmark size (MLPerf Tiny VWW shape:
    96x96x3, width multiplier 0.25: 8 to 256 channels, 13 depthwise-separable blocks, four of
    them with a stride-2 depthwise step, global average pool, 2 classes)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((96, 96, 3))
    # He init, fan-in 9 for the depthwise kernels (Keras counts 9 x channels): the default
    # init shrinks the activations 2-8x per layer; by the 10th block they were all 0, the softmax
    # input scale 7.8e-9, on which LiteRT's reference SOFTMAX aborts the process
    # (PreprocessSoftmaxScaling: a multiplier <= 1)
    he = "he_normal"
    dw_init = keras.initializers.RandomNormal(stddev=(2 / 9) ** 0.5)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6", kernel_initializer=he)(inputs)
    blocks = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), *[(128, 1)] * 5,
              (256, 2), (256, 1))  # fmt: skip
    for filters, stride in blocks:
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6",
                              depthwise_initializer=dw_init)(x)  # fmt: skip
        x = L.Conv2D(filters, 1, activation="relu6", kernel_initializer=he)(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(2, activation="softmax")(x))


def resnet8_cifar() -> Any:
    """A ResNet-8-style CIFAR-10 classifier (MLPerf Tiny IC shape: 32x32x3, a 16-channel stem,
    three residual stacks of 16, 32 and 64 channels with ADD skips, the last two entered with
    stride 2 and a 1x1 stride-2 shortcut, 8x8 average pool, 10 classes)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(10)
    inputs = keras.Input((32, 32, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = L.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
        y = L.Conv2D(filters, 3, padding="same")(y)
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride)(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(8)(x)
    x = L.Flatten()(x)
    return keras.Model(inputs, L.Dense(10, activation="softmax")(x))


def fc_autoencoder() -> Any:
    """A fully-connected autoencoder at benchmark size (MLPerf Tiny anomaly-detection input:
    640 features; hidden 128-8-128, ReLU; 640 linear outputs)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(11)
    inputs = keras.Input((640,))
    x = L.Dense(128, activation="relu")(inputs)
    x = L.Dense(8, activation="relu")(x)
    x = L.Dense(128, activation="relu")(x)
    return keras.Model(inputs, L.Dense(640)(x))


WHOLE_MODELS: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "digits_cnn": (digits_cnn, (8, 8, 1)),
    "ds_cnn": (ds_cnn, (49, 10, 1)),
    "mobilenet_vww": (mobilenet_vww, (24, 24, 3)),
    "resnet_like": (resnet_like, (16, 16, 3)),
    "autoencoder": (autoencoder, (64,)),
    "vww_stem": (vww_stem, (24, 20, 3)),
    "resnet_blocks": (resnet_blocks, (14, 12, 3)),
}
# benchmark-sized look-alikes (benchmarks/standalone_vs_cmsis_nn.py): whole_model builds them,
# the tests that run every WHOLE_MODELS entry on every core do not (too big for the M0 profile
# of the tests, and slow); tests/firmware/test_benchmark_models.py checks them on the host
BENCH_MODELS: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "vww_mobilenet": (vww_mobilenet, (96, 96, 3)),
    "resnet8_cifar": (resnet8_cifar, (32, 32, 3)),
    "fc_autoencoder": (fc_autoencoder, (640,)),
}


def two_in_two_out() -> bytes:
    """Two inputs and two outputs (the C signature takes both, in the graph's order)."""
    import tensorflow as tf

    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(7)
    a, b = keras.Input((6,), name="a"), keras.Input((4, 4, 2), name="b")
    x = L.Dense(8, activation="relu")(a)
    y = L.Reshape((32,))(L.Conv2D(2, 3, padding="same")(b))
    out1 = L.Dense(3, activation="softmax", name="probs")(L.Concatenate()([x, y]))
    out2 = L.Dense(5, name="aux")(x)
    model = keras.Model([a, b], [out1, out2])
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(32):
            yield {"a": rng.normal(size=(1, 6)).astype(np.float32),
                   "b": rng.normal(size=(1, 4, 4, 2)).astype(np.float32)}  # fmt: skip

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def two_branches() -> Any:
    """Two wide branches from one input (see :func:`interleaved`)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(8)
    inputs = keras.Input((16,))
    a = L.Dense(192, activation="relu")(inputs)
    b = L.Dense(160, activation="relu")(inputs)
    a = L.Dense(4)(a)
    b = L.Dense(4)(b)
    return keras.Model(inputs, L.Dense(3, activation="softmax")(L.Concatenate()([a, b])))


def interleaved(model: bytes) -> bytes:
    """``model`` with the ops that read the model's input moved first (still a topological
    order, which LiteRT and TFLite Micro run as stored): on :func:`two_branches` both wide
    tensors are then alive at once; running one branch to its narrow end before starting the
    other lowers the peak (what the operator-order search must find)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    sg = m.subgraphs[0]
    first = [o for o in sg.operators if int(o.inputs[0]) in [int(x) for x in sg.inputs]]
    sg.operators = first + [o for o in sg.operators if not any(o is f for f in first)]
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def with_dilation(model: bytes, dilation: tuple[int, int]) -> bytes:
    """``model`` with its first op's dilation factors set (a SAME, stride-1 convolution keeps its
    output shape, so the graph stays valid)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    opts = m.subgraphs[0].operators[0].builtinOptions
    opts.dilationHFactor, opts.dilationWFactor = dilation
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def as_requantize(model: bytes) -> bytes:
    """``model`` (one LOGISTIC op) turned into an int8 -> int8 QUANTIZE (a requantization:
    input and output keep their different scales and zero points)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    code = m.operatorCodes[m.subgraphs[0].operators[0].opcodeIndex]
    code.builtinCode = schema.BuiltinOperator.QUANTIZE
    code.deprecatedBuiltinCode = min(schema.BuiltinOperator.QUANTIZE, 127)
    code.version = 2
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def with_output_quant_of_input(model: bytes) -> bytes:
    """``model`` (one op) with its output quantized like its input (MEAN then takes
    LiteRT's integer-average path)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    sg = m.subgraphs[0]
    op = sg.operators[0]
    src, dst = sg.tensors[op.inputs[0]].quantization, sg.tensors[op.outputs[0]].quantization
    dst.scale, dst.zeroPoint = src.scale, src.zeroPoint
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _residual_rows() -> Any:
    """Residual blocks the engine runs row by row (fuse.py): 3x3 with 5 channels in between and
    the skip as ADD's second input, then 5x5 with the skip first; the last block's output is
    the model's."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(9)
    inputs = keras.Input((9, 7, 3))
    x = L.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    y = L.Conv2D(5, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(6, 3, padding="same")(y)
    x = L.Add()([y, x])
    y = L.Conv2D(4, 5, padding="same", activation="relu6")(x)
    y = L.Conv2D(6, 5, padding="same")(y)
    return keras.Model(inputs, L.Add()([x, y]))


def _residual_pointwise() -> Any:
    """A residual block of two 1x1 convolutions (fused with the portable kernels: their 1x1
    kernel plans no gather buffer, the fused one needs it)."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(11)
    x = keras.Input((5, 4, 7))
    y = L.Conv2D(9, 1, padding="same", activation="relu")(x)
    y = L.Conv2D(7, 1, padding="same")(y)
    return keras.Model(x, L.Add()([x, y]))


def _residual_not_fused() -> Any:
    """A residual block whose first convolution's output is read again (by the concatenation):
    not fused."""
    keras = _k()
    L = keras.layers
    keras.utils.set_random_seed(10)
    x = keras.Input((6, 5, 4))
    a = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(4, 3, padding="same")(a)
    return keras.Model(x, L.Concatenate()([L.Add()([x, y]), a]))


def op_model(name: str) -> bytes:
    build, shape, opts = op_cases()[name]
    opts = dict(opts)
    dilation = opts.pop("dilation", None)
    requantize = opts.pop("requantize", False)
    same_quant = opts.pop("same_quant", False)

    def make() -> bytes:
        data = convert(build(), shape, **opts)
        if requantize:
            return as_requantize(data)
        if same_quant:
            return with_output_quant_of_input(data)
        return with_dilation(data, dilation) if dilation else data

    return cached(f"op:{name}", make)


def whole_model(name: str) -> bytes:
    if name == "two_in_two_out":
        return cached("model:two_in_two_out", two_in_two_out)
    if name == "two_branches":
        return cached(
            "model:two_branches:interleaved", lambda: interleaved(convert(two_branches(), (16,)))
        )
    build, shape = {**WHOLE_MODELS, **BENCH_MODELS}[name]
    return cached(f"model:{name}", lambda: convert(build(), shape))


def host_mismatches(
    model: bytes, folder: Path, kernels: str, in_place: bool, vectors: int,
    keep_scratch: bool = False,
) -> tuple[int, int]:  # fmt: skip
    """(differing, compared) output values of the model's C with ``kernels`` on the host (gcc,
    ASan + UBSan; the DSP set through its intrinsics' portable C) against BUILTIN_REF over
    ``vectors`` random inputs, through the copying or the in-place entry."""
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.firmware.standalone.export import random_vectors
    from edgesdk.firmware.standalone.hostrun import build_host, run_host
    from edgesdk.firmware.standalone.reference import reference_outputs

    compiled = compile_model(model, "m", kernels=kernels, keep_scratch=keep_scratch)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m_model.h").write_text(compiled.sources.header)
    (folder / "m_model.c").write_bytes(compiled.sources.source)
    exe = build_host(folder, "m", compiled.graph, sanitize=True)
    inputs = random_vectors(compiled.graph, vectors, 0)
    bad = total = 0
    for v, row in zip(
        inputs, run_host(exe, compiled.graph, inputs, in_place=in_place), strict=True
    ):
        for a, b in zip(row, reference_outputs(model, compiled.graph, v), strict=True):
            bad += int(np.count_nonzero(a.reshape(-1) != b.reshape(-1)))
            total += a.size
    return bad, total

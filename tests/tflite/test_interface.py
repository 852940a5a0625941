"""The int8-I/O rewrite of a model that is int8 inside with float I/O, on models the TFLite
converter made here, checked in LiteRT's reference kernels against the model as given."""

from __future__ import annotations

import numpy as np
import pytest
from float_io_models import build_float_io_models

from edgesdk.errors import ExportError
from edgesdk.tflite import interpreters
from edgesdk.tflite.interface import to_int8_io
from edgesdk.tflite.interface_check import check_rewrite, dequantize
from edgesdk.tflite.model_info import inspect_bytes


@pytest.fixture(scope="module")
def models(tmp_path_factory, digits):
    x_train, _, y_train, _ = digits
    return build_float_io_models(tmp_path_factory.mktemp("float_io"), x_train, y_train)


@pytest.fixture(scope="module")
def rewritten(models):
    data = models["float_io"].read_bytes()
    return data, *to_int8_io(data, inspect_bytes(data), "float_io.tflite")


def _samples(digits, edge, count=100):
    """Digits test images quantized with the rewritten input's scale and zero point."""
    _, x_test, _, _ = digits
    q = np.round(x_test[:count] / edge.scale) + edge.zero_point
    return [[np.clip(q[i : i + 1], -128, 127).astype(np.int8)] for i in range(count)]


def test_the_rewrite_gives_int8_io_with_the_removed_ops_scale_and_zero_point(rewritten):
    original, new, edges = rewritten
    before, after = inspect_bytes(original), inspect_bytes(new)
    sg0, sg1 = before.main, after.main
    quantize, dequantize_op = sg0.ops[0], sg0.ops[-1]
    assert (quantize.name, dequantize_op.name) == ("QUANTIZE", "DEQUANTIZE")
    assert [e.op for e in edges] == ["QUANTIZE", "DEQUANTIZE"]
    # the I/O tensors take the scale and zero point of the int8 side of the removed ops
    (inp,), (out,) = after.io_tensors()
    q_out, dq_in = sg0.tensor(quantize.outputs[0]), sg0.tensor(dequantize_op.inputs[0])
    assert inp.dtype == out.dtype == "int8"
    assert (inp.scale, inp.zero_point) == (q_out.scale, q_out.zero_point)
    assert (out.scale, out.zero_point) == (dq_in.scale, dq_in.zero_point)
    # and keep the float tensors' names; the edge ops are gone, nothing else changed
    (f_in,), (f_out,) = before.io_tensors()
    assert (inp.name, out.name) == (f_in.name, f_out.name)
    assert [o.name for o in sg1.ops] == [o.name for o in sg0.ops[1:-1]]
    assert len(sg1.tensors) == len(sg0.tensors) - 2
    assert not after.float_ops() and all(
        t.dtype not in ("float32",) for t in sg1.tensors if not t.is_constant
    )
    # LiteRT reads it through its signature, int8 in and out
    runner = interpreters.litert(new).get_signature_runner("serving_default")
    (name,) = runner.get_input_details()
    assert runner.get_input_details()[name]["dtype"] == np.int8
    (got,) = runner(**{name: np.zeros((1, 8, 8, 1), np.int8)}).values()
    assert got.dtype == np.int8 and got.shape == (1, 10)


def test_outputs_equal_the_original_after_dequantization(rewritten, digits):
    original, new, edges = rewritten
    samples = _samples(digits, edges[0])
    check = check_rewrite(original, new, edges, samples, "float_io.tflite")
    assert check.exact and check.samples == 100 and check.values == 1000
    assert check.max_abs_diff == 0.0 and check.max_lsb == 0
    # the check is not vacuous: the outputs vary across samples
    ref = interpreters.litert(new, interpreters.Kernels.REFERENCE)
    tops = set()
    for (x,) in samples[:20]:
        ref.set_tensor(ref.get_input_details()[0]["index"], x)
        ref.invoke()
        tops.add(int(np.argmax(ref.get_tensor(ref.get_output_details()[0]["index"]))))
    assert len(tops) > 3


def test_the_equality_check_fails_on_a_broken_rewrite(rewritten, digits):
    """Break the rewritten model once (its input scale halved): the check must refuse it."""
    from ai_edge_litert import schema_py_generated as s

    original, new, edges = rewritten
    tree = s.ModelT.InitFromObj(s.Model.GetRootAs(new, 0))
    sg = tree.subgraphs[0]
    q = sg.tensors[int(sg.inputs[0])].quantization
    q.scale = q.scale * 2
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), b"TFL3")
    broken = bytes(builder.Output())
    with pytest.raises(ExportError, match=r"does not compute what the original does: \d+ of"):
        check_rewrite(original, broken, edges, _samples(digits, edges[0]), "float_io.tflite")


def test_dequantize_is_what_tflite_computes(rewritten):
    original, _, edges = rewritten
    out = edges[1]
    q = np.arange(-128, 128, dtype=np.int8)
    want = (q.astype(np.float64) - out.zero_point) * float(np.float32(out.scale))
    assert np.array_equal(dequantize(q, out.scale, out.zero_point), want.astype(np.float32))


@pytest.mark.parametrize(
    "name,reason",
    [
        ("float", "feeds CONV_2D, not a single QUANTIZE op"),
        ("int16_edges", "gives int16, not int8"),
        ("float_island", "float ops inside the model: DEQUANTIZE (op 3), SIN (op 4)"),
    ],
)
def test_models_that_cannot_be_rewritten_are_refused(models, name, reason):
    data = models[name].read_bytes()
    with pytest.raises(ExportError, match="Cannot give") as e:
        to_int8_io(data, inspect_bytes(data), name)
    assert reason in str(e.value) and "\n" not in str(e.value)
    assert e.value.what == "io"


def test_a_model_with_int8_io_is_left_alone(models):
    data = models["int8_io"].read_bytes()
    assert to_int8_io(data, inspect_bytes(data), "int8_io") == (data, ())


def test_two_inputs_keep_their_order_scales_and_outputs(multi_input_model, tmp_path):
    """Two float inputs with very different ranges: each becomes int8 with its own QUANTIZE's
    scale, in the model's order, and the outputs still equal the original's."""
    import keras
    import tensorflow as tf

    path, npz = multi_input_model
    arrays = np.load(npz)
    model = keras.models.load_model(path, compile=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        {name: arrays[name][i : i + 1] for name in ("image", "meta")} for i in range(100)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    data = converter.convert()
    before = inspect_bytes(data)
    new, edges = to_int8_io(data, before, "two_inputs")
    assert [(e.side, e.position) for e in edges] == [("input", 0), ("input", 1), ("output", 0)]
    (in0, in1), (out,) = inspect_bytes(new).io_tensors()
    (f0, f1), _ = before.io_tensors()
    assert (in0.name, in1.name) == (f0.name, f1.name)
    assert [(in0.scale[0], in0.zero_point[0]), (in1.scale[0], in1.zero_point[0])] == [
        (e.scale, e.zero_point) for e in edges[:2]
    ]
    assert in0.scale[0] != in1.scale[0] and in0.dtype == in1.dtype == out.dtype == "int8"
    rng = np.random.default_rng(0)
    samples = [
        [rng.integers(-128, 128, size=t.shape, dtype=np.int8) for t in (in0, in1)]
        for _ in range(50)
    ]
    check = check_rewrite(data, new, edges, samples, "two_inputs")
    assert check.exact and check.values == 50 * 4

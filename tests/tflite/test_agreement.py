"""What LiteRT, TFLite Micro and the flatbuffer read from one .tflite, compared before values."""

from __future__ import annotations

import numpy as np
import pytest
from fuzzing import output_dim_plus_one

import edgesdk
from edgesdk.errors import EdgeSdkError, InconsistentModelError
from edgesdk.tflite.agreement import (
    check_agreement,
    check_declared_shapes,
    check_same_shapes,
    file_reading,
    litert_reading,
    micro_reading,
)
from edgesdk.tflite.micro import load_interpreter
from edgesdk.tflite.model_info import inspect_bytes


@pytest.fixture(scope="module")
def int8_bytes(tmp_path_factory, trained_cnn, digits_npz) -> bytes:
    out = tmp_path_factory.mktemp("agreement") / "cnn_int8.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, out, target="arduino-nano-33-ble")
    return out.read_bytes()


def _readings(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    ref = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    micro, _ = load_interpreter(model)
    return ref, [litert_reading(ref), micro_reading(micro), file_reading(inspect_bytes(model))]


def test_a_sound_model_reads_the_same_everywhere(int8_bytes):
    ref, readings = _readings(int8_bytes)
    check_agreement("m.tflite", readings)
    check_declared_shapes("m.tflite", inspect_bytes(int8_bytes), ref)
    litert, micro, file = readings
    assert [v.shape for v in micro.outputs] == [(1, 10)] and len(micro.inputs) == 1
    assert micro.outputs[0].dtype == "int8" and micro.outputs[0].scale == litert.outputs[0].scale


def test_a_damaged_output_shape_names_both_runtimes(int8_bytes):
    damaged = output_dim_plus_one(int8_bytes)
    ref, readings = _readings(damaged)
    with pytest.raises(InconsistentModelError) as raised:
        check_agreement("m.tflite", readings)
    assert str(raised.value) == (
        "Model file m.tflite is damaged or inconsistent: output 0 is int8 [1, 10] "
        f"(scale {readings[0].outputs[0].scale[0]:.9g}, zero point -128) to LiteRT, int8 [1, 11] "
        f"(scale {readings[0].outputs[0].scale[0]:.9g}, zero point -128) to TFLite Micro"
    )
    assert raised.value.what == "output 0"
    with pytest.raises(InconsistentModelError, match=r"is declared \[1, 11\] but LiteRT computes"):
        check_declared_shapes("m.tflite", inspect_bytes(damaged), ref)
    # a worker hands it back by name
    again = EdgeSdkError.from_dict(raised.value.to_dict())
    assert type(again) is InconsistentModelError


def test_output_arrays_of_different_shapes():
    a, b = [np.zeros((1, 10), np.int8)], [np.zeros((1, 11), np.int8)]
    check_same_shapes("m", {"LiteRT": a, "TFLite Micro": [np.ones((1, 10), np.int8)]})
    with pytest.raises(InconsistentModelError, match=r"output 0 of shape \[1, 10\], TFLite Micro"):
        check_same_shapes("m", {"LiteRT": a, "TFLite Micro": b})
    with pytest.raises(InconsistentModelError, match="gives 1 outputs, device pi 2"):
        check_same_shapes("m", {"LiteRT": a, "device pi": a + a})

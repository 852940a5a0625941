"""The benchmark-sized look-alikes (benchmarks/standalone_vs_cmsis_nn.py) are valid int8 models of
the shapes they claim, the standalone engine accepts them and its C is bit-exact with LiteRT
BUILTIN_REF on the host (DSP kernels through the intrinsics' portable C, and portable C), and
TFLite Micro's export finds an arena for the autoencoder (it crashed the process before)."""

from __future__ import annotations

import numpy as np
import pytest
from standalone_models import whole_model

from edgesdk.core.profiles import load_profile
from edgesdk.firmware.standalone.export import export_standalone
from edgesdk.firmware.standalone.graph import read_graph
from edgesdk.tflite.micro import (
    check_arena,
    declared_arena,
    fit_arena,
    load_interpreter,
    measure_arena,
)

INT8 = np.dtype(np.int8)


def _ops(model: bytes) -> list[str]:
    return [op.kind for op in read_graph(model).ops]


def _io(model: bytes) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]], set]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    ins, outs = it.get_input_details(), it.get_output_details()
    dtypes = {np.dtype(d["dtype"]) for d in (*ins, *outs)}
    return [tuple(d["shape"]) for d in ins], [tuple(d["shape"]) for d in outs], dtypes


def test_the_look_alikes_have_the_shapes_they_claim():
    vww = whole_model("vww_mobilenet")
    ops = _ops(vww)
    assert _io(vww) == ([(1, 96, 96, 3)], [(1, 2)], {INT8})
    assert ops.count("DEPTHWISE_CONV_2D") == 13 and ops.count("CONV_2D") == 14
    g = read_graph(vww)
    strides = [op for op in g.ops if op.kind == "DEPTHWISE_CONV_2D"]
    widths = [g.tensors[op.outputs[0]].shape[-1] for op in g.ops if op.kind == "CONV_2D"]
    assert widths[0] == 8 and widths[-1] == 256  # width multiplier 0.25 of 32 .. 1024
    assert len([op for op in strides if g.tensors[op.outputs[0]].shape[1] * 2
                == g.tensors[op.inputs[0]].shape[1]]) == 4  # fmt: skip
    assert ops[-3:] == ["MEAN", "FULLY_CONNECTED", "SOFTMAX"]

    resnet = whole_model("resnet8_cifar")
    assert _io(resnet) == ([(1, 32, 32, 3)], [(1, 10)], {INT8})
    assert _ops(resnet).count("ADD") == 3 and _ops(resnet).count("CONV_2D") == 9

    ae = whole_model("fc_autoencoder")
    assert _io(ae) == ([(1, 640)], [(1, 640)], {INT8})
    g = read_graph(ae)
    assert [g.tensors[op.outputs[0]].shape[-1] for op in g.ops] == [128, 8, 128, 640]


@pytest.mark.parametrize("name", ["vww_mobilenet", "resnet8_cifar", "fc_autoencoder"])
@pytest.mark.parametrize("target", ["arduino-nano-33-ble", "rp2040"])
def test_the_standalone_engine_runs_them_bit_exact_on_the_host(name, target, tmp_path):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(whole_model(name))
    result = export_standalone(path, load_profile(target), tmp_path / "out", verify_samples=2)
    assert result.verified_samples == 2  # host gcc (ASan/UBSan) vs BUILTIN_REF, byte for byte
    assert result.kernel_set == ("dsp" if target == "arduino-nano-33-ble" else "portable")


def test_tflite_micros_arena_search_survives_a_size_that_crashes_its_interpreter():
    model = whole_model("fc_autoencoder")
    interpreter, _ = load_interpreter(model)
    declared = declared_arena(measure_arena(interpreter).total, 10, 16)
    # 11,648 B: the host interpreter segfaults there (a FULLY_CONNECTED prepare fails holding
    # a temp buffer); the search probes in a child, so this process lives on
    size, note = fit_arena(model, declared, 16)
    assert size > declared and "raised" in note
    check_arena(model, size)  # builds in the size found
    assert fit_arena(model, size, 16) == (size, "")
    assert fit_arena(model, size - 16, 16)[0] == size  # the smallest: one step less fails

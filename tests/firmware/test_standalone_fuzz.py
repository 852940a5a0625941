"""The random differential check of multi-op models (ADD / MUL of differently quantized inputs,
a ResNet-style residual, MEAN, pooling, SOFTMAX, chains of random ops, FC autoencoders, float32
I/O): a short fixed-seed run of every kind, both kernel sets, byte for byte with BUILTIN_REF
(the long run: scripts/standalone_fuzz.py)."""

from __future__ import annotations

import dataclasses
import shutil

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from standalone_fuzz_models import (
    GRAPH_KINDS,
    differential,
    float_quantize_case,
    graph_case,
    issue_case,
    pairs_case,
)

from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.hostrun import build_host, run_host
from edgesdk.firmware.standalone.reference import reference_outputs

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def _cases(per_kind: int) -> list:
    """``per_kind`` cases of every kind (fixed seeds), float I/O among them."""
    out = []
    for kind in GRAPH_KINDS:
        seeds = (s for s in range(1000) if graph_case(s, kind) is not None)
        out += [graph_case(next(seeds), kind) for _ in range(per_kind)]
    return out


def test_every_multi_op_kind_is_bit_exact_with_both_kernel_sets(tmp_path):
    cases = _cases(3)
    kinds = {c.kind for c in cases}
    assert {k.split("/")[0] for k in kinds} == set(GRAPH_KINDS)
    assert any(k.endswith("/float") for k in kinds)
    ops = set()
    for c in cases:
        ops |= {L.op.kind for L in compile_model(c.model, "m", kernels="dsp").layers}
    wanted = {"ADD", "MUL", "MEAN", "AVERAGE_POOL_2D", "MAX_POOL_2D", "SOFTMAX", "QUANTIZE"}
    assert wanted | {"DEQUANTIZE", "CONV_2D", "FULLY_CONNECTED"} <= ops
    assert differential(cases, tmp_path / "fuzz", vectors=4) == []


def _with_output_quantization_moved(model: bytes) -> bytes:
    """``model`` with the int8 tensor its output comes from one zero point step off (int8
    output: the reference differs by one step wherever it is not clamped), or with its scale
    1.5 x (a float output after a DEQUANTIZE, where a zero point would cancel out)."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    sg = m.subgraphs[0]
    out = int(sg.outputs[0])
    last = next(op for op in sg.operators if out in list(op.outputs))
    if sg.tensors[out].type == schema.TensorType.FLOAT32:  # the DEQUANTIZE's input
        q = sg.tensors[int(last.inputs[0])].quantization
        q.scale = [float(np.float32(1.5 * s)) for s in q.scale]
    else:
        q = sg.tensors[out].quantization
        q.zeroPoint = [int(z) + (1 if int(z) < 0 else -1) for z in q.zeroPoint]
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.mark.parametrize("kind", ["ADD/float", "MEAN"])
def test_the_multi_op_check_finds_an_output_off(tmp_path, kind):
    case = next(c for s in range(200) if (c := graph_case(s)) is not None and c.kind == kind)
    bait = dataclasses.replace(case, reference=_with_output_quantization_moved(case.model))
    findings = differential([bait], tmp_path / "fuzz", vectors=4)
    assert findings and all(f.startswith(f"seed {case.seed} (") for f in findings)
    assert np.all(["values differ" in f for f in findings])


@pytest.mark.parametrize("name", ["resnet_block", "autoencoder"])
def test_the_shapes_of_the_two_refused_models_are_bit_exact(tmp_path, name):
    """Issue 26: a ResNet-style ADD of two differently quantized branches and an FC autoencoder
    (640-128-8-128-640) with float I/O were refused by the verification of third-party models;
    their shapes, random weights and quantizations, on many inputs."""
    cases = [issue_case(name, seed) for seed in range(4)]
    assert differential(cases, tmp_path / "fuzz", vectors=8) == []


def test_mul_takes_litert_s_float32_multiplier_over_every_input_pair(tmp_path):
    """Found by the differential run: LiteRT's MUL computes in1 * in2 / out scale in float32;
    from the same scales in double, the multiplier was 24 below and 2 of the 65536 pairs came
    out one step low (104 where BUILTIN_REF gives 105)."""
    case = pairs_case("MUL", (0.080165334045887, 0.080165334045887, 1.3888065814971924),
                      (127, 127, -128), act=1)  # fmt: skip
    layer = compile_model(case.model, "m").layers[0]
    assert dict(layer.fields)["out_mult"] == "1271953664"  # float32; double: 1271953640
    assert differential([case], tmp_path / "fuzz", vectors=1) == []


def test_float_inputs_beyond_int32_quantize_as_the_reference_without_undefined_behaviour(tmp_path):
    """Found probing float inputs (now in the differential run's vectors): a float input
    quantizing beyond int32 (inf, NaN, 1e12
    at scale 1) was a signed overflow in the C (UBSan stopped it); now INT32_MIN plus the zero
    point, wrapping, as LiteRT's cast gives on the host."""
    values = [1e12, -1e12, 3e9, -3e9, np.inf, -np.inf, np.nan, 2147483520.0, -2147483648.0, 1.5]
    v = np.array(values, dtype=np.float32).reshape(1, -1)
    for zp in (-128, -1, 0, 127):
        case = float_quantize_case(v.shape, 1.0, zp)
        c = compile_model(case.model, "q")
        (tmp_path / "q_model.h").write_text(c.sources.header)
        (tmp_path / "q_model.c").write_bytes(c.sources.source)
        exe = build_host(tmp_path, "q", c.graph, sanitize=True)
        got = run_host(exe, c.graph, [[v]])[0][0]
        want = reference_outputs(case.model, c.graph, [v])[0]
        assert got.tolist() == want.tolist(), zp

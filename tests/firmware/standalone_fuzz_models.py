"""Seeded random single-op int8 models (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) written as
.tflite flatbuffers directly (no converter: milliseconds per model), with random shapes,
strides, dilations, padding, depth multipliers, per-channel and per-tensor scales giving extreme
multipliers and shifts, zero points at the limits; and the differential check of the standalone
engine's C (portable and DSP kernel sets, host gcc with ASan/UBSan) against BUILTIN_REF."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ACTIVATIONS = (0, 1, 3)  # NONE, RELU, RELU6
KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class Case:
    """One random model and what it is (for a finding's report)."""

    seed: int
    kind: str
    summary: str
    model: bytes
    reference: bytes = b""  # the model BUILTIN_REF runs (empty: ``model``; else a check's bait)


def with_bias_changed(model: bytes, delta: int) -> bytes:
    """``model`` with ``delta`` added to the first bias value (one output channel moves)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    buf = m.buffers[m.subgraphs[0].tensors[2].buffer]
    bias = np.frombuffer(bytes(bytearray(buf.data)), dtype=np.int32).copy()
    bias[0] += delta
    buf.data = list(bias.tobytes())
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _zp(rng: np.random.Generator) -> int:
    return int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))


def _scale(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.float32(2.0 ** rng.uniform(lo, hi)))


def _quant(schema, scales, zps, dim: int = 0):  # noqa: ANN001, ANN202 - flatbuffer object API
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint, q.quantizedDimension = list(scales), list(zps), dim
    return q


def _out_size(size: int, k: int, stride: int, dil: int, same: bool) -> int:
    eff = (k - 1) * dil + 1
    return -(-size // stride) if same else (size - eff) // stride + 1


def _geometry(rng: np.random.Generator, kind: str) -> dict[str, int] | None:
    """Random convolution geometry; None when the VALID output would be empty."""
    pointwise = rng.random() < 0.3
    kh, kw = (1, 1) if pointwise else (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    stride = (1, 1) if pointwise and rng.random() < 0.7 else tuple(rng.integers(1, 4, 2))
    dil = (1, 1) if rng.random() < 0.7 else tuple(rng.integers(1, 3, 2))
    h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
    same = bool(rng.random() < 0.5)
    if kind == "DEPTHWISE_CONV_2D":
        ic = int(rng.choice([4, 8, 12, 16, int(rng.integers(1, 21))]))
        dm = 1 if rng.random() < 0.7 else int(rng.integers(2, 4))
        oc = ic * dm
    else:
        ic, dm, oc = int(rng.integers(1, 41)), 1, int(rng.integers(1, 21))
    oh = _out_size(h, kh, int(stride[0]), int(dil[0]), same)
    ow = _out_size(w, kw, int(stride[1]), int(dil[1]), same)
    if oh < 1 or ow < 1:
        return None
    return dict(h=h, w=w, ic=ic, oc=oc, dm=dm, kh=kh, kw=kw, sh=int(stride[0]),
                sw=int(stride[1]), dh=int(dil[0]), dw=int(dil[1]), same=int(same), oh=oh,
                ow=ow)  # fmt: skip


def random_case(seed: int) -> Case | None:
    """The model of ``seed`` (None when the drawn geometry is empty: the caller skips it)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)
    kind = KINDS[int(rng.integers(0, len(KINDS)))]
    if kind == "FULLY_CONNECTED":
        batch, depth, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 80)), 0
        n_out = int(rng.integers(1, 33))
        x_shape, w_shape, o_shape = [batch, depth], [n_out, depth], [batch, n_out]
        channels, qdim = n_out, 0
        per_channel = bool(rng.random() < 0.3)
        geo: dict[str, int] = {}
    else:
        geo = _geometry(rng, kind) or {}
        if not geo:
            return None
        x_shape = [1, geo["h"], geo["w"], geo["ic"]]
        o_shape = [1, geo["oh"], geo["ow"], geo["oc"]]
        if kind == "CONV_2D":
            w_shape, qdim = [geo["oc"], geo["kh"], geo["kw"], geo["ic"]], 0
        else:
            w_shape, qdim = [1, geo["kh"], geo["kw"], geo["oc"]], 3
        channels, per_channel = geo["oc"], bool(rng.random() < 0.8)
    in_scale, in_zp = _scale(rng, -10, 0), _zp(rng)
    n_scales = channels if per_channel else 1
    w_scales = [_scale(rng, -12, -2) for _ in range(n_scales)]
    weights = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    if rng.random() < 0.2:  # weights at the limits
        weights = rng.choice(np.array([-127, 127], dtype=np.int8), size=w_shape)
    # output scale: the effective multiplier in_scale * w_scale / out_scale over 2^-20 .. 2^3
    out_scale = float(np.float32(in_scale * max(w_scales) * 2.0 ** rng.uniform(-3, 20)))
    out_zp = _zp(rng)
    bias_scales = [in_scale * s for s in (w_scales * channels if n_scales == 1 else w_scales)]
    bias = (rng.normal(0, 2.0 ** rng.uniform(0, 16), channels)).astype(np.int64)
    bias = np.clip(bias, -(2**31) + 1, 2**31 - 1).astype(np.int32)

    m = schema.ModelT()
    m.version, m.description = 3, "edgesdk fuzz"
    m.buffers = [schema.BufferT() for _ in range(5)]
    m.buffers[2].data = list(weights.tobytes())
    m.buffers[3].data = list(bias.tobytes())

    def tensor(name: str, shape: list[int], ttype: int, buf: int, q) -> object:  # noqa: ANN001
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer, t.quantization = name, shape, ttype, buf, q
        return t

    i8, i32 = schema.TensorType.INT8, schema.TensorType.INT32
    w_zps = [0] * n_scales
    sg = schema.SubGraphT()
    sg.tensors = [
        tensor("input", x_shape, i8, 1, _quant(schema, [in_scale], [in_zp])),
        tensor("weights", w_shape, i8, 2, _quant(schema, w_scales, w_zps, qdim)),
        tensor("bias", [channels], i32, 3, _quant(schema, bias_scales[:n_scales], w_zps, 0)),
        tensor("output", o_shape, i8, 4, _quant(schema, [out_scale], [out_zp])),
    ]
    sg.inputs, sg.outputs = [0], [3]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    act = int(rng.choice(ACTIVATIONS))
    code = schema.OperatorCodeT()
    if kind == "FULLY_CONNECTED":
        code.builtinCode, code.version = schema.BuiltinOperator.FULLY_CONNECTED, 4
        o = schema.FullyConnectedOptionsT()
        o.fusedActivationFunction = act
        op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    else:
        dw = kind == "DEPTHWISE_CONV_2D"
        code.builtinCode = getattr(schema.BuiltinOperator, kind)
        code.version = 3
        o = schema.DepthwiseConv2DOptionsT() if dw else schema.Conv2DOptionsT()
        o.padding = schema.Padding.SAME if geo["same"] else schema.Padding.VALID
        o.strideH, o.strideW, o.fusedActivationFunction = geo["sh"], geo["sw"], act
        o.dilationHFactor, o.dilationWFactor = geo["dh"], geo["dw"]
        if dw:
            o.depthMultiplier = geo["dm"]
        op.builtinOptionsType = getattr(
            schema.BuiltinOptions, "DepthwiseConv2DOptions" if dw else "Conv2DOptions"
        )
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    op.builtinOptions = o
    sg.operators = [op]
    m.subgraphs, m.operatorCodes = [sg], [code]
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    summary = (
        f"{kind} in {x_shape} w {w_shape} out {o_shape} {geo or ''} act {act} in_zp {in_zp} "
        f"out_zp {out_zp} per_channel {per_channel}"
    )
    return Case(seed, kind, summary, bytes(b.Output()))


def _driver(names: list[tuple[str, int, int]], vectors: int) -> str:
    """main(): for each model in turn, ``vectors`` inputs from stdin, outputs to stdout."""
    lines = ["#include <stdio.h>"] + [f'#include "{n}_model.h"' for n, _, _ in names]
    lines += ["int main(void) {", "  int v;"]
    for n, size_in, size_out in names:
        lines += [
            f"  for (v = 0; v < {vectors}; ++v) {{",
            f"    if (fread({n}_input(), {size_in}, 1, stdin) != 1) return 3;",
            f"    if ({n}_invoke_in_place() != 0) return 2;",
            f"    fwrite({n}_output(), {size_out}, 1, stdout);",
            "  }",
        ]
    return "\n".join([*lines, "  return 0;", "}", ""])


def differential(cases: list[Case], folder: Path, vectors: int = 3) -> list[str]:
    """Every case compiled with both kernel sets into one host executable (gcc, ASan/UBSan),
    run on ``vectors`` random inputs each and compared byte for byte with BUILTIN_REF; returns
    the findings (empty: every byte equal).

    Raises:
        EdgeSdkError: a case the engine refuses or C that does not compile cleanly.
    """
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.firmware.standalone.hostrun import SANITIZE_FLAGS, STRICT_FLAGS
    from edgesdk.firmware.standalone.reference import reference_outputs

    folder.mkdir(parents=True, exist_ok=True)
    names, expected, feed, labels = [], [], [], []
    for case in cases:
        for ks in ("portable", "dsp"):
            name = f"fz{case.seed}{ks[0]}"
            c = compile_model(case.model, name, kernels=ks)
            (folder / f"{name}_model.h").write_text(c.sources.header)
            (folder / f"{name}_model.c").write_bytes(c.sources.source)
            g = c.graph
            x, y = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
            names.append((name, x.nbytes, y.nbytes))
            rng = np.random.default_rng(case.seed)
            for _ in range(vectors):
                v = rng.integers(-128, 128, size=x.shape).astype(np.int8)
                v.flat[: min(2, v.size)] = [-128, 127][: min(2, v.size)]
                feed.append(v.tobytes())
                ref = case.reference or case.model
                expected.append(reference_outputs(ref, g, [v])[0].tobytes())
                labels.append(f"seed {case.seed} ({ks}): {case.summary}")
    (folder / "fuzz_main.c").write_text(_driver(names, vectors))
    exe = folder / "fuzz"
    sources = [str(folder / f"{n}_model.c") for n, _, _ in names]
    cmd = ["gcc", *STRICT_FLAGS, *SANITIZE_FLAGS, "-I", str(folder), *sources,
           str(folder / "fuzz_main.c"), "-o", str(exe)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    proc = subprocess.run([str(exe)], input=b"".join(feed), capture_output=True, timeout=600)
    if proc.returncode != 0:
        return [f"the executable failed (exit {proc.returncode}): {proc.stderr[:2000]!r}"]
    findings, pos = [], 0
    for want, label in zip(expected, labels, strict=True):
        got = proc.stdout[pos : pos + len(want)]
        pos += len(want)
        if got != want:
            a, b = np.frombuffer(got, np.int8), np.frombuffer(want, np.int8)
            n = int(np.sum(a != b)) if len(a) == len(b) else -1
            findings.append(f"{label}: {n} of {len(want)} bytes differ")
    return findings

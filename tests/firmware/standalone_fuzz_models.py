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
    pairs: bool = False  # two int8 inputs of 65536 values: the first vector is every pair


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


def _driver(names: list[tuple[str, list[int], int]], vectors: int) -> str:
    """main(): for each model in turn, ``vectors`` inputs from stdin, outputs to stdout."""
    lines = ["#include <stdio.h>"] + [f'#include "{n}_model.h"' for n, _, _ in names]
    lines += ["int main(void) {", "  int v;"]
    for n, sizes_in, size_out in names:
        lines.append(f"  for (v = 0; v < {vectors}; ++v) {{")
        for i, size in enumerate(sizes_in):
            lines.append(f"    if (fread({n}_input{i}(), {size}, 1, stdin) != 1) return 3;")
        lines += [
            f"    if ({n}_invoke_in_place() != 0) return 2;",
            f"    fwrite({n}_output0(), {size_out}, 1, stdout);",
            "  }",
        ]
    return "\n".join([*lines, "  return 0;", "}", ""])


def random_input(
    t: object, rng: np.random.Generator, quant: tuple[float, int] | None
) -> np.ndarray:
    """A random input for tensor ``t``: int8 with both limits in it; float32 on and between the
    steps of ``quant`` (the QUANTIZE after it: exact halves, values beyond the int8 range, one
    in five vectors with a value beyond int32 steps, an infinity or a NaN)."""
    if t.dtype == "int8":  # type: ignore[attr-defined]
        v = rng.integers(-128, 128, size=t.shape).astype(np.int8)  # type: ignore[attr-defined]
        v.flat[: min(2, v.size)] = [-128, 127][: min(2, v.size)]
        return v
    scale, zp = quant or (1.0, 0)
    steps = rng.integers(-140, 141, size=t.shape) - zp  # type: ignore[attr-defined]
    frac = rng.choice([0.0, 0.5, -0.5, 0.49999, 0.50001], size=steps.shape)
    noise = np.where(rng.random(steps.shape) < 0.3, rng.uniform(-0.5, 0.5, steps.shape), frac)
    v = ((steps + noise) * scale).astype(np.float32)
    if rng.random() < 0.2:  # one value far out: beyond int32 steps, infinite or NaN
        special = [np.inf, -np.inf, np.nan, 1e12 * scale, -1e12 * scale, 3e9 * scale]
        v.flat[int(rng.integers(0, v.size))] = special[int(rng.integers(0, len(special)))]
    return v


def differential(cases: list[Case], folder: Path, vectors: int = 3) -> list[str]:
    """Every case compiled with both kernel sets into one host executable (gcc, ASan/UBSan),
    run on ``vectors`` random inputs each and compared byte for byte with BUILTIN_REF; returns
    the findings (empty: every byte equal). Models may have several inputs and float32 I/O.

    Raises:
        EdgeSdkError: a case the engine refuses or C that does not compile cleanly.
    """
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.firmware.standalone.hostrun import SANITIZE_FLAGS, STRICT_FLAGS
    from edgesdk.firmware.standalone.reference import reference_outputs

    folder.mkdir(parents=True, exist_ok=True)
    names, expected, feed, labels = [], [], [], []
    for n, case in enumerate(cases):
        for ks in ("portable", "dsp"):
            name = f"fz{n}{ks[0]}"
            c = compile_model(case.model, name, kernels=ks)
            (folder / f"{name}_model.h").write_text(c.sources.header)
            (folder / f"{name}_model.c").write_bytes(c.sources.source)
            g = c.graph
            xs, y = [g.tensors[i] for i in g.inputs], g.tensors[g.outputs[0]]
            names.append((name, [x.nbytes for x in xs], y.nbytes))
            after = {}  # a float input's QUANTIZE: its step
            for op in g.ops:
                if op.kind == "QUANTIZE" and op.inputs[0] in g.inputs:
                    q = g.tensors[op.outputs[0]]
                    after[op.inputs[0]] = (q.scale[0], q.zp)
            rng = np.random.default_rng(case.seed)
            for v in range(vectors):
                ins = [random_input(x, rng, after.get(x.index)) for x in xs]
                if case.pairs and v == 0:
                    every = np.arange(65536)
                    ins = [
                        ((every >> 8) - 128).astype(np.int8),
                        ((every & 255) - 128).astype(np.int8),
                    ]
                    ins = [x.reshape(t.shape) for x, t in zip(ins, xs, strict=True)]
                feed += [x.tobytes() for x in ins]
                ref = case.reference or case.model
                expected.append(reference_outputs(ref, g, ins)[0].tobytes())
                labels.append(f"seed {case.seed} ({ks}), vector {v}: {case.summary}")
    (folder / "fuzz_main.c").write_text(_driver(names, vectors))
    exe = folder / "fuzz"
    sources = [str(folder / f"{n}_model.c") for n, _, _ in names]
    cmd = ["gcc", *STRICT_FLAGS, *SANITIZE_FLAGS, "-I", str(folder), *sources,
           str(folder / "fuzz_main.c"), "-o", str(exe), "-lm"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    proc = subprocess.run([str(exe)], input=b"".join(feed), capture_output=True, timeout=600)
    if proc.returncode != 0:
        import re

        hit = re.search(rb"fz(\d+)([pd])_model", proc.stderr)  # the model a sanitizer named
        who = ""
        if hit:
            case = cases[int(hit.group(1))]
            who = f"seed {case.seed} ({'portable' if hit.group(2) == b'p' else 'dsp'}): "
            who += f"{case.summary}: "
        return [f"{who}the executable failed (exit {proc.returncode}): {proc.stderr[:2000]!r}"]
    findings, pos = [], 0
    for want, label in zip(expected, labels, strict=True):
        got = proc.stdout[pos : pos + len(want)]
        pos += len(want)
        if got != want:
            findings.append(f"{label}: {_differ(got, want, label)}")
    return findings


def _differ(got: bytes, want: bytes, label: str) -> str:
    """How two outputs differ: int8 bytes, or float32 values (in dequantized output steps)."""
    if len(got) != len(want):
        return f"{len(got)} bytes, expected {len(want)}"
    isfloat = "/float" in label
    a, b = (np.frombuffer(x, np.float32 if isfloat else np.int8) for x in (got, want))
    bad = np.flatnonzero(a != b)
    i = int(bad[0])
    return (
        f"{len(bad)} of {a.size} values differ (first: index {i}, got {a[i]!r}, expected {b[i]!r})"
    )


# ---- multi-op graphs: ADD / MUL with rescaling, MEAN, pooling, SOFTMAX, chains, float I/O ----

GRAPH_KINDS = ("ADD", "MUL", "RESIDUAL", "MEAN", "AVERAGE_POOL_2D", "MAX_POOL_2D", "SOFTMAX",
               "CHAIN", "AUTOENCODER")  # fmt: skip
_OPTIONS = {  # op -> (options class and union member, opcode version)
    "CONV_2D": ("Conv2DOptions", 3),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", 3),
    "FULLY_CONNECTED": ("FullyConnectedOptions", 4),
    "ADD": ("AddOptions", 2),
    "MUL": ("MulOptions", 2),
    "MEAN": ("ReducerOptions", 2),
    "AVERAGE_POOL_2D": ("Pool2DOptions", 2),
    "MAX_POOL_2D": ("Pool2DOptions", 2),
    "SOFTMAX": ("SoftmaxOptions", 2),
    "QUANTIZE": ("QuantizeOptions", 1),
    "DEQUANTIZE": ("DequantizeOptions", 2),
}


@dataclass(frozen=True)
class _T:
    """A tensor of the graph being built: index, shape, int8 quantization."""

    index: int
    shape: tuple[int, ...]
    scale: float
    zp: int


class _Graph:
    """A .tflite flatbuffer written op by op (one subgraph)."""

    def __init__(self) -> None:
        from ai_edge_litert import schema_py_generated as schema

        self.s = schema
        self.tensors: list = []
        self.buffers = [schema.BufferT()]
        self.ops: list = []
        self.codes: list[str] = []
        self.notes: list[str] = []

    def tensor(self, shape, ttype=None, scales=None, zps=None, data=None, dim=0) -> int:  # noqa: ANN001
        s = self.s
        t = s.TensorT()
        t.name = f"t{len(self.tensors)}"
        t.shape, t.type = list(shape), s.TensorType.INT8 if ttype is None else ttype
        if scales is not None:
            t.quantization = _quant(s, scales, zps, dim)
        b = s.BufferT()
        if data is not None:
            b.data = list(np.ascontiguousarray(data).tobytes())
        t.buffer = len(self.buffers)
        self.buffers.append(b)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def act(self, shape, scale: float, zp: int) -> _T:  # noqa: ANN001
        return _T(self.tensor(shape, scales=[scale], zps=[zp]), tuple(shape), scale, zp)

    def op(self, kind: str, inputs: list[int], outputs: list[int], **options: object) -> None:
        s = self.s
        if kind not in self.codes:
            self.codes.append(kind)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(kind), inputs, outputs
        name = _OPTIONS[kind][0]
        opts = getattr(s, name + "T")()
        for k, v in options.items():
            setattr(opts, k, v)
        o.builtinOptionsType, o.builtinOptions = getattr(s.BuiltinOptions, name), opts
        self.ops.append(o)
        self.notes.append(kind)

    def finish(self, inputs: list[int], outputs: list[int]) -> bytes:
        import flatbuffers

        s = self.s
        m = s.ModelT()
        m.version, m.description, m.buffers = 3, "edgesdk fuzz graph", self.buffers
        sg = s.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs, sg.operators = self.tensors, inputs, outputs, self.ops
        m.subgraphs = [sg]
        m.operatorCodes = []
        for kind in self.codes:
            c = s.OperatorCodeT()
            c.builtinCode = getattr(s.BuiltinOperator, kind)
            c.deprecatedBuiltinCode = min(c.builtinCode, 127)
            c.version = _OPTIONS[kind][1]
            m.operatorCodes.append(c)
        b = flatbuffers.Builder(4096)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _act_scale(rng: np.random.Generator) -> float:
    return _scale(rng, -10, 2)


def _spread(
    rng: np.random.Generator, typical: tuple[float, float], extreme: tuple[float, float]
) -> float:
    """A power of two: mostly from ``typical`` (outputs in range), one in five from
    ``extreme`` (saturating or one-step outputs: extreme multipliers and shifts)."""
    return 2.0 ** rng.uniform(*(typical if rng.random() < 0.8 else extreme))


def _out_zp(rng: np.random.Generator, act: int) -> int:
    """An output zero point: at the limits often; below 0 under a ReLU (else all one value)."""
    if act in (1, 3):
        return int(rng.choice([-128, -128, int(rng.integers(-128, 1))]))
    return _zp(rng)


def _weighted(g: _Graph, rng, x: _T, kind: str, out_c: int, k: int, stride: int, same: bool,
              dm: int = 1, act: int | None = None) -> _T:  # fmt: skip # noqa: ANN001, E501
    """A CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED on ``x`` with random int8 weights,
    per-channel (mostly) or per-tensor scales, bias; the output scale mostly such that typical
    accumulators land in range, one in five far off (extreme multipliers and shifts)."""
    i8, i32 = g.s.TensorType.INT8, g.s.TensorType.INT32
    if kind == "FULLY_CONNECTED":
        depth = int(np.prod(x.shape[1:])) if len(x.shape) > 1 else x.shape[0]
        w_shape, oc, qdim, o_shape = [out_c, depth], out_c, 0, (x.shape[0], out_c)
        per_channel = bool(rng.random() < 0.3)
    else:
        _, h, w, ic = x.shape
        oh = -(-h // stride) if same else (h - k) // stride + 1
        ow = -(-w // stride) if same else (w - k) // stride + 1
        oc = ic * dm if kind == "DEPTHWISE_CONV_2D" else out_c
        w_shape = [1, k, k, oc] if kind == "DEPTHWISE_CONV_2D" else [oc, k, k, ic]
        qdim, o_shape = (3 if kind == "DEPTHWISE_CONV_2D" else 0), (1, oh, ow, oc)
        per_channel = bool(rng.random() < 0.8)
    n = oc if per_channel else 1
    a = int(rng.choice(ACTIVATIONS)) if act is None else act
    spread = _spread(rng, (6, 9), (-3, 20))
    w_scales = [_scale(rng, -10, -4) for _ in range(n)]
    weights = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    # a dead channel, as trained models have them: all-zero weights, a tiny or normal scale
    # (a stream of its own: the other draws, and so every earlier seed, stay as they were)
    side = np.random.default_rng([int(np.abs(weights.astype(np.int64)).sum()), 28])
    if side.random() < 0.25:
        c = int(side.integers(0, oc))
        if kind == "DEPTHWISE_CONV_2D":
            weights[..., c] = 0
        else:
            weights[c] = 0
        if per_channel and side.random() < 0.5:
            w_scales[c] = float(np.float32(2.0 ** side.uniform(-60, -30)))
    taps = int(np.prod(w_shape)) // oc if kind != "DEPTHWISE_CONV_2D" else k * k
    out_scale = float(np.float32(x.scale * max(w_scales) * np.sqrt(taps) * spread))
    out_zp = _out_zp(rng, a)
    bias = rng.normal(0, 2.0 ** rng.uniform(0, 12), oc).astype(np.int32)
    bscales = [x.scale * w_scales[c if per_channel else 0] for c in range(n)]
    wt = g.tensor(w_shape, i8, w_scales, [0] * n, weights, qdim)
    bt = g.tensor([oc], i32, bscales, [0] * n, bias)
    y = g.act(o_shape, out_scale, out_zp)
    if kind == "FULLY_CONNECTED":
        g.op(kind, [x.index, wt, bt], [y.index], fusedActivationFunction=a)
    else:
        opts = dict(padding=g.s.Padding.SAME if same else g.s.Padding.VALID, strideH=stride,
                    strideW=stride, fusedActivationFunction=a)  # fmt: skip
        if kind == "DEPTHWISE_CONV_2D":
            opts["depthMultiplier"] = dm
        g.op(kind, [x.index, wt, bt], [y.index], **opts)
    return y


def _binary(g: _Graph, rng, kind: str, a: _T, b: _T) -> _T:  # noqa: ANN001
    """ADD / MUL of two same-shape int8 tensors, rescaled to a random output quantization."""
    big = max(a.scale, b.scale)
    if kind == "ADD":  # TFLite needs 2 max / (2^20 out) < 1; both ends of the range
        out = float(np.float32(big * _spread(rng, (-1, 2), (-8, 10))))
    else:
        out = float(np.float32(a.scale * b.scale * _spread(rng, (5, 8), (-4, 16))))
    act = int(rng.choice(ACTIVATIONS))
    y = g.act(a.shape, out, _out_zp(rng, act))
    g.op(kind, [a.index, b.index], [y.index], fusedActivationFunction=act)
    return y


def _pool(g: _Graph, rng, kind: str, x: _T) -> _T:  # noqa: ANN001
    _, h, w, c = x.shape
    fh, fw = int(rng.integers(1, min(h, 4) + 1)), int(rng.integers(1, min(w, 4) + 1))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    same = bool(rng.random() < 0.5)
    oh = -(-h // sh) if same else (h - fh) // sh + 1
    ow = -(-w // sw) if same else (w - fw) // sw + 1
    y = g.act((1, oh, ow, c), x.scale, x.zp)  # pooling keeps the quantization
    g.op(kind, [x.index], [y.index], padding=g.s.Padding.SAME if same else g.s.Padding.VALID,
         strideH=sh, strideW=sw, filterHeight=fh, filterWidth=fw,
         fusedActivationFunction=int(rng.choice(ACTIVATIONS)))  # fmt: skip
    return y


def _mean(g: _Graph, rng, x: _T) -> _T:  # noqa: ANN001
    keep = bool(rng.random() < 0.5)
    axes = g.tensor([2], g.s.TensorType.INT32, data=np.array([1, 2], dtype=np.int32))
    same = rng.random() < 0.3  # the same quantization in and out: a path of its own
    scale = x.scale if same else float(np.float32(x.scale * _spread(rng, (-2, 1), (-8, 8))))
    y = g.act((1, 1, 1, x.shape[3]) if keep else (1, x.shape[3]), scale, x.zp if same else _zp(rng))
    g.op("MEAN", [x.index, axes], [y.index], keepDims=keep)
    return y


def _softmax(g: _Graph, rng, x: _T) -> _T:  # noqa: ANN001
    y = g.act(x.shape, 1 / 256, -128)  # LiteRT's int8 softmax output
    beta = 1.0 if rng.random() < 0.6 else float(np.float32(2.0 ** rng.uniform(-3, 3)))
    g.op("SOFTMAX", [x.index], [y.index], beta=beta)
    return y


def _input(g: _Graph, rng, shape: tuple[int, ...], float_io: bool) -> tuple[int, _T]:  # noqa: ANN001
    """The graph input: int8, or float32 through a QUANTIZE."""
    x = g.act(shape, _act_scale(rng), _zp(rng))
    if not float_io:
        return x.index, x
    f = g.tensor(shape, g.s.TensorType.FLOAT32)
    g.op("QUANTIZE", [f], [x.index])
    return f, x


def _output(g: _Graph, y: _T, float_io: bool) -> int:
    if not float_io:
        return y.index
    f = g.tensor(y.shape, g.s.TensorType.FLOAT32)
    g.op("DEQUANTIZE", [y.index], [f])
    return f


def _image(rng: np.random.Generator) -> tuple[int, int, int, int]:
    big = rng.random() < 0.15  # sums of many pixels (MEAN over 49 x 10 in a DS-CNN)
    h, w = (
        (int(rng.integers(10, 50)), int(rng.integers(1, 25)))
        if big
        else tuple(rng.integers(1, 10, 2))
    )
    return (1, int(h), int(w), int(rng.integers(1, 17)))


def _chain_step(g: _Graph, rng, x: _T, last: bool) -> _T | None:  # noqa: ANN001
    """One random op after ``x`` (None: nothing fits its shape)."""
    spatial = len(x.shape) == 4
    choices = ["CONV_2D", "DEPTHWISE_CONV_2D", "POOL", "RESIDUAL", "MUL", "MEAN"] if spatial else []
    choices += ["FULLY_CONNECTED"] + (["SOFTMAX"] if last else [])
    kind = str(rng.choice(choices))
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        k, stride = int(rng.choice([1, 3])), int(rng.integers(1, 3))
        same = bool(rng.random() < 0.7) or k > min(x.shape[1:3])
        dm = 1 if rng.random() < 0.7 else 2
        return _weighted(g, rng, x, kind, int(rng.integers(1, 17)), k, stride, same, dm)
    if kind == "POOL":
        return _pool(g, rng, str(rng.choice(["AVERAGE_POOL_2D", "MAX_POOL_2D"])), x)
    if kind == "RESIDUAL":
        branch = _weighted(g, rng, x, "CONV_2D", x.shape[3], 3, 1, True)
        return _binary(g, rng, "ADD", branch, x)
    if kind == "MUL":
        branch = _weighted(g, rng, x, "DEPTHWISE_CONV_2D", 0, 3, 1, True)
        return _binary(g, rng, "MUL", x, branch)
    if kind == "MEAN":
        return _mean(g, rng, x)
    if kind == "SOFTMAX":
        return _softmax(g, rng, x)
    return _weighted(g, rng, x, "FULLY_CONNECTED", int(rng.integers(1, 33)), 0, 1, False)


def _reference_accepts(model: bytes) -> bool:
    """Whether LiteRT prepares ``model`` (it refuses e.g. a dead channel's scale so small that
    the bias could overflow: such a draw is skipped like an empty geometry)."""
    from edgesdk.tflite import interpreters

    try:
        interpreters.litert(model, interpreters.Kernels.REFERENCE)
    except (RuntimeError, ValueError):
        return False
    return True


def graph_case(seed: int, kind: str | None = None) -> Case | None:
    """The multi-op model of ``seed`` (``kind``: one of GRAPH_KINDS, else drawn): ADD / MUL of
    two differently quantized inputs, a ResNet-style residual (convolutions + skip, added),
    MEAN, pooling, SOFTMAX, a chain of 2-5 random ops, an FC autoencoder; 40 % with float32
    I/O (QUANTIZE in, DEQUANTIZE out)."""
    rng = np.random.default_rng([seed, 26])
    kind = kind or GRAPH_KINDS[int(rng.integers(0, len(GRAPH_KINDS)))]
    float_io = bool(rng.random() < 0.4)
    g = _Graph()
    inputs = []
    if kind in ("ADD", "MUL"):
        shape = (
            _image(rng)
            if rng.random() < 0.7
            else (int(rng.integers(1, 4)), int(rng.integers(1, 50)))
        )
        # every one of the 65536 input pairs (int8 I/O, 60 %), from a stream of its own
        pairs = not float_io and np.random.default_rng([seed, 27]).random() < 0.6
        shape = (1, 256, 256, 1) if pairs else shape
        fa, a = _input(g, rng, shape, float_io)
        fb, b = _input(g, rng, shape, float_io)
        inputs, y = [fa, fb], _binary(g, rng, kind, a, b)
    else:
        shape = _image(rng)
        if kind == "SOFTMAX" and rng.random() < 0.5:
            shape = (int(rng.integers(1, 4)), int(rng.integers(1, 40)))
        if kind == "AUTOENCODER":
            shape = (1, int(rng.choice([640, int(rng.integers(8, 160))])))
        fx, x = _input(g, rng, shape, float_io)
        inputs = [fx]
        if kind == "RESIDUAL":  # conv (+ conv) branch, identity skip, added; then maybe ReLU'd
            branch = _weighted(g, rng, x, "CONV_2D", shape[3], 3, 1, True)
            if rng.random() < 0.5:
                branch = _weighted(g, rng, branch, "CONV_2D", shape[3], 3, 1, True, act=0)
            y = _binary(g, rng, "ADD", branch, x)
        elif kind == "MEAN":
            y = _mean(g, rng, x)
        elif kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            y = _pool(g, rng, kind, x)
        elif kind == "SOFTMAX":
            y = _softmax(g, rng, x)
        elif kind == "AUTOENCODER":
            y = x
            widths = [
                int(rng.integers(4, 129)),
                int(rng.integers(2, 16)),
                int(rng.integers(4, 129)),
            ]
            for w in [*widths, shape[1]]:
                y = _weighted(g, rng, y, "FULLY_CONNECTED", w, 0, 1, False, act=int(w != shape[1]))
        else:  # CHAIN
            y, n = x, int(rng.integers(2, 6))
            for i in range(n):
                nxt = _chain_step(g, rng, y, i == n - 1)
                if nxt is None or 0 in nxt.shape:
                    return None
                y = nxt
    if any(
        0 in g.tensors[i].shape
        for i in range(len(g.tensors))
        if g.tensors[i].shape is not None and len(g.tensors[i].shape)
    ):
        return None
    out = _output(g, y, float_io)
    name = kind + ("/float" if float_io else "")
    summary = f"{name} in {list(shape)}: {' > '.join(g.notes)}"
    if kind in ("ADD", "MUL") and pairs:
        name, summary = f"{kind}/pairs", f"{summary} (every input pair)"
    model = g.finish(inputs, [out])
    if not _reference_accepts(model):
        return None
    return Case(seed, name, summary, model, pairs=kind in ("ADD", "MUL") and pairs)


def issue_case(name: str, seed: int = 0) -> Case:
    """The shapes of the two third-party models the engine's verification refused (issue 26),
    with random weights and quantization: ``"resnet_block"`` (16x16x16: conv 3x3 ReLU, conv
    3x3, ADD of the differently quantized branch and skip, ReLU) and ``"autoencoder"`` (FC
    640-128-8-128-640, ReLU, float32 I/O)."""
    rng = np.random.default_rng([seed, 2026])
    g = _Graph()
    if name == "resnet_block":
        fx, x = _input(g, rng, (1, 16, 16, 16), False)
        y = _weighted(g, rng, x, "CONV_2D", 16, 3, 1, True, act=1)
        y = _weighted(g, rng, y, "CONV_2D", 16, 3, 1, True, act=0)
        big = max(x.scale, y.scale)
        out = g.act(x.shape, float(np.float32(big * 2.0 ** rng.uniform(-1, 1))), -128)
        g.op("ADD", [y.index, x.index], [out.index], fusedActivationFunction=1)
        return Case(
            seed, "RESNET_BLOCK", f"issue 26 {name} seed {seed}", g.finish([fx], [out.index])
        )
    fx, x = _input(g, rng, (1, 640), True)
    y = x
    for w in (128, 8, 128, 640):
        y = _weighted(g, rng, y, "FULLY_CONNECTED", w, 0, 1, False, act=int(w != 640))
    out = _output(g, y, True)
    return Case(seed, "AUTOENCODER/float", f"issue 26 {name} seed {seed}", g.finish([fx], [out]))


def pairs_case(kind: str, scales: tuple[float, float, float], zps: tuple[int, int, int],
               act: int = 0) -> Case:  # fmt: skip
    """ADD or MUL of two int8 [1, 256, 256, 1] inputs quantized ``scales[:2]``, ``zps[:2]``,
    output ``scales[2]``, ``zps[2]``, fused activation ``act``: the differential run feeds it
    every one of the 65536 input pairs."""
    g = _Graph()
    shape = (1, 256, 256, 1)
    a, b, y = (g.act(shape, float(np.float32(s)), z) for s, z in zip(scales, zps, strict=True))
    g.op(kind, [a.index, b.index], [y.index], fusedActivationFunction=act)
    model = g.finish([a.index, b.index], [y.index])
    return Case(0, f"{kind}/pairs", f"{kind} {scales} {zps} act {act}", model, pairs=True)


def float_quantize_case(shape: tuple[int, ...], scale: float, zp: int) -> Case:
    """One QUANTIZE of a float32 input to int8 (``scale``, ``zp``), the int8 tensor the output."""
    g = _Graph()
    f = g.tensor(shape, g.s.TensorType.FLOAT32)
    x = g.act(shape, scale, zp)
    g.op("QUANTIZE", [f], [x.index])
    return Case(
        0, "QUANTIZE/float", f"QUANTIZE float -> int8 {scale} {zp}", g.finish([f], [x.index])
    )

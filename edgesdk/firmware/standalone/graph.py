"""Read a .tflite into a small typed op list for the C generator; refuse what the engine lacks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.errors import ExportError

SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "ADD",
    "MUL",
    "MEAN",
    "SOFTMAX",
    "LOGISTIC",
    "RESHAPE",
    "CONCATENATION",
    "PAD",
    "QUANTIZE",
    "DEQUANTIZE",
)
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
_DTYPES = {0: "float32", 2: "int32", 3: "uint8", 9: "int8", 7: "int16", 4: "int64"}
ESCAPE = 'use `engine="tflm"` for this model'  # the TFLite Micro engine (Engine.TFLM)


@dataclass(frozen=True)
class Tensor:
    """One tensor: shape, dtype, quantization and, for constants, its data."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    data: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def zp(self) -> int:
        return self.zero_point[0] if self.zero_point else 0


@dataclass(frozen=True)
class Options:
    """The options of one op that the kernels use (defaults: not applicable)."""

    padding: str = "VALID"
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    depth_multiplier: int = 1
    filter_h: int = 1
    filter_w: int = 1
    activation: str = "NONE"
    axis: int = 0
    keep_dims: bool = False
    beta: float = 1.0


@dataclass(frozen=True)
class Op:
    """One operator: what it is, its tensors and options, and a name for the C comment."""

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Options
    name: str


@dataclass(frozen=True)
class Graph:
    """The main subgraph of a model as the generator sees it."""

    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def consumers(self, tensor: int) -> list[Op]:
        return [op for op in self.ops if tensor in op.inputs]


def _refuse(op: str, index: int, why: str) -> ExportError:
    return ExportError(
        f"The standalone engine cannot compile op {index} {op}: {why}; {ESCAPE}",
        what="op",
        value=op,
        allowed=list(SUPPORTED_OPS),
    )


def _options(kind: str, raw: Any, index: int) -> Options:
    if raw is None:
        return Options()
    get = lambda name, default: getattr(raw, name, default)  # noqa: E731
    act = _ACTIVATIONS.get(get("fusedActivationFunction", 0))
    if act is None:
        raise _refuse(kind, index, f"fused activation {get('fusedActivationFunction', 0)}")
    return Options(
        padding="SAME" if get("padding", 1) == 0 else "VALID",
        stride_h=int(get("strideH", 1)),
        stride_w=int(get("strideW", 1)),
        dilation_h=int(get("dilationHFactor", 1)),
        dilation_w=int(get("dilationWFactor", 1)),
        depth_multiplier=int(get("depthMultiplier", 1)),
        filter_h=int(get("filterHeight", 1)),
        filter_w=int(get("filterWidth", 1)),
        activation=act,
        axis=int(get("axis", 0)),
        keep_dims=bool(get("keepDims", False)),
        beta=float(get("beta", 1.0)),
    )


def _tensor(t: Any, i: int, buffers: Any) -> Tensor:
    q = t.quantization
    scale = tuple(float(s) for s in q.scale) if q is not None and q.scale is not None else ()
    zp = tuple(int(z) for z in q.zeroPoint) if q is not None and q.zeroPoint is not None else ()
    dtype = _DTYPES.get(t.type, f"type{t.type}")
    raw = buffers[t.buffer].data if 0 < t.buffer < len(buffers) else None
    data = None
    if raw is not None and len(raw) and dtype in _DTYPES.values():
        shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
        data = np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), dtype=dtype).reshape(shape)
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")
    shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
    return Tensor(i, name, shape, dtype, scale, zp, data)


def read_graph(model: bytes) -> Graph:
    """Parse ``model`` (the main subgraph) into a Graph.

    Raises:
        ExportError: an op, option or type the standalone engine lacks (one line naming it).
    """
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    if len(m.subgraphs) != 1:
        raise ExportError(
            f"The standalone engine needs one subgraph, got {len(m.subgraphs)}; {ESCAPE}"
        )
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    sg = m.subgraphs[0]
    tensors = tuple(_tensor(t, i, m.buffers) for i, t in enumerate(sg.tensors))
    kinds = []
    for o in sg.operators:
        code = m.operatorCodes[o.opcodeIndex]
        kinds.append(names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"))
    # shapes are static: ops that only compute a RESHAPE's shape operand (SHAPE, STRIDED_SLICE,
    # PACK ...) are dead code here, the output tensor's shape is known
    needed = {int(x) for x in sg.outputs}
    live = [False] * len(kinds)
    for i in range(len(kinds) - 1, -1, -1):
        o = sg.operators[i]
        outs = [int(x) for x in o.outputs] if o.outputs is not None else []
        if any(t in needed for t in outs):
            live[i] = True
            ins = [int(x) for x in o.inputs] if o.inputs is not None else []
            needed.update(ins[:1] if kinds[i] == "RESHAPE" else ins)
    ops = []
    for i, o in enumerate(sg.operators):
        kind = kinds[i]
        if not live[i]:
            continue
        if kind not in SUPPORTED_OPS:
            raise _refuse(kind, i, f"not in the engine's op set ({', '.join(SUPPORTED_OPS)})")
        inputs = tuple(int(x) for x in o.inputs) if o.inputs is not None else ()
        outputs = tuple(int(x) for x in o.outputs) if o.outputs is not None else ()
        opts = _options(kind, o.builtinOptions, i)
        name = tensors[outputs[0]].name if outputs else kind.lower()
        ops.append(Op(i, kind, inputs, outputs, opts, name))
    graph = Graph(
        tensors, tuple(ops), tuple(int(x) for x in sg.inputs), tuple(int(x) for x in sg.outputs)
    )
    for op in graph.ops:
        _check(graph, op)
    return graph


def _check(g: Graph, op: Op) -> None:
    """Refuse types and option values the kernels do not implement."""
    t = g.tensors
    ins = [t[i] for i in op.inputs if i >= 0]
    out = t[op.outputs[0]]
    if op.kind == "DEQUANTIZE":
        if ins[0].dtype != "int8" or out.dtype != "float32":
            raise _refuse(
                op.kind, op.index, f"{ins[0].dtype} -> {out.dtype} (int8 -> float32 only)"
            )
        return
    if op.kind == "QUANTIZE":
        if ins[0].dtype not in ("float32", "int8") or out.dtype != "int8":
            raise _refuse(
                op.kind, op.index, f"{ins[0].dtype} -> {out.dtype} (float32/int8 -> int8 only)"
            )
        return
    if out.dtype != "int8" or ins[0].dtype != "int8":
        raise _refuse(op.kind, op.index, f"{ins[0].dtype} -> {out.dtype} tensors (int8 only)")
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        w = ins[1]
        if w.data is None or w.dtype != "int8":
            raise _refuse(op.kind, op.index, "weights that are not constant int8")
        if any(z != 0 for z in w.zero_point):
            raise _refuse(op.kind, op.index, "weights with a non-zero zero point")
        if len(ins) > 2 and ins[2].data is None:
            raise _refuse(op.kind, op.index, "a bias that is not constant")
        if len(ins) > 2 and ins[2].dtype != "int32":
            raise _refuse(op.kind, op.index, f"a {ins[2].dtype} bias (int32 only)")
    if op.kind == "CONV_2D" and ins[1].shape[3] != ins[0].shape[3]:
        raise _refuse(op.kind, op.index, "grouped convolution")
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "PAD"):
        if len(ins[0].shape) != 4 or ins[0].shape[0] != 1:
            raise _refuse(op.kind, op.index, f"input shape {list(ins[0].shape)} (NHWC, batch 1)")
    if op.kind == "FULLY_CONNECTED" and ins[0].size != ins[1].shape[1] * (
        out.size // ins[1].shape[0]
    ):
        raise _refuse(op.kind, op.index, "an input that is not a multiple of the weights' depth")
    if op.kind in ("ADD", "MUL", "CONCATENATION") and any(x.data is not None for x in ins):
        raise _refuse(op.kind, op.index, "a constant operand")
    if op.kind in ("ADD", "MUL") and ins[0].shape != ins[1].shape:
        raise _refuse(
            op.kind, op.index, f"broadcasting {list(ins[0].shape)} with {list(ins[1].shape)}"
        )
    if op.kind == "MEAN":
        axes = sorted(int(a) % 4 for a in np.ravel(ins[1].data)) if ins[1].data is not None else []
        if axes != [1, 2]:
            raise _refuse(op.kind, op.index, f"axes {axes} (the spatial axes [1, 2] only)")
    if op.kind == "PAD" and (
        ins[1].data is None or np.any(ins[1].data[0]) or np.any(ins[1].data[3])
    ):
        raise _refuse(op.kind, op.index, "padding that is not constant or pads batch/channels")
    if op.kind in ("SOFTMAX", "LOGISTIC") and ins[0].scale == ():
        raise _refuse(op.kind, op.index, "an unquantized input")
    if op.kind == "CONCATENATION" and any(
        x.scale != out.scale or x.zero_point != out.zero_point for x in ins
    ):
        raise _refuse(op.kind, op.index, "inputs quantized differently from the output")

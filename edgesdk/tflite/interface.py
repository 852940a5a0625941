"""A quantized model's interface: float I/O around an int8 body (one QUANTIZE op after each float
input, one DEQUANTIZE op before each float output), and the rewrite that gives it int8 I/O by
removing those edge ops, the I/O taking their scale and zero point (as TensorFlow's
``modify_model_interface`` does)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgesdk.errors import ExportError
from edgesdk.tflite.model_info import FLOAT_TYPES, ModelInfo, SubgraphInfo, TensorInfo


@dataclass(frozen=True)
class Edge:
    """One edge op of a float I/O tensor: the op, and the int8 tensor on its other side."""

    side: str  # "input" or "output"
    position: int  # which input or output of the model
    name: str  # the float I/O tensor's name (the int8 tensor takes it)
    op: str  # QUANTIZE (input) or DEQUANTIZE (output)
    op_index: int
    float_tensor: int
    int8_tensor: int
    scale: float
    zero_point: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _consumers(sg: SubgraphInfo, index: int) -> list[Any]:
    return [op for op in sg.ops if index in op.inputs]


def _int8_side(t: TensorInfo, what: str) -> str:
    """Why tensor ``t`` (the int side of edge op ``what``) cannot become an int8 I/O tensor
    ('' if it can)."""
    if t.dtype != "int8":
        verb = "gives" if what.startswith("the QUANTIZE") else "reads"
        return f"{what} {verb} {t.dtype}, not int8"
    if len(t.scale) != 1:
        return f"{what} is not quantized per tensor"
    return ""


def _input_edge(sg: SubgraphInfo, position: int, index: int) -> Edge | str:
    t = sg.tensor(index)
    users = _consumers(sg, index)
    if len(users) != 1 or users[0].name != "QUANTIZE":
        found = ", ".join(op.name for op in users) or "no op"
        return f"input {t.name!r} ({t.dtype}) feeds {found}, not a single QUANTIZE op"
    op = users[0]
    out = sg.tensor(op.outputs[0])
    why = _int8_side(out, f"the QUANTIZE op after input {t.name!r}")
    if why:
        return why
    if op.outputs[0] in sg.outputs:
        return f"the QUANTIZE op after input {t.name!r} gives a model output"
    return Edge(
        "input", position, t.name, op.name, op.index, index, op.outputs[0],
        float(out.scale[0]), int(out.zero_point[0]),
    )  # fmt: skip


def _output_edge(sg: SubgraphInfo, position: int, index: int) -> Edge | str:
    t = sg.tensor(index)
    op = sg.producer(index)
    if op is None or op.name != "DEQUANTIZE" or _consumers(sg, index):
        made = op.name if op is not None else "no op"
        used = " and is read by other ops" if _consumers(sg, index) else ""
        return f"output {t.name!r} ({t.dtype}) comes from {made}{used}, not a single DEQUANTIZE op"
    src = sg.tensor(op.inputs[0])
    why = _int8_side(src, f"the DEQUANTIZE op before output {t.name!r}") or (
        f"the DEQUANTIZE op before output {t.name!r} reads a constant or a model input"
        if src.is_constant or op.inputs[0] in sg.inputs
        else ""
    )
    if why:
        return why
    return Edge(
        "output", position, t.name, op.name, op.index, index, op.inputs[0],
        float(src.scale[0]), int(src.zero_point[0]),
    )  # fmt: skip


def float_edges(info: ModelInfo) -> tuple[list[Edge], list[str]]:
    """The edge ops of the main subgraph's float I/O tensors, and why any other float I/O
    tensor cannot be rewritten (an empty second list: every float I/O tensor has its edge)."""
    sg = info.main
    edges: list[Edge] = []
    problems: list[str] = []
    for side, tensors in (("input", sg.inputs), ("output", sg.outputs)):
        for position, index in enumerate(tensors):
            if sg.tensor(index).dtype not in FLOAT_TYPES:
                continue
            found = (_input_edge if side == "input" else _output_edge)(sg, position, index)
            (edges if isinstance(found, Edge) else problems).append(found)  # type: ignore[arg-type]
    return edges, problems


def _float_inside(sg: SubgraphInfo, removed: set[int]) -> list[str]:
    """Ops left after the rewrite that read or write a float tensor (other than constants)."""
    found = []
    for op in sg.ops:
        if op.index in removed:
            continue
        live = [sg.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
        if any(t.dtype in FLOAT_TYPES and not t.is_constant for t in live):
            found.append(f"{op.name} (op {op.index})")
    return found


def rewrite_problems(info: ModelInfo) -> list[str]:
    """Why the model's float I/O cannot be rewritten to int8 ([] when it can)."""
    edges, problems = float_edges(info)
    if problems:
        return problems
    inside = _float_inside(info.main, {e.op_index for e in edges})
    if inside:
        return [f"float ops inside the model: {', '.join(inside[:3])}"]
    if any(sg.float_ops() for sg in info.subgraphs[1:]):
        return ["float ops in a subgraph other than the main one"]
    return []


def _sfb() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _pack(tree: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def _remap(values: Any, new: dict[int, int]) -> Any:
    if values is None:
        return None
    return np.array([new[int(v)] if int(v) >= 0 else int(v) for v in values], dtype=np.int32)


def to_int8_io(data: bytes, info: ModelInfo, source: str) -> tuple[bytes, tuple[Edge, ...]]:
    """``data`` with each float I/O tensor's edge op removed: the int8 tensor on the op's other
    side becomes the model's input or output, under the float tensor's name. Other tensors,
    buffers and the signatures' names are kept (their indices renumbered).

    Returns:
        The rewritten model and the removed edges (``data`` itself and () without float I/O).

    Raises:
        ExportError: a float I/O tensor without a single QUANTIZE/DEQUANTIZE edge to int8, or
            float ops inside the model (it is not int8 inside: nothing is rewritten).
    """
    edges, problems = float_edges(info)
    if not edges and not problems:
        return data, ()
    problems = problems or rewrite_problems(info)
    if problems:
        raise ExportError(
            f"Cannot give {source} int8 I/O: {problems[0]} (only a model quantized to int8 "
            "inside, with float I/O through QUANTIZE/DEQUANTIZE edge ops, can be rewritten)",
            what="io",
            value="int8",
        )
    s = _sfb()
    tree = s.ModelT.InitFromObj(s.Model.GetRootAs(data, 0))
    sg = tree.subgraphs[0]
    ops = {e.op_index for e in edges}
    sg.operators = [op for i, op in enumerate(sg.operators) if i not in ops]
    # the int8 tensor takes the float one's place in the I/O lists and its name
    io_index = {e.float_tensor: e.int8_tensor for e in edges}
    for e in edges:
        sg.tensors[e.int8_tensor].name = sg.tensors[e.float_tensor].name
    sg.inputs = np.array([io_index.get(int(i), int(i)) for i in sg.inputs], dtype=np.int32)
    sg.outputs = np.array([io_index.get(int(i), int(i)) for i in sg.outputs], dtype=np.int32)
    for sig in tree.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for entry in (*(sig.inputs or []), *(sig.outputs or [])):
                entry.tensorIndex = io_index.get(entry.tensorIndex, entry.tensorIndex)
    # drop the float tensors (no op reads or writes them now) and renumber the rest
    keep = [i for i in range(len(sg.tensors)) if i not in io_index]
    new = {old: n for n, old in enumerate(keep)}
    sg.tensors = [sg.tensors[i] for i in keep]
    for op in sg.operators:
        op.inputs, op.outputs = _remap(op.inputs, new), _remap(op.outputs, new)
        op.intermediates = _remap(op.intermediates, new)
    sg.inputs, sg.outputs = _remap(sg.inputs, new), _remap(sg.outputs, new)
    for sig in tree.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for entry in (*(sig.inputs or []), *(sig.outputs or [])):
                entry.tensorIndex = new[entry.tensorIndex]
    return _pack(tree), tuple(edges)

"""Run LiteRT's reference kernels (BUILTIN_REF) on single ops: element-wise tables, test outputs."""

from __future__ import annotations

import numpy as np

from edgesdk.firmware.standalone.graph import Graph, Op


def one_op_model(model: bytes, op: Op) -> bytes:
    """A copy of ``model`` whose graph is only ``op`` (its input and output as the I/O)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    sg = m.subgraphs[0]
    sg.operators = [sg.operators[op.index]]
    tensors = sg.tensors
    live = [i for i in op.inputs if i >= 0 and not _constant(m, tensors[i])]
    sg.inputs = np.array(live, dtype=np.int32)
    sg.outputs = np.array([op.outputs[0]], dtype=np.int32)
    m.signatureDefs = None
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def one_op_inputs(model: bytes, op: Op) -> list[int]:
    """The inputs of ``one_op_model(model, op)``, in order: the op's non-constant inputs."""
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    tensors = m.subgraphs[0].tensors
    return [i for i in op.inputs if i >= 0 and not _constant(m, tensors[i])]


def _constant(m: object, t: object) -> bool:
    buf = m.buffers[t.buffer] if t.buffer < len(m.buffers) else None  # type: ignore[attr-defined]
    return buf is not None and buf.data is not None and len(buf.data) > 0


def elementwise_table(model: bytes, g: Graph, op: Op) -> np.ndarray:
    """The int8 -> int8 table of an element-wise op, from LiteRT's reference kernel run on all
    256 input values (exact by construction)."""
    from edgesdk.tflite import interpreters

    interp = interpreters.litert(one_op_model(model, op), interpreters.Kernels.REFERENCE)
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    size = int(np.prod(i["shape"]))
    values = np.arange(-128, 128, dtype=np.int8)
    table = np.zeros(256, dtype=np.int8)
    for start in range(0, 256, size):
        chunk = np.resize(values[start : start + size], size)
        interp.set_tensor(i["index"], chunk.reshape(i["shape"]))
        interp.invoke()
        got = interp.get_tensor(o["index"]).reshape(-1)
        n = min(size, 256 - start)
        table[start : start + n] = got[:n]
    return table


def reference_outputs(model: bytes, g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Raw outputs of the whole model on raw inputs (in the graph's I/O order), BUILTIN_REF."""
    from edgesdk.tflite import interpreters

    interp = interpreters.litert(model, interpreters.Kernels.REFERENCE)
    by_index = {d["index"]: d for d in interp.get_input_details() + interp.get_output_details()}
    ins = [by_index[t] for t in g.inputs]
    outs = [by_index[t] for t in g.outputs]
    for d, x in zip(ins, inputs, strict=True):
        interp.set_tensor(d["index"], x.reshape(d["shape"]).astype(d["dtype"]))
    interp.invoke()
    return [interp.get_tensor(d["index"]).copy() for d in outs]

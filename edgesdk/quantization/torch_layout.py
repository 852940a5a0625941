"""PyTorch's flatten order on an NHWC graph: litert-torch leaves a TRANSPOSE (NHWC -> NCHW)
before each flatten. Folding it into the columns of the FULLY_CONNECTED weights that read the
flattened tensor removes the op, bit-exactly (the int32 sums only change order), so engines
without TRANSPOSE (the standalone C engine) take the model and MCUs skip a copy."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_NHWC_TO_NCHW = [0, 3, 1, 2]


def _consumers(sg: Any, tensor: int) -> list[tuple[int, int]]:
    """(op index, input position) of every use of ``tensor``."""
    return [
        (i, k)
        for i, op in enumerate(sg.operators)
        for k, t in enumerate(op.inputs if op.inputs is not None else [])
        if int(t) == tensor
    ]


def _same_quantization(a: Any, b: Any) -> bool:
    qa, qb = a.quantization, b.quantization
    if qa is None or qb is None or qa.scale is None or qb.scale is None:
        return qa is None and qb is None
    return list(qa.scale) == list(qb.scale) and list(qa.zeroPoint) == list(qb.zeroPoint)


def _fold_one(m: Any, sg: Any, index: int, ops: list[str]) -> bool:
    """Fold TRANSPOSE op ``index`` into the weights of the FCs after its RESHAPE, if it is one."""
    op = sg.operators[index]
    x, perm_t, y = int(op.inputs[0]), int(op.inputs[1]), int(op.outputs[0])
    perm = m.buffers[sg.tensors[perm_t].buffer].data
    if perm is None or np.frombuffer(bytes(perm), np.int32).tolist() != _NHWC_TO_NCHW:
        return False
    if len(sg.tensors[x].shape) != 4 or not _same_quantization(sg.tensors[x], sg.tensors[y]):
        return False
    outputs = {int(t) for t in sg.outputs}
    uses = _consumers(sg, y)
    if y in outputs or len(uses) != 1 or ops[uses[0][0]] != "RESHAPE" or uses[0][1] != 0:
        return False
    reshape = sg.operators[uses[0][0]]
    z = int(reshape.outputs[0])
    fcs = _consumers(sg, z)
    if z in outputs or not fcs or any(ops[i] != "FULLY_CONNECTED" or k != 0 for i, k in fcs):
        return False
    _, h, w, c = (int(d) for d in sg.tensors[x].shape)
    source = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
    weights = []
    for i, _ in fcs:
        wt = int(sg.operators[i].inputs[1])
        tensor = sg.tensors[wt]
        data = m.buffers[tensor.buffer].data
        shared = (
            len(_consumers(sg, wt)) != 1 or sum(t.buffer == tensor.buffer for t in sg.tensors) != 1
        )
        if data is None or shared or tensor.type != 9 or int(tensor.shape[-1]) != c * h * w:
            return False  # 9: INT8 in the schema's TensorType
        weights.append((tensor, data))
    for tensor, data in weights:
        matrix = np.frombuffer(bytes(data), np.int8).reshape(int(tensor.shape[0]), -1)
        m.buffers[tensor.buffer].data = (
            np.ascontiguousarray(matrix[:, source]).reshape(-1).view(np.uint8)
        )
    reshape.inputs = [x, *(int(t) for t in reshape.inputs[1:])]
    del sg.operators[index]
    return True


def fold_flatten_transposes(model: bytes) -> tuple[bytes, int]:
    """``model`` with every int8 NHWC -> NCHW TRANSPOSE that only feeds a flatten into
    FULLY_CONNECTED layers folded into their weights; and how many were folded."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.ModelT.InitFromPackedBuf(model, 0)
    folded = 0
    for sg in m.subgraphs:
        changed = True
        while changed:
            changed = False
            ops = [
                names.get(max(m.operatorCodes[o.opcodeIndex].builtinCode,
                              m.operatorCodes[o.opcodeIndex].deprecatedBuiltinCode), "")
                for o in sg.operators
            ]  # fmt: skip
            for i, name in enumerate(ops):
                if name == "TRANSPOSE" and _fold_one(m, sg, i, ops):
                    folded += 1
                    changed = True
                    break
    if not folded:
        return model, 0
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    log.info("folded %d flatten TRANSPOSE op(s) into FULLY_CONNECTED weights", folded)
    return bytes(builder.Output()), folded

"""One-op int8 SOFTMAX models written straight as flatbuffers (any input scale, zero point,
beta and shape, no converter): the integer-only softmax's test cases."""

from __future__ import annotations

import numpy as np


def softmax_model(
    shape: tuple[int, ...], scale: float, zero_point: int, beta: float = 1.0, out_zp: int = -128
) -> bytes:
    """int8 ``shape`` -> SOFTMAX(beta) -> int8 (scale 1/256, zero point ``out_zp``: -128 as
    TFLite's converter writes it)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str, sc: float, zp: int, buffer: int) -> object:
        t = s.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = s.TensorType.INT8
        t.buffer = buffer
        t.name = name
        q = s.QuantizationParametersT()
        q.scale = np.array([sc], dtype=np.float32)
        q.zeroPoint = np.array([zp], dtype=np.int64)
        t.quantization = q
        return t

    options = s.SoftmaxOptionsT()
    options.beta = beta
    op = s.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array([0], dtype=np.int32)
    op.outputs = np.array([1], dtype=np.int32)
    op.builtinOptionsType = s.BuiltinOptions.SoftmaxOptions
    op.builtinOptions = options
    sg = s.SubGraphT()
    sg.tensors = [tensor("logits", scale, zero_point, 1), tensor("probs", 1 / 256, out_zp, 2)]
    sg.inputs = np.array([0], dtype=np.int32)
    sg.outputs = np.array([1], dtype=np.int32)
    sg.operators = [op]
    sg.name = "main"
    code = s.OperatorCodeT()
    code.builtinCode = s.BuiltinOperator.SOFTMAX
    code.deprecatedBuiltinCode = s.BuiltinOperator.SOFTMAX
    code.version = 2
    m = s.ModelT()
    m.version = 3
    m.operatorCodes = [code]
    m.subgraphs = [sg]
    m.buffers = [s.BufferT(), s.BufferT(), s.BufferT()]
    m.description = "edgesdk softmax test"
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())

"""Rewrites of a quantized model's I/O that mobile clients need: int8 I/O becomes uint8 (a
QUANTIZE op at each edge), and a uint8 input's scale and zero point are made to match the
pixel normalization the app applies (MediaPipe feeds raw 0-255 pixels to a uint8 input)."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.errors import ConversionError


def _sfb() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _load(model: bytes) -> Any:
    s = _sfb()
    return s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))


def _pack(tree: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(tree.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def _quantize_opcode(tree: Any) -> int:
    s = _sfb()
    code = s.BuiltinOperator.QUANTIZE
    for i, oc in enumerate(tree.operatorCodes):
        if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code:
            return i
    oc = s.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, 127)
    oc.version = 1
    tree.operatorCodes.append(oc)
    return len(tree.operatorCodes) - 1


def _uint8_twin(old: Any, scale: float, zero_point: int, name: str) -> Any:
    s = _sfb()
    t = s.TensorT()
    t.name = name
    t.type = s.TensorType.UINT8
    t.shape = np.array(old.shape, dtype=np.int32)
    t.shapeSignature = None if old.shapeSignature is None else np.array(old.shapeSignature)
    t.buffer = 0  # buffer 0 is the empty sentinel: a runtime tensor
    q = s.QuantizationParametersT()
    q.scale = np.array([scale], dtype=np.float32)
    q.zeroPoint = np.array([zero_point], dtype=np.int64)
    t.quantization = q
    return t


def _quant(tensor: Any) -> tuple[float, int]:
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) != 1:
        raise ConversionError(
            f"I/O tensor {tensor.name!r} is not quantized per tensor; cannot requantize it"
        )
    return float(q.scale[0]), int(q.zeroPoint[0])


def _retarget_signatures(tree: Any, old: int, new: int, outputs: bool) -> None:
    for sig in tree.signatureDefs or []:
        for entry in (sig.outputs if outputs else sig.inputs) or []:
            if entry.tensorIndex == old:
                entry.tensorIndex = new


def int8_io_to_uint8(model: bytes, input_params: tuple[float, int] | None = None) -> bytes:
    """Give an int8-I/O model uint8 input and output.

    A QUANTIZE op (uint8 → int8) is put before the input and one (int8 → uint8) after the
    output. The uint8 output keeps the int8 scale with the zero point moved by 128, so the
    scores are the same; the uint8 input takes ``input_params`` (scale, zero point) when given,
    else the same shift.

    Raises:
        ConversionError: not one int8 input and one int8 output, or not per-tensor quantized.
    """
    s = _sfb()
    tree = _load(model)
    sg = tree.subgraphs[0]
    if len(sg.inputs) != 1 or len(sg.outputs) != 1:
        raise ConversionError("Only a model with one input and one output can be requantized")
    opcode = _quantize_opcode(tree)
    in_index, out_index = int(sg.inputs[0]), int(sg.outputs[0])
    for index in (in_index, out_index):
        if sg.tensors[index].type != s.TensorType.INT8:
            raise ConversionError(
                f"Tensor {sg.tensors[index].name!r} is not int8; only int8 I/O is requantized"
            )
    old_in = sg.tensors[in_index]
    scale, zero = _quant(old_in)
    new_scale, new_zero = input_params or (scale, zero + 128)
    name = old_in.name
    old_in.name = name + b"_int8" if isinstance(name, bytes) else f"{name}_int8"
    sg.tensors.append(_uint8_twin(old_in, new_scale, new_zero, name))
    new_in = len(sg.tensors) - 1

    old_out = sg.tensors[out_index]
    scale, zero = _quant(old_out)
    name = old_out.name
    old_out.name = name + b"_int8" if isinstance(name, bytes) else f"{name}_int8"
    sg.tensors.append(_uint8_twin(old_out, scale, zero + 128, name))
    new_out = len(sg.tensors) - 1

    first, last = s.OperatorT(), s.OperatorT()
    first.opcodeIndex, first.inputs, first.outputs = opcode, [new_in], [in_index]
    last.opcodeIndex, last.inputs, last.outputs = opcode, [out_index], [new_out]
    sg.operators = [first, *sg.operators, last]
    sg.inputs, sg.outputs = np.array([new_in], np.int32), np.array([new_out], np.int32)
    _retarget_signatures(tree, in_index, new_in, outputs=False)
    _retarget_signatures(tree, out_index, new_out, outputs=True)
    return _pack(tree)


def set_uint8_input_params(model: bytes, scale: float, zero_point: int) -> bytes:
    """Set the scale and zero point of a uint8 input that feeds a QUANTIZE op.

    The QUANTIZE op then requantizes raw pixels into the range the model was calibrated for.

    Raises:
        ConversionError: the input is not uint8 or is not consumed only by a QUANTIZE op.
    """
    s = _sfb()
    tree = _load(model)
    sg = tree.subgraphs[0]
    index = int(sg.inputs[0])
    tensor = sg.tensors[index]
    consumers = [op for op in sg.operators if index in list(op.inputs)]
    codes = tree.operatorCodes
    quantize = s.BuiltinOperator.QUANTIZE
    if (
        tensor.type != s.TensorType.UINT8
        or not consumers
        or any(
            max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode)
            != quantize
            for op in consumers
        )
    ):
        raise ConversionError(
            "The uint8 input does not feed a QUANTIZE op only; its scale cannot be changed"
        )
    tensor.quantization.scale = np.array([scale], dtype=np.float32)
    tensor.quantization.zeroPoint = np.array([zero_point], dtype=np.int64)
    return _pack(tree)

"""Inspection of .tflite flatbuffers (ops, tensors, quantization) with LiteRT's schema package."""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.errors import InspectionError
from edgesdk.tflite.layout_record import LayoutRecord, read_layout

FLOAT_TYPES = frozenset({"float32", "float16", "float64", "bfloat16"})
BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
_IDENTIFIER = b"TFL3"


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _reverse(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a subgraph."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    is_constant: bool
    data_bytes: int
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    quantized_dimension: int = 0

    @property
    def quantized(self) -> bool:
        return len(self.scale) > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "constant": self.is_constant,
            "data_bytes": self.data_bytes,
            "scale": list(self.scale),
            "zero_point": list(self.zero_point),
            "quantized_dimension": self.quantized_dimension,
        }


@dataclass(frozen=True)
class OpInfo:
    """One operator of a subgraph."""

    index: int
    name: str
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "op": self.name,
            "version": self.version,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "custom": self.custom,
        }


@dataclass(frozen=True)
class SubgraphInfo:
    """One subgraph: tensors, operators, graph inputs and outputs."""

    name: str
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> TensorInfo:
        return self.tensors[index]

    def producer(self, tensor_index: int) -> OpInfo | None:
        """The operator that writes ``tensor_index``, if any."""
        for op in self.ops:
            if tensor_index in op.outputs:
                return op
        return None

    def float_ops(self) -> list[OpInfo]:
        """Operators that compute in floating point (QUANTIZE/DEQUANTIZE excepted)."""
        found = []
        for op in self.ops:
            if op.name in BOUNDARY_OPS:
                continue
            live = [self.tensors[i] for i in (*op.inputs, *op.outputs) if i >= 0]
            if any(t.dtype in FLOAT_TYPES and not t.is_constant for t in live):
                found.append(op)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "ops": [o.to_dict() for o in self.ops],
            "tensors": [t.to_dict() for t in self.tensors],
        }


@dataclass(frozen=True)
class OpTypeRow:
    """One row of the per-op dtype table."""

    op: str
    count: int
    activations: tuple[str, ...]
    weights: tuple[str, ...]
    outputs: tuple[str, ...]
    float_compute: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "count": self.count,
            "activations": list(self.activations),
            "weights": list(self.weights),
            "outputs": list(self.outputs),
            "float_compute": self.float_compute,
        }


@dataclass(frozen=True)
class ModelInfo:
    """What a .tflite file contains."""

    size_bytes: int
    schema_version: int
    description: str
    subgraphs: tuple[SubgraphInfo, ...]
    weights_bytes: int
    signatures: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # the edgesdk_layout record (a PyTorch model's NCHW input taken as NHWC), or None
    layout: LayoutRecord | None = None

    @property
    def graph_bytes(self) -> int:
        """Bytes that are not tensor data: operators, tensors' metadata, strings."""
        return self.size_bytes - self.weights_bytes

    @property
    def main(self) -> SubgraphInfo:
        return self.subgraphs[0]

    def op_counts(self) -> dict[str, int]:
        """Operator name → number of uses, over all subgraphs."""
        counts = Counter(op.name for sg in self.subgraphs for op in sg.ops)
        return dict(sorted(counts.items()))

    def op_versions(self) -> dict[str, int]:
        """Operator name → highest version used."""
        versions: dict[str, int] = {}
        for sg in self.subgraphs:
            for op in sg.ops:
                versions[op.name] = max(versions.get(op.name, 0), op.version)
        return dict(sorted(versions.items()))

    def float_ops(self) -> list[OpInfo]:
        return [op for sg in self.subgraphs for op in sg.float_ops()]

    def custom_ops(self) -> list[str]:
        return sorted({op.name for sg in self.subgraphs for op in sg.ops if op.custom})

    def dtype_table(self) -> list[OpTypeRow]:
        """Per op type: data types of activations, weights and outputs."""
        rows: dict[str, dict[str, Any]] = {}
        for sg in self.subgraphs:
            floats = {op.index for op in sg.float_ops()}
            for op in sg.ops:
                row = rows.setdefault(
                    op.name,
                    {"count": 0, "act": set(), "w": set(), "out": set(), "float": False},
                )
                row["count"] += 1
                for i in op.inputs:
                    if i < 0:
                        continue
                    t = sg.tensors[i]
                    row["w" if t.is_constant else "act"].add(t.dtype)
                row["out"].update(sg.tensors[i].dtype for i in op.outputs if i >= 0)
                row["float"] = row["float"] or op.index in floats
        return [
            OpTypeRow(
                op=name,
                count=r["count"],
                activations=tuple(sorted(r["act"])),
                weights=tuple(sorted(r["w"])),
                outputs=tuple(sorted(r["out"])),
                float_compute=r["float"],
            )
            for name, r in sorted(rows.items())
        ]

    def io_tensors(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        """The main subgraph's input and output tensors, in graph order."""
        sg = self.main
        return [sg.tensors[i] for i in sg.inputs], [sg.tensors[i] for i in sg.outputs]

    def scale_of(self, tensor_index: int) -> tuple[float, int] | None:
        """Scale and zero point of a main-subgraph tensor, looking through a DEQUANTIZE."""
        sg = self.main
        tensor = sg.tensors[tensor_index]
        if tensor.quantized:
            return tensor.scale[0], tensor.zero_point[0]
        producer = sg.producer(tensor.index)
        if producer is not None and producer.name == "DEQUANTIZE":
            source = sg.tensors[producer.inputs[0]]
            if source.quantized and not source.is_constant:
                return source.scale[0], source.zero_point[0]
        return None

    def to_dict(self, tensors: bool = True) -> dict[str, Any]:
        inputs, outputs = self.io_tensors()
        data: dict[str, Any] = {
            "size_bytes": self.size_bytes,
            "weights_bytes": self.weights_bytes,
            "graph_bytes": self.graph_bytes,
            "schema_version": self.schema_version,
            "description": self.description,
            "signatures": self.signatures,
            "op_counts": self.op_counts(),
            "op_versions": self.op_versions(),
            "inputs": [t.to_dict() for t in inputs],
            "outputs": [t.to_dict() for t in outputs],
            "dtype_table": [r.to_dict() for r in self.dtype_table()],
            "float_ops": [o.name for o in self.float_ops()],
            "layout": self.layout.to_dict() if self.layout else None,
        }
        if tensors:
            data["subgraphs"] = [sg.to_dict() for sg in self.subgraphs]
        return data


def _string(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""


def _parse_subgraph(
    schema: Any, sg: Any, model: Any, opcodes: list[tuple[str, int, bool]]
) -> SubgraphInfo:
    type_names = _reverse(schema.TensorType)
    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        buffer = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        data_bytes = 0
        if buffer is not None:
            data_bytes = buffer.Size() if buffer.Offset() > 1 else buffer.DataLength()
        q = t.Quantization()
        scale: tuple[float, ...] = ()
        zero: tuple[int, ...] = ()
        qdim = 0
        if q is not None and q.ScaleLength() > 0:
            scale = tuple(float(s) for s in q.ScaleAsNumpy())
            zero = (
                tuple(int(z) for z in q.ZeroPointAsNumpy())
                if q.ZeroPointLength()
                else (0,) * len(scale)
            )
            qdim = q.QuantizedDimension()
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        tensors.append(
            TensorInfo(
                index=i,
                name=_string(t.Name()),
                dtype=type_names.get(t.Type(), f"type{t.Type()}").lower(),
                shape=shape,
                is_constant=data_bytes > 0,
                data_bytes=data_bytes,
                scale=scale,
                zero_point=zero,
                quantized_dimension=qdim,
            )
        )
    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        if not 0 <= op.OpcodeIndex() < len(opcodes):
            raise InspectionError(
                f"Malformed .tflite file: op {i} uses operator code {op.OpcodeIndex()} of "
                f"{len(opcodes)}",
                what=f"op {i}",
            )
        name, version, custom = opcodes[op.OpcodeIndex()]
        ops.append(
            OpInfo(
                index=i,
                name=name,
                version=version,
                inputs=tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else (),
                outputs=tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else (),
                custom=custom,
            )
        )
    return SubgraphInfo(
        name=_string(sg.Name()),
        tensors=tuple(tensors),
        ops=tuple(ops),
        inputs=tuple(int(x) for x in sg.InputsAsNumpy()) if sg.InputsLength() else (),
        outputs=tuple(int(x) for x in sg.OutputsAsNumpy()) if sg.OutputsLength() else (),
    )


def _parse(data: bytes, source: str) -> ModelInfo:
    from edgesdk.tflite.validate import validate_names, validate_subgraph

    schema = _schema()
    model = schema.Model.GetRootAs(data, 0)
    op_names = _reverse(schema.BuiltinOperator)
    opcodes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = op_names.get(code, f"BUILTIN_{code}")
        custom = name == "CUSTOM"
        if custom:
            name = _string(oc.CustomCode()) or "CUSTOM"
        opcodes.append((name, oc.Version(), custom))
    weights = 0
    for i in range(model.BuffersLength()):
        b = model.Buffers(i)
        if b.Offset() > 1:
            if b.Offset() + b.Size() > len(data):
                raise InspectionError(
                    f"Truncated .tflite file {source}: buffer {i} lies past the end"
                )
            weights += b.Size()
        elif b.DataLength():
            b.DataAsNumpy()  # raises if the vector runs past the end of the file
            weights += b.DataLength()
    subgraphs = tuple(
        _parse_subgraph(schema, model.Subgraphs(i), model, opcodes)
        for i in range(model.SubgraphsLength())
    )
    if not subgraphs:
        raise InspectionError(f"Invalid .tflite file {source}: it has no subgraph")
    signatures: dict[str, dict[str, list[str]]] = {}
    for i in range(model.SignatureDefsLength()):
        sd = model.SignatureDefs(i)
        signatures[_string(sd.SignatureKey())] = {
            "inputs": [_string(sd.Inputs(j).Name()) for j in range(sd.InputsLength())],
            "outputs": [_string(sd.Outputs(j).Name()) for j in range(sd.OutputsLength())],
        }
    for k, sg in enumerate(subgraphs):
        validate_subgraph(sg, k, len(opcodes), source)
    validate_names(model, source)
    return ModelInfo(
        size_bytes=len(data),
        schema_version=model.Version(),
        description=_string(model.Description()),
        subgraphs=subgraphs,
        weights_bytes=weights,
        signatures=signatures,
        layout=read_layout(data),
    )


def inspect_bytes(data: bytes, source: str = "<bytes>") -> ModelInfo:
    """Parse a .tflite flatbuffer.

    Raises:
        InspectionError: not a TFLite flatbuffer, or truncated / corrupt.
    """
    if len(data) < 8 or data[4:8] != _IDENTIFIER:
        raise InspectionError(
            f"Not a TFLite model: {source} (expected the flatbuffer identifier 'TFL3' at byte 4)"
        )
    try:
        return _parse(data, source)
    except InspectionError:
        raise
    except (IndexError, ValueError, struct.error, TypeError, UnicodeDecodeError) as e:
        raise InspectionError(f"Corrupt or truncated .tflite file {source}: {e}") from e


def read_tflite(path: str | Path) -> bytes:
    """Read a .tflite file, with a clear error when it is missing."""
    p = Path(path)
    if p.is_dir():
        raise InspectionError(f"Expected a .tflite file, got a directory: {p}")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InspectionError(f"No such .tflite file: {p}") from None
    except OSError as e:
        raise InspectionError(f"Cannot read {p}: {e.strerror}") from e


def check_tflite_file(path: str | Path) -> None:
    """Cheap check that ``path`` is a .tflite file (identifier only; no full parse).

    Raises:
        InspectionError: missing, a directory, or not a TFLite flatbuffer.
    """
    p = Path(path)
    if p.is_dir():
        raise InspectionError(f"Expected a .tflite file, got a directory: {p}")
    try:
        with p.open("rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise InspectionError(f"No such .tflite file: {p}") from None
    except OSError as e:
        raise InspectionError(f"Cannot read {p}: {e.strerror}") from e
    if len(head) < 8 or head[4:8] != _IDENTIFIER:
        raise InspectionError(
            f"Not a TFLite model: {p} (expected the flatbuffer identifier 'TFL3' at byte 4)"
        )


def inspect_file(path: str | Path) -> ModelInfo:
    """Parse the .tflite file at ``path``."""
    return inspect_bytes(read_tflite(path), str(path))

"""Checks of a parsed .tflite that runtimes would otherwise pay for with an out-of-bounds read:
indices, constant data sizes, quantization arrays, UTF-8 names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgesdk.errors import InspectionError

if TYPE_CHECKING:
    from edgesdk.tflite.model_info import SubgraphInfo


_ITEM_BYTES = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "float16": 2, "int32": 4,
               "float32": 4, "int64": 8, "float64": 8}  # fmt: skip


def _bad(source: str, where: str, what: str) -> InspectionError:
    return InspectionError(f"Malformed .tflite file {source}: {where} {what}", what=where)


def validate_subgraph(sg: SubgraphInfo, k: int, opcodes: int, source: str) -> None:
    """Indices in range, quantization arrays of matching sizes, constant data of the size its
    shape says: what a runtime would otherwise read out of bounds."""
    count = len(sg.tensors)
    for role, indices in (("input", sg.inputs), ("output", sg.outputs)):
        for t in indices:
            if not 0 <= t < count:
                raise _bad(source, f"subgraph {k}", f"lists {role} tensor {t} of {count}")
    for t in sg.tensors:
        where = f"subgraph {k} tensor {t.index} ({t.name!r})"
        if any(d < -1 for d in t.shape):
            raise _bad(source, where, f"has shape {list(t.shape)}")
        if len(t.scale) != len(t.zero_point):
            raise _bad(source, where, f"has {len(t.scale)} scales, {len(t.zero_point)} zero points")
        if len(t.scale) > 1:
            if not 0 <= t.quantized_dimension < len(t.shape):
                raise _bad(source, where, f"is quantized on dimension {t.quantized_dimension}")
            if t.shape[t.quantized_dimension] != len(t.scale):
                raise _bad(
                    source, where,
                    f"has {len(t.scale)} scales for {t.shape[t.quantized_dimension]} channels",
                )  # fmt: skip
        size = _ITEM_BYTES.get(t.dtype)
        if t.is_constant and size and all(d >= 0 for d in t.shape):
            expected = size * int(np.prod(t.shape, dtype=np.int64)) if t.shape else size
            if t.data_bytes != expected:
                raise _bad(source, where, f"holds {t.data_bytes} bytes, its shape needs {expected}")
    for op in sg.ops:
        for role, indices in (("input", op.inputs), ("output", op.outputs)):
            for t in indices:
                if not -1 <= t < count:
                    raise _bad(
                        source, f"subgraph {k} op {op.index} ({op.name})",
                        f"uses {role} tensor {t} of {count}",
                    )  # fmt: skip


def validate_names(model: Any, source: str) -> None:
    """Tensor names must be UTF-8: runtimes decode them strictly."""
    for k in range(model.SubgraphsLength()):
        sg = model.Subgraphs(k)
        for i in range(sg.TensorsLength()):
            raw = sg.Tensors(i).Name()
            try:
                (raw or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise _bad(
                    source,
                    f"subgraph {k} tensor {i}",
                    f"has a name that is not UTF-8: {raw[:40]!r}",
                ) from None

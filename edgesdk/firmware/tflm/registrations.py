"""Which kernel registration the generated op resolver uses for each op: the int8-only one
(``AddConv2D(tflite::Register_CONV_2D_INT8())``) where every instance of the op in the model is
int8, the generic one otherwise.

With CMSIS-NN the generic registrations link every variant of a kernel (int8, int16, int4);
the int8-only ones link only the int8 code (measured on the digits CNN, Cortex-M4F: 109,644 B
of flash with generic registrations against 78,924 B, identical outputs and instruction counts).
With the reference kernels TFLite Micro declares them as inline aliases of the generic ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KERNELS = "tensorflow/lite/micro/kernels"

# resolver method -> (kernel header declaring the registration, the int8-only registration).
# TFLite Micro 90b983c declares every one of them in both kernel sets (CMSIS-NN: its own
# kernel; reference: an inline alias of the generic registration).
INT8_ONLY: dict[str, tuple[str, str]] = {
    "AddAdd": ("add.h", "Register_ADD_INT8"),
    "AddAveragePool2D": ("pooling.h", "Register_AVERAGE_POOL_2D_INT8"),
    "AddBatchMatMul": ("batch_matmul.h", "Register_BATCH_MATMUL_INT8"),
    "AddConv2D": ("conv.h", "Register_CONV_2D_INT8"),
    "AddDepthwiseConv2D": ("depthwise_conv.h", "Register_DEPTHWISE_CONV_2D_INT8"),
    "AddFullyConnected": ("fully_connected.h", "Register_FULLY_CONNECTED_INT8"),
    "AddMaxPool2D": ("pooling.h", "Register_MAX_POOL_2D_INT8"),
    "AddMaximum": ("maximum_minimum.h", "Register_MAXIMUM_INT8"),
    "AddMinimum": ("maximum_minimum.h", "Register_MINIMUM_INT8"),
    "AddMul": ("mul.h", "Register_MUL_INT8"),
    "AddPad": ("pad.h", "Register_PAD_INT8"),
    "AddSoftmax": ("softmax.h", "Register_SOFTMAX_INT8"),
    "AddSvdf": ("svdf.h", "Register_SVDF_INT8"),
    "AddTranspose": ("transpose.h", "Register_TRANSPOSE_INT8"),
    "AddTransposeConv": ("transpose_conv.h", "Register_TRANSPOSE_CONV_INT8"),
}
# ops whose int32 bias input the int8 kernels take
_BIAS_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "SVDF"}


@dataclass(frozen=True)
class Registration:
    """How the resolver registers one op."""

    op: str
    method: str
    int8_only: bool  # True: the int8-only registration; False: the generic one
    why: str  # for the generic one: the first non-int8 tensor seen

    @property
    def call(self) -> str:
        if not self.int8_only:
            return f"{self.method}()"
        return f"{self.method}(tflite::{INT8_ONLY[self.method][1]}())"

    @property
    def header(self) -> str | None:
        return f"{KERNELS}/{INT8_ONLY[self.method][0]}" if self.int8_only else None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "method": self.method, "int8_only": self.int8_only,
                "why_generic": self.why}  # fmt: skip


def _not_int8(info: Any, op_name: str) -> str:
    """'' when every instance of ``op_name`` in the model is int8; else what is not."""
    for sg in info.subgraphs:
        for op in sg.ops:
            if op.name != op_name:
                continue
            for k, i in enumerate(op.inputs):
                if i < 0:
                    continue
                t = sg.tensors[i]
                bias = op_name in _BIAS_OPS and k == 2 and t.dtype == "int32"
                if t.dtype != "int8" and not bias:
                    return f"op {op.index} input {k} is {t.dtype}"
            for k, i in enumerate(op.outputs):
                if sg.tensors[i].dtype != "int8":
                    return f"op {op.index} output {k} is {sg.tensors[i].dtype}"
    return ""


def registrations(info: Any, ops: list[Any]) -> list[Registration]:
    """One registration per op type with a resolver method, in ``ops``' order."""
    out = []
    for o in ops:
        if not o.method:
            continue
        why = _not_int8(info, o.op) if o.method in INT8_ONLY else "no int8-only registration"
        out.append(Registration(o.op, o.method, not why, why))
    return out

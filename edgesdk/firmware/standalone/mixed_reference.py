"""Reference outputs op by op: each op from the kernel the generated C matches (LiteRT's
BUILTIN_REF, or TFLite Micro's interpreter for the integer-only SOFTMAX)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgesdk.firmware.standalone.graph import Graph, Op
from edgesdk.firmware.standalone.reference import one_op_inputs, one_op_model

LITERT_REF = "LiteRT BUILTIN_REF"
TFLM = "TFLite Micro"


def op_references(kernels: dict[int, str]) -> dict[int, str]:
    """op index -> the reference its generated kernel is verified against."""
    return {i: TFLM if k == "softmax_fixed" else LITERT_REF for i, k in kernels.items()}


def _litert(model: bytes) -> Callable[[list[np.ndarray]], np.ndarray]:
    from edgesdk.tflite import interpreters

    interp = interpreters.litert(model, interpreters.Kernels.REFERENCE)
    ins, out = interp.get_input_details(), interp.get_output_details()[0]

    def run(xs: list[np.ndarray]) -> np.ndarray:
        for d, x in zip(ins, xs, strict=True):
            interp.set_tensor(d["index"], x.reshape(d["shape"]).astype(d["dtype"]))
        interp.invoke()
        return interp.get_tensor(out["index"]).copy()

    return run


def _tflm(model: bytes) -> Callable[[list[np.ndarray]], np.ndarray]:
    from edgesdk.tflite.micro import load_interpreter, run_micro

    interp, _ = load_interpreter(model)

    def run(xs: list[np.ndarray]) -> np.ndarray:
        return run_micro(interp, xs, 1)[0]

    return run


class MixedReference:
    """Runs a model op by op, each op on its reference (built once, reused per sample)."""

    def __init__(self, model: bytes, g: Graph, references: dict[int, str]) -> None:
        self.g = g
        self.steps: list[tuple[Op, list[int], Any]] = []
        for op in g.ops:
            if op.kind == "RESHAPE":  # the bytes unchanged (its shape input may be folded)
                self.steps.append((op, [op.inputs[0]], lambda xs: xs[0]))
                continue
            one = one_op_model(model, op)
            run = _tflm(one) if references.get(op.index) == TFLM else _litert(one)
            self.steps.append((op, one_op_inputs(model, op), run))

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Raw outputs on raw inputs (in the graph's I/O order)."""
        t = self.g.tensors
        values = {
            i: np.asarray(x).reshape(t[i].shape) for i, x in zip(self.g.inputs, inputs, strict=True)
        }
        for op, live, run in self.steps:
            out = op.outputs[0]
            values[out] = np.asarray(run([values[i] for i in live])).reshape(t[out].shape)
        return [values[i].copy() for i in self.g.outputs]

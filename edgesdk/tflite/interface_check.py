"""Checks a model whose float I/O was rewritten to int8 against the original: the same samples
through both in LiteRT's reference kernels, the original fed the dequantized int8 inputs, its
float outputs compared with the rewritten model's int8 outputs dequantized."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgesdk.errors import ExportError
from edgesdk.tflite.interface import Edge


@dataclass(frozen=True)
class InterfaceCheck:
    """How the rewritten model's dequantized outputs compare with the original's float outputs."""

    samples: int
    values: int
    equal_values: int
    max_abs_diff: float
    max_lsb: int  # the largest difference in steps of the output's scale
    kernels: str = "LiteRT reference (BUILTIN_REF)"

    @property
    def exact(self) -> bool:
        return self.equal_values == self.values

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exact": self.exact}


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``(q - zero_point) * scale`` as TFLite's DEQUANTIZE computes it: in double with the
    float32 scale, rounded once to float32."""
    return ((q.astype(np.float64) - zero_point) * np.float64(np.float32(scale))).astype(np.float32)


def _run(interpreter: Any, sample: list[np.ndarray]) -> list[np.ndarray]:
    for d, x in zip(interpreter.get_input_details(), sample, strict=True):
        interpreter.set_tensor(d["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def check_rewrite(
    original: bytes,
    rewritten: bytes,
    edges: tuple[Edge, ...],
    samples: list[list[np.ndarray]],
    source: str,
) -> InterfaceCheck:
    """Run ``samples`` (raw inputs of the rewritten model) through both models.

    The original's QUANTIZE op turns a dequantized int8 input back into the same int8 values,
    and its DEQUANTIZE op computes what :func:`dequantize` does, so the outputs must be equal
    exactly: any difference is an error.

    Raises:
        ExportError: an output differs (the rewrite changed what the model computes).
    """
    from edgesdk.tflite import interpreters

    ins = {e.position: e for e in edges if e.side == "input"}
    outs = {e.position: e for e in edges if e.side == "output"}
    before = interpreters.litert(original, interpreters.Kernels.REFERENCE)
    after = interpreters.litert(rewritten, interpreters.Kernels.REFERENCE)
    values = equal = max_lsb = 0
    max_abs = 0.0
    for sample in samples:
        fed = [
            dequantize(x, ins[i].scale, ins[i].zero_point) if i in ins else x
            for i, x in enumerate(sample)
        ]
        for j, (want, got) in enumerate(zip(_run(before, fed), _run(after, sample), strict=True)):
            edge = outs.get(j)
            got_f = dequantize(got, edge.scale, edge.zero_point) if edge else got
            diff = np.abs(want.astype(np.float64) - got_f.astype(np.float64)).reshape(-1)
            values += diff.size
            equal += int(np.sum(want.reshape(-1) == got_f.reshape(-1)))
            if diff.size:
                max_abs = max(max_abs, float(diff.max()))
                steps = diff.max() / edge.scale if edge else 0.0
                max_lsb = max(max_lsb, int(np.ceil(steps - 1e-6)))
    check = InterfaceCheck(len(samples), values, equal, max_abs, max_lsb)
    if not check.exact:
        raise ExportError(
            f"The int8-I/O rewrite of {source} does not compute what the original does: "
            f"{values - equal} of {values} output values differ (up to {max_lsb} LSB) on "
            f"{len(samples)} samples; nothing was written"
        )
    return check

"""Fidelity of a quantized model against its float original: agreement, cosine, SQNR, error."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgesdk.errors import InconsistentModelError
from edgesdk.tflite import metrics


@dataclass(frozen=True)
class OutputFidelity:
    """How closely one output of the quantized model follows the float model.

    Attributes:
        name: output name.
        samples: number of samples compared.
        top1_agreement: share of samples whose arg-max class agrees (classifier outputs only).
        cosine: mean per-sample cosine similarity.
        sqnr_db: signal-to-quantization-noise ratio in dB (None when the outputs are identical).
        max_abs_error: largest absolute difference, in output units.
        max_abs_error_lsb: the same in units of the output's quantization scale (None if float).
        output_scale: that scale.
        rmse: root-mean-square error, in output units.
        relative_l2: ||reference - candidate|| / ||reference||.
    """

    name: str
    samples: int
    top1_agreement: float | None
    cosine: float
    sqnr_db: float | None
    max_abs_error: float
    max_abs_error_lsb: float | None
    output_scale: float | None
    rmse: float = 0.0
    relative_l2: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputFidelity:
        return cls(**data)


def is_classifier_output(shape: tuple[int, ...]) -> bool:
    """A (N, classes) output with at least two classes."""
    return len(shape) == 2 and shape[1] >= 2


def compare(
    name: str, reference: np.ndarray, candidate: np.ndarray, scale: float | None
) -> OutputFidelity:
    """Compare float ``reference`` outputs with dequantized ``candidate`` outputs.

    Raises:
        InconsistentModelError: the two have different shapes (not outputs of one model).
    """
    if np.shape(reference) != np.shape(candidate):
        raise InconsistentModelError(
            f"Output {name} has shape {list(np.shape(reference))} from the reference model and "
            f"{list(np.shape(candidate))} from the model compared with it (expected the same)",
            what=name,
        )
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    cand = candidate.reshape(len(candidate), -1).astype(np.float64)
    diff = ref - cand
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(cand, axis=1)
    dots = np.sum(ref * cand, axis=1)
    cos = np.where(
        norms > 0,
        dots / np.where(norms > 0, norms, 1),
        np.where(np.all(diff == 0, axis=1), 1.0, 0.0),
    )
    noise = float(np.sum(diff**2))
    signal = float(np.sum(ref**2))
    sqnr = None if noise == 0 else float(10 * np.log10(max(signal, 1e-30) / noise))
    max_err = float(np.max(np.abs(diff))) if diff.size else 0.0
    agreement = None
    if is_classifier_output(reference.shape):
        agreement = metrics.top1_agreement(reference, candidate)
    return OutputFidelity(
        name=name,
        samples=len(reference),
        top1_agreement=agreement,
        cosine=float(np.mean(cos)),
        sqnr_db=sqnr,
        max_abs_error=max_err,
        max_abs_error_lsb=(max_err / scale) if scale else None,
        output_scale=scale,
        rmse=float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0,
        relative_l2=float(np.sqrt(noise / signal)) if signal > 0 else float(noise > 0),
    )

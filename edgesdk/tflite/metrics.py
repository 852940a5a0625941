"""The few numbers every stage compares outputs by: top-1 accuracy and agreement, and the
largest difference of two int8 outputs in output steps (LSB)."""

from __future__ import annotations

import numpy as np


def top1(outputs: np.ndarray) -> np.ndarray:
    """The predicted class of each row (argmax over the last axis)."""
    return np.argmax(np.asarray(outputs), axis=-1)


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of rows whose predicted class is the label."""
    return float(np.mean(top1(outputs) == np.asarray(labels).reshape(-1)))


def top1_changes(a: np.ndarray, b: np.ndarray) -> int:
    """How many rows two runs classify differently."""
    return int(np.sum(top1(a) != top1(b)))


def top1_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The fraction of rows two runs classify alike."""
    return float(np.mean(top1(a) == top1(b)))


def max_lsb(a: np.ndarray, b: np.ndarray) -> int:
    """The largest difference between two raw (integer) outputs of the same shape, in steps."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"outputs of shapes {a.shape} and {b.shape} cannot be compared")
    if not a.size:
        return 0
    return int(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64))))

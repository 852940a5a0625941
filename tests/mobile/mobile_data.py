"""Shared data of the mobile tests: the class names and the RGB digits images."""

from __future__ import annotations

import numpy as np

SIZE = 24
LABELS = [f"digit_{i}" for i in range(10)]


def to_pixels(x: np.ndarray) -> np.ndarray:
    """(N, 8, 8, 1) floats in [0, 1] -> (N, 24, 24, 3) uint8 RGB pixels (nearest upscale)."""
    pixels = np.round(x[..., 0] * 255.0).astype(np.uint8)
    pixels = np.kron(pixels, np.ones((SIZE // 8, SIZE // 8), dtype=np.uint8))
    return np.repeat(pixels[..., None], 3, axis=-1)

"""A representative dataset as a Python function, for `--data examples/calibration_data.py:samples`.

edgesdk calls ``samples()`` and reads what it yields: one array per sample (a batch dimension
is added when it is missing), or a dict by input name for multi-input models.

    edgesdk demo --out demo
    edgesdk quantize demo/digits_cnn.keras -t esp32-s3 \
        --data examples/calibration_data.py:samples -o digits_int8.tflite
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def samples() -> Iterator[np.ndarray]:
    """scikit-learn digits as (8, 8, 1) float32 images in [0, 1]."""
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32) / 16.0
    rng = np.random.default_rng(0)
    for index in rng.permutation(len(images)):
        yield images[index][..., None]

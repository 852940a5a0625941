"""Mobile fixtures: an RGB digits classifier (24x24, upscaled scikit-learn digits) and its
.tflite variants, built once per session with seeded RNGs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/mobile/mobile_data.py
sys.path.insert(1, str(Path(__file__).resolve().parents[2] / "examples"))  # mobile_digits.py

from mobile_data import LABELS, to_pixels  # noqa: E402


@pytest.fixture(scope="session")
def rgb_digits(digits):
    """Train and held-out RGB pixels (uint8) with labels."""
    x_train, x_test, y_train, y_test = digits
    return to_pixels(x_train), to_pixels(x_test), y_train, y_test


@pytest.fixture(scope="session")
def mobile_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mobile")


@pytest.fixture(scope="session")
def labels_file(mobile_dir) -> Path:
    path = mobile_dir / "labels.txt"
    path.write_text("\n".join(LABELS) + "\n")
    return path


@pytest.fixture(scope="session")
def rgb_cnn(mobile_dir, rgb_digits) -> Path:
    """A small RGB CNN (Conv2D, MaxPool, Flatten, Dense softmax) trained briefly on [0, 1] pixels."""
    from mobile_digits import train  # the example's model: the tests check what it ships

    x_train, _, y_train, _ = rgb_digits
    path = mobile_dir / "rgb_cnn.keras"
    train(x_train, y_train, path)
    return path


@pytest.fixture(scope="session")
def calibration_npz(mobile_dir, rgb_digits) -> Path:
    x_train = rgb_digits[0]
    path = mobile_dir / "calibration.npz"
    np.savez(path, x=x_train[:300].astype(np.float32) / 255.0)
    return path


@pytest.fixture(scope="session")
def float32_tflite(mobile_dir, rgb_cnn) -> Path:
    """The plain float32 conversion (the baseline mobile developers start from)."""
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(rgb_cnn)
    path = mobile_dir / "float32.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@pytest.fixture(scope="session")
def float16_tflite(mobile_dir, rgb_cnn) -> Path:
    import edgesdk

    path = mobile_dir / "float16.tflite"
    edgesdk.quantize(rgb_cnn, None, path, target="android-gpu")
    return path


@pytest.fixture(scope="session")
def int8_io_tflite(mobile_dir, rgb_cnn, calibration_npz) -> Path:
    """Full-integer with int8 I/O (the default for Linux and MCU targets)."""
    import edgesdk

    path = mobile_dir / "int8_io.tflite"
    edgesdk.quantize(rgb_cnn, calibration_npz, path, target="linux-x86_64")
    return path


@pytest.fixture(scope="session")
def uint8_packaged(mobile_dir, rgb_cnn, calibration_npz, labels_file) -> tuple[Path, object]:
    """int8 with uint8 I/O for android-arm64, packaged by quantize --labels in place."""
    import edgesdk

    path = mobile_dir / "uint8.tflite"
    result = edgesdk.quantize(
        rgb_cnn, calibration_npz, path, target="android-arm64", labels=labels_file
    )
    return path, result

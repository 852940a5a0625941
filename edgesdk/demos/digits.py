"""The built-in demo: a small CNN on scikit-learn's digits, quantized to int8 for an MCU."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import QuantizeOptions
from edgesdk.core.results import JsonResult
from edgesdk.quantization.result import QuantizationResult

log = logging.getLogger(__name__)

DEMO_TARGET = "arduino-nano-33-ble"


@dataclass(frozen=True)
class DemoResult(JsonResult):
    """What the demo made and measured."""

    out_dir: str
    target: str
    train_samples: int
    test_samples: int
    float_accuracy: float
    int8_accuracy: float
    train_seconds: float
    artifacts: tuple[str, ...]
    quantization: QuantizationResult
    export: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir,
            "target": self.target,
            "train_samples": self.train_samples,
            "test_samples": self.test_samples,
            "float_accuracy": self.float_accuracy,
            "int8_accuracy": self.int8_accuracy,
            "train_seconds": round(self.train_seconds, 2),
            "artifacts": list(self.artifacts),
            "quantization": self.quantization.to_dict(),
            "export": self.export.to_dict() if self.export is not None else None,
        }


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[np.ndarray, ...]:
    """scikit-learn's 8x8 digits as float32 (N, 8, 8, 1) in [0, 1], split stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]
    y = digits.target.astype(np.int64)
    return tuple(train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y))


def build_digits_cnn(seed: int = 0) -> Any:
    """A small CNN with Conv2D, DepthwiseConv2D, BatchNormalization, a residual Add, GAP and Dense."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="digit")
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(64, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def train_digits_cnn(x: np.ndarray, y: np.ndarray, epochs: int = 30, seed: int = 0) -> Any:
    model = build_digits_cnn(seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def tflite_accuracy(model: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a single-input .tflite classifier on float inputs, with LiteRT."""
    from edgesdk.tflite.runner import top1_accuracy

    return top1_accuracy(model, {"x": x}, y)


def run_demo(
    out_dir: str | Path = "edgesdk-demo", target: str = DEMO_TARGET, epochs: int = 30
) -> DemoResult:
    """Train a digits CNN, quantize it to int8 for ``target`` and measure both on held-out digits.

    Returns:
        The DemoResult; artifacts are left in ``out_dir``.
    """
    from edgesdk.core.fileio import check_writable
    from edgesdk.core.profiles import load_profile
    from edgesdk.firmware.engines import ExportRequest, export
    from edgesdk.quantization.job import quantize

    out = Path(out_dir).expanduser().absolute()
    check_writable(out / "demo.json")
    x_train, x_test, y_train, y_test = load_digits_split()
    start = time.perf_counter()
    model = train_digits_cnn(x_train, y_train, epochs=epochs)
    train_seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "digits_cnn.keras"
    model.save(model_path)
    calibration = out / "digits_train.npz"
    np.savez(calibration, x=x_train, y=y_train)
    test = out / "digits_test.npz"
    np.savez(test, x=x_test, y=y_test)
    tflite_path = out / "digits_cnn_int8.tflite"
    # the stages' own entries, not the façade (edgesdk.api imports this module)
    profile = load_profile(target)
    result = quantize(model_path, calibration, tflite_path, profile, QuantizeOptions())
    float_acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    int8_acc = tflite_accuracy(tflite_path.read_bytes(), x_test, y_test)
    result.save(out / "quantize.json")
    firmware = export(
        ExportRequest(tflite_path, profile, out / "firmware", test_vectors=4, force=True)
    )
    demo = DemoResult(
        out_dir=str(out),
        target=target,
        train_samples=len(x_train),
        test_samples=len(x_test),
        float_accuracy=float_acc,
        int8_accuracy=int8_acc,
        train_seconds=train_seconds,
        artifacts=tuple(
            str(p)
            for p in (
                *(Path(firmware.out_dir) / f for f in firmware.files),
                model_path,
                calibration,
                test,
                tflite_path,
                tflite_path.with_name(tflite_path.name + ".manifest.json"),
                out / "quantize.json",
                out / "demo.json",
            )
        ),
        quantization=result,
        export=firmware,
    )
    demo.save(out / "demo.json")
    return demo


DEMOS: dict[str, str] = {
    # framework -> "module:function" running the demo (imported only when chosen)
    "keras": "edgesdk.demos.digits:run_demo",
    "torch": "edgesdk.demos.digits_torch:run_torch_demo",
}


def demo_for(framework: str) -> Any:
    """The demo function of ``framework``.

    Raises:
        ConfigError: an unknown framework (the known ones listed).
    """
    import importlib

    from edgesdk.errors import ConfigError

    if framework not in DEMOS:
        raise ConfigError(
            f"Invalid framework={framework!r} (must be one of: {', '.join(DEMOS)})",
            what="framework",
            value=framework,
            allowed=list(DEMOS),
        )
    module, _, name = DEMOS[framework].partition(":")
    return getattr(importlib.import_module(module), name)

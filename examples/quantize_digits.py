"""Train a digits CNN, then quantize it for three targets with the Python API and compare.

Run: .venv/bin/python examples/quantize_digits.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import edgesdk
from edgesdk import QuantizeOptions
from edgesdk.demos.digits import load_digits_split, tflite_accuracy, train_digits_cnn


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test = load_digits_split()
    model = train_digits_cnn(x_train, y_train, epochs=20)
    model_path = out / "digits_cnn.keras"
    model.save(model_path)
    float_acc = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    print(f"float accuracy: {100 * float_acc:.2f}%")
    runs = [
        ("raspberry-pi-4", QuantizeOptions()),  # int8, int8 I/O
        ("raspberry-pi-4", QuantizeOptions(mode="int16x8")),  # int16 activations
        ("esp32-s3", QuantizeOptions(per_channel=False)),  # per-tensor int8
        ("linux-x86_64", QuantizeOptions(mode="float16")),
    ]
    print(
        f"{'target':<16} {'mode':<8} {'granularity':<12} {'bytes':>7} {'top-1 agr.':>10} {'accuracy':>9}"
    )
    for target, options in runs:
        tflite = out / f"digits_{target}_{options.mode or 'default'}.tflite"
        result = edgesdk.quantize(model_path, x_train, tflite, target=target, options=options)
        acc = tflite_accuracy(tflite.read_bytes(), x_test, y_test)
        agreement = result.fidelity[0].top1_agreement or 0.0
        granularity = "per-channel" if result.per_channel else "per-tensor"
        print(
            f"{target:<16} {result.mode:<8} {granularity:<12} {result.size.raw_bytes:>7} "
            f"{100 * agreement:>9.1f}% {100 * acc:>8.2f}%"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples-out"))

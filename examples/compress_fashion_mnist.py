"""Fashion-MNIST: train a small CNN, then prune + int8, QAT and distillation with edgesdk.

Needs Debian's ``dataset-fashion-mnist`` (``scripts/setup-tests.sh`` installs it). Every figure
is measured on the full 10,000-image test set. Takes a few minutes on 2 cores.

Run: .venv/bin/python examples/compress_fashion_mnist.py [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import edgesdk
from edgesdk.inputs.datasets import load_fashion_mnist


def build(filters: tuple[int, int], hidden: int, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1), name="image"),
            keras.layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(filters[1], 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dropout(0.25, name="drop"),
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="classes"),
        ]
    )


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    x_train = (x_train / 255.0).astype(np.float32)
    x_test = (x_test / 255.0).astype(np.float32)
    train, test = out / "train.npz", out / "test.npz"
    np.savez(train, x=x_train, y=y_train)
    np.savez(test, x=x_test, y=y_test)

    start = time.perf_counter()
    teacher = build((16, 32), 128, seed=0)
    teacher.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=8, batch_size=128, verbose=2)
    teacher_path = out / "cnn.keras"
    teacher.save(teacher_path)
    print(f"trained the float CNN in {time.perf_counter() - start:.0f} s")

    def show(event: dict) -> None:
        if event["done"] == event["total"]:
            print(f"  {event['stage']}: {event['done']}/{event['total']} steps")

    # The first conv (144 weights) and the classifier (1,290) are left dense: they hold
    # almost none of the bytes and most of the accuracy.
    pruned = edgesdk.compress(
        teacher_path, train, out / "cnn_pruned.keras", validation=test, prune=0.9,
        skip_layers=("conv1", "classes"), epochs=6, batch_size=128, learning_rate=1e-3,
        progress=show,
    )  # fmt: skip
    qat = edgesdk.compress(
        teacher_path, train, out / "cnn_qat", validation=test, qat=True, epochs=1,
        batch_size=128, learning_rate=1e-4, force=True, progress=show,
    )  # fmt: skip
    student = build((8, 16), 32, seed=1)
    student_path = out / "student.keras"
    student.save(student_path)  # untrained: it learns from the teacher only
    distilled = edgesdk.compress(
        student_path, train, out / "student_distilled.keras", validation=test,
        teacher=str(teacher_path), temperature=4.0, alpha=0.1, epochs=10, batch_size=128,
        learning_rate=2e-3, progress=show,
    )  # fmt: skip

    acc = {k: None if v is None else 100 * v for k, v in pruned.accuracy.items()}  # in %
    qat_acc = {k: None if v is None else 100 * v for k, v in qat.accuracy.items()}
    student = {k: None if v is None else 100 * v for k, v in distilled.accuracy.items()}
    float_tflite = pruned.sizes["float_tflite"]
    small = pruned.sizes["compressed_int8_tflite"]
    figures = {
        "float accuracy (test set, %)": acc["float_model"],
        "float .tflite bytes (raw / gzip)": f"{float_tflite.raw_bytes} / {float_tflite.gzip_bytes}",
        "pruned 90% + int8 accuracy (%)": acc["compressed_int8_tflite"],
        "pruned + int8 .tflite bytes (raw / gzip)": f"{small.raw_bytes} / {small.gzip_bytes}",
        "size ratio: float .tflite / gzip(pruned int8)": round(pruned.compression_ratio, 1),
        "size ratio: gzip / gzip": round(pruned.gzip_ratio, 1),
        "accuracy lost by prune + int8 (pts)": round(acc["float_model"] - acc["compressed_int8_tflite"], 2),
        "post-training int8 accuracy (%)": qat_acc["float_int8_tflite"],
        "QAT int8 accuracy (%)": qat_acc["compressed_int8_tflite"],
        "teacher accuracy (%)": student["teacher"],
        "student parameters / teacher parameters": f"{distilled.parameters} / {distilled.teacher_parameters}",
        "distilled student accuracy (%)": student["compressed_model"],
        "student - teacher (pts)": round(student["compressed_model"] - student["teacher"], 2),
    }  # fmt: skip
    checks = {
        "prune + int8 gzip >= 16x smaller than the float .tflite": pruned.compression_ratio >= 16,
        "... also gzip vs gzip": pruned.gzip_ratio >= 16,
        "prune + int8 loses <= 1.0 pt": acc["float_model"] - acc["compressed_int8_tflite"] <= 1.0,
        "QAT int8 >= post-training int8": qat_acc["compressed_int8_tflite"]
        >= qat_acc["float_int8_tflite"],
        "student <= 1/4 of the teacher's parameters": 4 * distilled.parameters
        <= distilled.teacher_parameters,
        "student within 2 pts of the teacher": student["teacher"] - student["compressed_model"]
        <= 2.0,
    }
    width = max(map(len, figures)) + 2
    print("\nFashion-MNIST, full 10,000-image test set")
    for name, value in figures.items():
        print(
            f"{name:<{width}}{value:.2f}" if isinstance(value, float) else f"{name:<{width}}{value}"
        )
    print()
    for name, ok in checks.items():
        print(f"[{'PASS' if ok else 'FAIL'}] {name}")
    for name, result in (("pruned", pruned), ("qat", qat), ("distilled", distilled)):
        result.save(out / f"compress_{name}.json")
    (out / "figures.json").write_text(json.dumps({"figures": figures, "checks": checks}, indent=2))
    for big in (train, test):
        big.unlink()
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "fashion-mnist-out"))

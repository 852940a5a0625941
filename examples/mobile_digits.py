"""The mobile path end to end on RGB digits, checked by the real client libraries.

Trains a small RGB CNN (scikit-learn digits upscaled to 24x24, seeded), makes four variants a
mobile developer would ship (float32; float16 for the GPU delegate; int8 with uint8 I/O from
`quantize --labels`; int8-I/O requantized to uint8 by `package --requantize-io`), packages
them, and runs the held-out images through MediaPipe Tasks, the TFLite Task Library (when a
Python with tflite-support is given) and the raw LiteRT interpreter. Prints per variant and
client: top-1 accuracy and top-1 agreement with LiteRT. Also exports Core ML for iOS.

    .venv/bin/python examples/mobile_digits.py --out mobile-demo --tasklib .venv-tasklib/bin/python
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata
from pathlib import Path

import numpy as np


def rgb_digits() -> tuple[np.ndarray, ...]:
    from edgesdk.demos.digits import load_digits_split

    def pixels(x: np.ndarray) -> np.ndarray:
        p = np.kron(np.round(x[..., 0] * 255).astype(np.uint8), np.ones((3, 3), np.uint8))
        return np.repeat(p[..., None], 3, axis=-1)

    x_train, x_test, y_train, y_test = load_digits_split()
    return pixels(x_train), pixels(x_test), y_train, y_test


def train(x_train: np.ndarray, y_train: np.ndarray, path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((24, 24, 3), name="image"),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="probs"),
        ],
        name="rgb_digits",
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x_train.astype(np.float32) / 255.0, y_train, epochs=15, batch_size=32, verbose=0)
    model.save(path)


def main() -> None:
    import keras
    import tensorflow as tf

    import edgesdk
    from edgesdk.mobile.clients import litert_top1, mediapipe_top1, tasklib_top1

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="mobile-demo")
    parser.add_argument("--tasklib", help="a Python with tflite-support 0.4.4")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test = rgb_digits()
    model = out / "rgb_digits.keras"
    train(x_train, y_train, model)
    labels = out / "labels.txt"
    labels.write_text("".join(f"digit_{i}\n" for i in range(10)))
    np.savez(out / "calibration.npz", x=x_train[:300].astype(np.float32) / 255.0)

    raw = out / "raw"
    raw.mkdir(exist_ok=True)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.saving.load_model(model))
    (raw / "float32.tflite").write_bytes(converter.convert())
    edgesdk.quantize(model, None, raw / "float16.tflite", target="android-gpu")
    edgesdk.quantize(model, out / "calibration.npz", raw / "int8_io.tflite", target="linux-x86_64")
    app = out / "app"
    variants = {
        "float32": edgesdk.package(raw / "float32.tflite", app / "digits_float32.tflite", labels,
                                   "android-arm64", mean=0, std=255).output,
        "float16": edgesdk.package(raw / "float16.tflite", app / "digits_float16.tflite", labels,
                                   "android-gpu", mean=0, std=255).output,
        "int8 (uint8 I/O, quantize --labels)": edgesdk.quantize(
            model, out / "calibration.npz", app / "digits_int8.tflite", target="android-arm64",
            labels=labels).output,
        "int8 I/O requantized to uint8": edgesdk.package(
            raw / "int8_io.tflite", app / "digits_int8_requantized.tflite", labels, "ios-arm64",
            mean=0, std=255, requantize_io=True).output,
    }  # fmt: skip
    keras_model = keras.saving.load_model(model)
    float_pred = np.argmax(keras_model.predict(x_test.astype(np.float32) / 255.0, verbose=0), 1)
    rows = []
    for name, path in variants.items():
        rt, _ = litert_top1(path, x_test)
        rows.append(("LiteRT (raw)", name, path, rt, rt))
        mp, _, _ = mediapipe_top1(path, x_test)
        rows.append(("MediaPipe Tasks", name, path, mp, rt))
        if args.tasklib:
            tl, _, _ = tasklib_top1(path, x_test, args.tasklib)
            rows.append(("TFLite Task Library", name, path, tl, rt))
    print(f"{len(x_test)} held-out images; versions:", json.dumps(
        {p: metadata.version(p) for p in ("mediapipe", "ai-edge-litert", "tensorflow", "coremltools")}))  # fmt: skip
    print(f"{'client':22} {'variant':38} {'bytes':>7} {'top-1 acc':>9} {'agree w/ LiteRT':>15}")
    print(f"{'Keras (float model)':22} {'-':38} {'-':>7} {np.mean(float_pred == y_test):9.4f}")
    for client, name, path, pred, rt in rows:
        acc = float(np.mean(np.asarray(pred) == y_test))
        agree = float(np.mean(np.asarray(pred) == np.asarray(rt)))
        size = Path(path).stat().st_size
        print(f"{client:22} {name:38} {size:7d} {acc:9.4f} {agree:15.4f}")
    coreml = edgesdk.export_coreml(model, app / "Digits.mlpackage", labels=labels, mean=0, std=255)
    print("Core ML:", json.dumps({k: coreml.to_dict()[k] for k in ("input", "outputs", "weights")}))
    print("Core ML:", coreml.notes[0])


if __name__ == "__main__":
    main()

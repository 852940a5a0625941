"""`edgesdk quantize` against a bare TFLiteConverter script on the same model and data (goal: <= 1.3x).

Both get the same Keras model, the same 200 calibration samples, int8 with int8 I/O. edgesdk
additionally validates the data, converts a float baseline, checks every tensor and measures
fidelity on 200 held-out samples; the bare script only converts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _common import BIN, alternate, report

BARE = """
import sys, numpy as np, tensorflow as tf, keras
model = keras.saving.load_model(sys.argv[1], compile=False)
x = np.load(sys.argv[2])["x"][:200].astype(np.float32)
def rep():
    for i in range(len(x)):
        yield [x[i:i + 1]]
c = tf.lite.TFLiteConverter.from_keras_model(model)
c.optimizations = [tf.lite.Optimize.DEFAULT]
c.representative_dataset = rep
c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
c.inference_input_type = tf.int8
c.inference_output_type = tf.int8
open(sys.argv[3], "wb").write(c.convert())
"""


def make_model(folder: Path, width: int) -> tuple[Path, Path]:
    """A MobileNet-style CNN on 32x32x3 inputs and real photos (digits upscaled to RGB)."""
    import keras
    import numpy as np

    from edgesdk.demos.digits import load_digits_split

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(inputs)
    for _ in range(4):
        y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
        y = keras.layers.BatchNormalization()(y)
        y = keras.layers.Conv2D(width, 1, activation="relu")(y)
        x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    path = folder / "bench.keras"
    model.save(path)
    x_train = load_digits_split()[0][:400]
    images = np.repeat(np.repeat(np.repeat(x_train, 4, axis=1), 4, axis=2), 3, axis=3)
    data = folder / "bench.npz"
    np.savez(data, x=images.astype(np.float32))
    return path, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=64, help="channels of the benchmark CNN")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, data = make_model(folder, args.width)
        script = folder / "bare.py"
        script.write_text(BARE)
        edgesdk_cmd = [
            str(BIN / "edgesdk"),
            "quantize",
            str(model),
            "-d",
            str(data),
            "-t",
            "raspberry-pi-4",
            "--samples",
            "200",
            "--eval-samples",
            "200",
            "-o",
            str(folder / "edgesdk.tflite.model_info"),
        ]
        bare_cmd = [sys.executable, str(script), str(model), str(data), str(folder / "bare.tflite")]
        ta, tb = alternate(edgesdk_cmd, bare_cmd, args.repeats)
        size_a = (folder / "edgesdk.tflite.model_info").stat().st_size
        size_b = (folder / "bare.tflite").stat().st_size
        report(
            "Quantize (int8, 200 calibration samples)",
            "edgesdk quantize",
            ta,
            "bare TFLiteConverter script",
            tb,
            "<= 1.3x",
        )
        print(f"  output sizes: edgesdk {size_a} B, bare {size_b} B")


if __name__ == "__main__":
    main()

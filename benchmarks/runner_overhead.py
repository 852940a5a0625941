"""The benchmark runner's mean latency against a bare `invoke()` loop on the same model (goal: <= 5% overhead).

Both use LiteRT on this machine, one thread, the same model and the same number of runs; the
bare loop times all runs at once and divides, the runner times every run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BARE = """
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=1)
it.allocate_tensors()
d = it.get_input_details()[0]
it.set_tensor(d["index"], np.random.default_rng(0).standard_normal(d["shape"]).astype(d["dtype"]))
for _ in range(int(sys.argv[3])):
    it.invoke()
n = int(sys.argv[2])
t = time.perf_counter()
for _ in range(n):
    it.invoke()
print((time.perf_counter() - t) / n * 1000)
"""


def make_model(path: Path) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    runner = Path(__file__).resolve().parent.parent / "edgesdk" / "devices" / "runner.py"
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.tflite"
        make_model(model)
        bare, ours = [], []
        for _ in range(args.repeats):
            out = subprocess.run(
                [sys.executable, "-c", BARE, str(model), str(args.runs), "10"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            bare.append(float(out.strip().splitlines()[-1]))
            out = subprocess.run(
                [
                    sys.executable,
                    str(runner),
                    "--model",
                    str(model),
                    "--threads",
                    "1",
                    "--runs",
                    str(args.runs),
                    "--warmup",
                    "10",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            ours.append(json.loads(out.strip().splitlines()[-1])["mean_ms"])
    mb, mo = statistics.median(bare), statistics.median(ours)
    print("Runner overhead (LiteRT, 1 thread, conv model 32x32x3)")
    print(f"  bare invoke() loop  median {mb:.4f} ms  runs {', '.join(f'{v:.4f}' for v in bare)}")
    print(f"  edgesdk runner      median {mo:.4f} ms  runs {', '.join(f'{v:.4f}' for v in ours)}")
    print(f"  overhead = {100 * (mo / mb - 1):+.1f}%   (goal <= 5%)")


if __name__ == "__main__":
    main()

"""Instructions per inference and linked flash/RAM of TFLite Micro firmware, per core, from one run.

Two models built in code: the demo's digits CNN and a keyword-spotting-sized DS-CNN (the MLPerf
Tiny KWS shape: 49x10 input, Conv 64 10x4 stride 2, 4 depthwise-separable blocks, average pool,
12 classes), each exported as a C bundle and run under qemu on a Cortex-M4F (arduino-nano-33-ble)
and a Cortex-M0+ (rp2040, on qemu's micro:bit: 16 KB RAM, so only models that fit there).
Instruction counts are measurements; the latency column is an ESTIMATE (instructions x the
core's cycles-per-instruction factor / the profile's clock, a factor calibrated on the
reference kernels). The kernels are each core's default (CMSIS-NN on Cortex-M; the kernels
column says so; benchmarks/kernel_sets.py compares them with the reference ones). Also printed:
TFLite Micro's share of the flash (the baseline a standalone engine has to beat) and the cost
of the library build (cold) against a cached one, measured in the same run.

    .venv/bin/python benchmarks/firmware_emulation.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import edgesdk
from edgesdk.errors import FirmwareError

TARGETS = ("arduino-nano-33-ble", "rp2040")


def ds_cnn(folder: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((49, 10, 1))
    x = keras.layers.Conv2D(64, (10, 4), strides=2, padding="same")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for _ in range(4):
        x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        x = keras.layers.Conv2D(64, 1)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.AveragePooling2D((25, 5))(x)
    x = keras.layers.Reshape((64,))(x)
    out = keras.layers.Dense(12, activation="softmax")(x)
    model = keras.Model(inputs, out)
    data = np.random.default_rng(1).normal(size=(100, 49, 10, 1)).astype(np.float32)
    np.save(folder / "kws_cal.npy", data)
    path = folder / "ds_cnn_int8.tflite"
    edgesdk.quantize(model, str(folder / "kws_cal.npy"), path, target="arduino-nano-33-ble")
    return path


def digits_cnn(folder: Path) -> Path:
    from edgesdk.demos.digits import load_digits_split, train_digits_cnn

    x_train, _, y_train, _ = load_digits_split()
    model = train_digits_cnn(x_train, y_train, epochs=5)
    path = folder / "digits_cnn_int8.tflite"
    edgesdk.quantize(model, x_train[:200], path, target="arduino-nano-33-ble")
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        models = {"digits CNN": digits_cnn(folder), "DS-CNN (KWS)": ds_cnn(folder)}
        print(f"{'model':<14} {'target':<20} {'core':<14} {'exact':>5} {'instructions':>13} "
              f"{'est. ms':>8} {'flash B':>8} {'TFLM B':>7} {'model B':>8} {'RAM B':>7} "
              f"{'arena used':>10} {'run s':>6}")  # fmt: skip
        for name, model in models.items():
            for target in TARGETS:
                start = time.perf_counter()
                try:
                    r = edgesdk.emulate_model(model, target)
                except FirmwareError as e:
                    print(f"{name:<14} {target:<20} does not run there: {e}")
                    continue
                seconds = time.perf_counter() - start
                print(f"{name:<14} {target:<20} {r.core + ' ' + r.kernels:<14} "
                      f"{'yes' if r.bit_exact else 'NO':>5} "
                      f"{max(r.instructions):>13,} {r.estimated_latency_ms:>8.1f} "
                      f"{r.flash['total']:>8,} {r.flash['tflm']:>7,} {r.flash['model']:>8,} "
                      f"{r.ram['total']:>7,} {r.ram['arena_used']:>10,} {seconds:>6.1f}")  # fmt: skip
                if not r.library["reused"]:
                    print(f"  (TFLite Micro library for {r.core} built in "
                          f"{r.library['build_seconds']:.0f} s; cached from now on)")  # fmt: skip
        print("instructions: measured under qemu; est. ms: an ESTIMATE (cycles/instruction "
              "from edgesdk.firmware.cores.CPI_SOURCES, calibrated on the reference kernels)")  # fmt: skip


if __name__ == "__main__":
    main()

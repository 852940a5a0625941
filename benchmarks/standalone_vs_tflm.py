"""The standalone C engine against TFLite Micro, side by side, from one run.

Same models, same emulated core (Cortex-M4F: arduino-nano-33-ble on qemu's mps2-an386), same
compiler flags (arm-none-eabi-gcc -Os, the profile's CPU flags; TFLite Micro's release build
with its reference kernels),
the same test-driver protocol (newlib-nano printf over the emulated UART in both). Models: the demo's
digits CNN (trained 5 epochs) and the MLPerf-Tiny-shaped DS-CNN for keyword spotting (49x10
input, Conv 64 10x4 stride 2, 4 depthwise-separable blocks, average pool, 12 classes), both from
benchmarks/firmware_emulation.py. Printed per model:

- flash of the whole firmware, and without the model (TFLite Micro: the model flatbuffer array;
  standalone: the .model section of weights, biases, multipliers, tables and layer parameters);
- RAM: TFLite Micro's arena use (tensors incl. inputs and outputs + its persistent
  allocations, measured by the interpreter on the target) against the standalone plan's one
  static buffer (activations, inputs and outputs, kernel scratch: the firmware's driver uses
  the in-place entry and has no I/O buffers of its own); the plan's peak in the model's op
  order and the number of op orders tried; and the whole image's static RAM + measured stack;
- executed instructions per inference (qemu icount plugin: a measurement) and the ratios
  against the goals (RAM <= 0.5x, flash without the model <= 0.35x, instructions <= 0.2x);
- the standalone engine's instructions per layer (a second build with a marker per layer);
- the time to generate the C of a ~1 MB model (goal < 2 s; the same numbers with the
  verification by host gcc shown apart).

    .venv/bin/python benchmarks/standalone_vs_tflm.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from firmware_emulation import digits_cnn, ds_cnn  # noqa: E402

import edgesdk  # noqa: E402

TARGET = "arduino-nano-33-ble"
GOALS = {"ram": 0.5, "flash_wo_model": 0.35, "instructions": 0.2}


def one_mb_model(folder: Path) -> Path:
    """~1 MB of int8 weights: a 3-layer MLP 1024-640-512-10 plus a conv front-end."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Reshape((16 * 16 * 16,))(x)
    x = keras.layers.Dense(224, activation="relu")(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dense(10, activation="softmax")(x)
    data = np.random.default_rng(2).normal(size=(32, 32, 32, 1)).astype(np.float32)
    np.save(folder / "big_cal.npy", data)
    path = folder / "big_int8.tflite"
    edgesdk.quantize(keras.Model(inputs, x), str(folder / "big_cal.npy"), path, target=TARGET)
    return path


def compare(name: str, model: Path) -> None:
    # the reference kernels: the baseline these goals were set against (CMSIS-NN, the default
    # since, is benchmarks/kernel_sets.py's)
    tflm = edgesdk.emulate_model(model, TARGET, kernels="reference")
    ours = edgesdk.emulate_model(model, TARGET, engine="standalone")
    t_flash, t_model = tflm.flash["total"], tflm.flash["model"]
    s_flash, s_model = ours.flash["total"], ours.flash["constants"]
    t_ram = tflm.ram["arena_used"]
    s_ram = ours.ram["arena"] + ours.ram["io"]  # io is 0: the in-place entry's I/O is in the plan
    t_img = tflm.ram["arena"] + tflm.ram["other_static"] + tflm.ram["stack_used"]
    s_img = ours.ram["static"] + ours.ram["stack_used"]
    t_ins, s_ins = max(tflm.instructions), max(ours.instructions)
    print(f"\n== {name} on {tflm.core} ({tflm.machine}), bit-exact: TFLite Micro vs its host "
          f"interpreter {'yes' if tflm.bit_exact else 'NO'}, standalone vs LiteRT reference "
          f"kernels {'yes' if ours.bit_exact else 'NO'}")  # fmt: skip
    rows = [
        ("flash, whole firmware (B)", t_flash, s_flash, None),
        ("flash without the model (B)", t_flash - t_model, s_flash - s_model, "flash_wo_model"),
        ("model bytes in flash (B)", t_model, s_model, None),
        ("RAM: arena+persistent / plan incl. I/O (B)", t_ram, s_ram, "ram"),
        ("RAM: static + stack used (B)", t_img, s_img, None),
        ("instructions per inference", t_ins, s_ins, "instructions"),
    ]
    print(f"{'':<44} {'TFLite Micro':>13} {'standalone':>11} {'ratio':>7}  goal")
    for label, a, b, goal in rows:
        verdict = ""
        if goal:
            ok = b / a <= GOALS[goal]
            verdict = f"<= {GOALS[goal]}x {'met' if ok else 'MISSED'}"
        print(f"{label:<44} {a:>13,} {b:>11,} {b / a:>6.3f}x  {verdict}")
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.tflite.model_info import read_tflite

    plan = compile_model(read_tflite(model), "m")
    print(f"  standalone plan (I/O inside): {plan.plan.arena_bytes:,} B; in the model's op order "
          f"with every kernel's scratch {plan.search.model_order_bytes:,} B; "
          f"{plan.search.orders_tried} op order(s) tried, "
          f"{len(plan.plan.scratch)} scratch buffer(s) kept")  # fmt: skip
    print(f"  heap used by the test driver's stdio: TFLite Micro {tflm.ram['heap_used']:,} B, "
          f"standalone {ours.ram['heap_used']:,} B (not counted above)")  # fmt: skip
    total = sum(n for _, _, n in ours.layer_instructions) or 1
    print("  standalone instructions per layer (vector 0):")
    for idx, kind, n in ours.layer_instructions:
        print(f"    op {idx:>2} {kind:<18} {n:>12,} {100 * n / total:5.1f}%")


def generation_time(folder: Path) -> None:
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.tflite.model_info import read_tflite

    model = one_mb_model(folder)
    data = read_tflite(model)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        compiled = compile_model(data, "big")
        (folder / "big_model.c").write_bytes(compiled.sources.source)
        (folder / "big_model.h").write_text(compiled.sources.header)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    edgesdk.export_c(model, folder / "big_export", target="linux-x86_64", engine="standalone")
    export = time.perf_counter() - start
    best = min(times)
    print(f"\n== C generation for a {len(data) / 1e6:.2f} MB model "
          f"({compiled.sources.weight_bytes / 1e6:.2f} MB of constants, "
          f"{len(compiled.sources.source) / 1e6:.1f} MB of C): best of 3 {best:.3f} s "
          f"(median {sorted(times)[1]:.3f} s), goal < 2 s {'met' if best < 2 else 'MISSED'}; "
          f"the whole export-c incl. gcc build and 20 verified samples: {export:.1f} s")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        compare("digits CNN", digits_cnn(folder))
        compare("DS-CNN (KWS)", ds_cnn(folder))
        generation_time(folder)
    print("\ninstructions: measured (qemu counts executed instructions exactly; no timing). "
          "Both firmwares use -Os and the same CPU flags.")  # fmt: skip


if __name__ == "__main__":
    main()

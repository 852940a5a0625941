"""The standalone C engine (portable and DSP kernels) against TFLite Micro + CMSIS-NN and TFLite
Micro's reference kernels, instructions per inference on the emulated Cortex-M4F, from one run.

Same models, same core (arduino-nano-33-ble on qemu's mps2-an386), same compiler flags
(arm-none-eabi-gcc -Os, the profile's CPU flags; TFLite Micro's release build with the int8-only
registrations export-c writes). Models: the look-alikes of the tests (digits CNN, DS-CNN, built
in code, seeded) and the MLPerf-Tiny-shaped DS-CNN of benchmarks/firmware_emulation.py (64
channels, 4 depthwise-separable blocks: the one of issue 26's table). Every run must be
bit-exact (standalone: against BUILTIN_REF; TFLite Micro: against its host interpreter) or the
script stops. Printed: instructions per inference (max over the vectors; qemu's plugin counts
them exactly: a measurement, not a latency) and the ratios; then per op class (1x1 conv, other
conv, depthwise, fully connected, the rest) from the per-layer probe builds (vector 0).

    PYTHONPATH=. .venv/bin/python benchmarks/standalone_vs_cmsis_nn.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))

from standalone_models import whole_model  # noqa: E402 - the tests' model builders

import edgesdk  # noqa: E402
from edgesdk.core.profiles import load_profile  # noqa: E402
from edgesdk.firmware.standalone.emulation import emulate_standalone  # noqa: E402
from edgesdk.firmware.standalone.export import export_standalone  # noqa: E402
from edgesdk.firmware.standalone.graph import read_graph  # noqa: E402

TARGET = "arduino-nano-33-ble"
CLASSES = ("conv 1x1", "conv", "depthwise", "fully connected", "other")


def op_classes(model: bytes) -> dict[int, str]:
    """op index -> its class (a 1x1 convolution apart from the others)."""
    g = read_graph(model)
    out = {}
    for op in g.ops:
        if op.kind == "CONV_2D":
            w = g.tensors[op.inputs[1]].shape
            out[op.index] = "conv 1x1" if w[1] == w[2] == 1 else "conv"
        elif op.kind == "DEPTHWISE_CONV_2D":
            out[op.index] = "depthwise"
        elif op.kind == "FULLY_CONNECTED":
            out[op.index] = "fully connected"
        else:
            out[op.index] = "other"
    return out


def split(layers: tuple[tuple[int, str, int], ...], classes: dict[int, str]) -> dict[str, int]:
    sums = dict.fromkeys(CLASSES, 0)
    for index, _, n in layers:
        sums[classes.get(index, "other")] += n
    return sums


def models(folder: Path) -> dict[str, Path]:
    from firmware_emulation import ds_cnn

    paths = {}
    for name in ("digits_cnn", "ds_cnn"):
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(whole_model(name))
    paths["ds_cnn_mlperf"] = ds_cnn(folder)
    return paths


Run = tuple[int, dict[str, int], int, int]  # instructions, per class, flash w/o model, model


def measure(name: str, model: Path, folder: Path) -> dict[str, Run]:
    profile = load_profile(TARGET)
    classes = op_classes(model.read_bytes())
    runs = {}
    for ks in ("portable", "dsp"):
        out = folder / f"{name}-{ks}"
        export_standalone(model, profile, out, test_vectors=2, kernels=ks)
        r = emulate_standalone(out, profile)
        if not r.bit_exact:
            raise SystemExit(f"{name} standalone {ks}: not bit-exact: {r.first_mismatch()}")
        flash, weights = r.flash["total"], r.flash["constants"]
        runs[f"standalone {ks}"] = (
            max(r.instructions),
            split(r.layer_instructions, classes),
            flash - weights,
            weights,
        )
    bundle = folder / f"{name}-tflm"
    edgesdk.export_c(model, bundle, TARGET, test_vectors=2)
    for kernels in ("cmsis-nn", "reference"):
        r = edgesdk.emulate(bundle, kernels=kernels)
        if not r.bit_exact:
            raise SystemExit(f"{name} TFLM {kernels}: not bit-exact: {r.first_mismatch()}")
        flash, weights = r.flash["total"], r.flash["model"]
        runs[f"tflm {kernels}"] = (
            max(r.instructions),
            split(r.layer_instructions, classes),
            flash - weights,
            weights,
        )
    return runs


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="edgesdk-vs-cmsis-") as tmp:
        folder = Path(tmp)
        results = {name: measure(name, path, folder) for name, path in models(folder).items()}
    print(f"\ninstructions per inference on the emulated Cortex-M4F ({TARGET}), measured by qemu")
    print("(flash: the linked image; 'model': the standalone engine's constants section, with its")
    print(" re-packed weights, or the TFLite Micro flatbuffer array)")
    print(
        f"{'model':<14} {'engine':<20} {'instructions':>13} {'/ CMSIS-NN':>10} {'/ TFLM ref':>10} "
        f"{'flash w/o model B':>17} {'model B':>8}"
    )
    ratios = []
    for name, runs in results.items():
        cmsis, ref = runs["tflm cmsis-nn"][0], runs["tflm reference"][0]
        for engine, (n, _, code, weights) in runs.items():
            print(f"{name:<14} {engine:<20} {n:>13,} {n / cmsis:>10.3f} {n / ref:>10.3f} "
                  f"{code:>17,} {weights:>8,}")  # fmt: skip
        ratios.append(runs["standalone dsp"][0] / cmsis)
    print("\nper op class (per-layer probe, vector 0): instructions, standalone dsp / CMSIS-NN")
    print(f"{'model':<14} {'op class':<16} {'portable':>11} {'dsp':>11} {'CMSIS-NN':>11} "
          f"{'reference':>12} {'dsp/CMSIS':>9}")  # fmt: skip
    for name, runs in results.items():
        for c in CLASSES:
            row = [runs[e][1][c] for e in runs]
            if not any(row):
                continue
            p, d, cm, rf = row
            ratio = f"{d / cm:>9.3f}" if cm else f"{'-':>9}"
            print(f"{name:<14} {c:<16} {p:>11,} {d:>11,} {cm:>11,} {rf:>12,} {ratio}")
    geo = 1.0
    for r in ratios:
        geo *= r
    print(
        f"\nstandalone dsp / TFLM + CMSIS-NN: {', '.join(f'{r:.3f}' for r in ratios)}; "
        f"geometric mean {geo ** (1 / len(ratios)):.3f} (issue 26 goal: <= 0.6 each, <= 0.5)"
    )
    print("instruction counts are measurements (qemu icount plugin); no cycle estimate here.")


if __name__ == "__main__":
    main()

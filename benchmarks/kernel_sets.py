"""TFLite Micro's kernel sets and op-resolver registrations on an emulated Cortex-M4F, in one run.

For the look-alike models of the tests (the digits CNN and the DS-CNN keyword spotter, built in
code, seeded), each bundle runs under qemu (mps2-an386, arduino-nano-33-ble's memory map) with:
- the reference kernels (the baseline: what `emulate` measured before CMSIS-NN),
- CMSIS-NN with the generic registrations (`AddConv2D()`: every variant of a kernel is linked),
- CMSIS-NN with the int8-only registrations export-c writes (`Register_CONV_2D_INT8()`).
Printed per model: instructions per inference (measured by qemu's plugin, exact), the ratio to
the reference kernels, linked flash (total and TFLite Micro's part), RAM, the arena the firmware
used, and the DSP SIMD instructions in the image. Every run must be bit-exact against the host
TFLite Micro interpreter, or the script stops. Latency is not printed: qemu models no timing.

    .venv/bin/python benchmarks/kernel_sets.py
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

import edgesdk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))
from standalone_models import whole_model  # noqa: E402 - the tests' model builders

TARGET = "arduino-nano-33-ble"
MODELS = ("digits_cnn", "ds_cnn")


def generic(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` whose op resolver registers the generic kernels."""
    shutil.copytree(bundle, out)
    header = next(out.glob("*_op_resolver.h"))
    text = re.sub(r"\(tflite::Register_\w+_INT8\(\)\)", "()", header.read_text())
    header.write_text(text)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="edgesdk-kernels-") as tmp:
        folder = Path(tmp)
        print(f"{'model':<11} {'kernels, registrations':<28} {'instructions':>13} {'vs ref':>7} "
              f"{'flash B':>8} {'TFLM B':>7} {'RAM B':>7} {'arena B':>7} {'DSP SIMD':>8}")  # fmt: skip
        for name in MODELS:
            model = folder / f"{name}.tflite"
            model.write_bytes(whole_model(name))
            bundle = folder / f"{name}-bundle"
            edgesdk.export_c(model, bundle, TARGET, test_vectors=2)
            runs = (
                ("reference, int8-only", bundle, "reference"),
                ("cmsis-nn, generic", generic(bundle, folder / f"{name}-generic"), "cmsis-nn"),
                ("cmsis-nn, int8-only", bundle, "cmsis-nn"),
            )
            base = None
            for label, b, kernels in runs:
                r = edgesdk.emulate(b, kernels=kernels)
                if not r.bit_exact:
                    raise SystemExit(f"{name} {label}: not bit-exact: {r.first_mismatch()}")
                n = max(r.instructions)
                base = base or n
                dsp = sum((r.dsp_instructions or {}).values())
                print(f"{name:<11} {label:<28} {n:>13,} {n / base:>7.3f} {r.flash['total']:>8,} "
                      f"{r.flash['tflm']:>7,} {r.ram['total']:>7,} {r.ram['arena_used']:>7,} "
                      f"{dsp:>8,}")  # fmt: skip
    print("instructions: per inference, max over the vectors, measured under qemu (exact).")
    print("reference kernels: the generic and int8-only registrations are the same code there.")


if __name__ == "__main__":
    main()

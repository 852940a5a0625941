"""The standalone engine's two SOFTMAX kernels, on emulated cores.

Same model, same core, same compiler flags, one run: the float32-table kernel the engine used
first (softmax.c: float table and normalisation; on the Cortex-M0 through libgcc's soft-float
routines; now only a fallback and ``float_softmax=True``) against the fixed-point one (the
default wherever it runs, and ``--integer-only``: TFLite Micro's kernel, bit-exact with
BUILTIN_REF too). Printed per model and core:
instructions of the SOFTMAX layer and of the whole inference (qemu's icount plugin, measured;
per-layer counts from a second build with a marker before each layer) and the firmware's flash
(the linked ELF: code + constants). Models: the look-alikes the tests build
(tests/firmware/standalone_models.py, seeded, cached), and a 1x100 softmax alone.
Then how often the two references' softmax outputs differ (LiteRT BUILTIN_REF vs TFLite
Micro's fixed-point kernel, on the same logits): on the models (1000 random inputs each, every op
but SOFTMAX from BUILTIN_REF) and on every pair of int8 logits (depth 2, all 65,536 pairs) for
a few input scales; and the engine's two C softmaxes against LiteRT BUILTIN_REF on 3.2 M
random values (host gcc; depth 2, 10, 12, 100; 8 random input scales each, seeded).

    .venv/bin/python benchmarks/standalone_integer_softmax.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))

from softmax_models import softmax_model  # noqa: E402
from standalone_models import whole_model  # noqa: E402

MODELS = {
    "digits_cnn": lambda: whole_model("digits_cnn"),
    "ds_cnn": lambda: whole_model("ds_cnn"),
    "softmax_1x100": lambda: softmax_model((1, 100), 0.1, 0, 1.0),
}


def _m0_profile(folder: Path) -> Path:
    """Cortex-M0 (no FPU): the built-in rp2040 profile (an M0+) with M0 compiler flags."""
    from edgesdk.core.profiles import _builtin_dir

    text = (_builtin_dir() / "rp2040.toml").read_text()
    text = text.replace('name = "rp2040"', 'name = "bench-cortex-m0"')
    text = text.replace('core = "cortex-m0plus"', 'core = "cortex-m0"')
    path = folder / "bench-cortex-m0.toml"
    path.write_text(text)
    return path


def _run(
    folder: Path, model: bytes, profile: str | Path, integer_only: bool
) -> tuple[int, int, int]:
    """(softmax instructions, inference instructions, flash bytes) of one firmware."""
    import edgesdk
    from edgesdk.firmware.standalone.emulation import emulate_standalone

    path = folder / "m.tflite"
    path.write_bytes(model)
    out = folder / ("int" if integer_only else "float")
    if integer_only:  # the engine's default softmax is this fixed-point kernel too
        edgesdk.export_c(path, out, target=profile, engine="standalone", test_vectors=1,
                         integer_only=True)  # fmt: skip
    else:  # the float32-table kernel the engine used before, for the comparison
        from edgesdk.core.profiles import load_profile
        from edgesdk.firmware.standalone.export import export_standalone

        export_standalone(path, load_profile(profile), out, test_vectors=1, float_softmax=True)
    result = emulate_standalone(out, profile)
    if not result.bit_exact:
        raise SystemExit(f"not bit-exact: {result.first_mismatch()}")
    softmax = sum(n for _, op, n in result.layer_instructions if op == "SOFTMAX")
    return softmax, result.instructions[0], result.flash["total"]


def main() -> None:
    print(f"{'model':<14} {'core':<5} {'softmax float':>13} {'integer':>9} {'ratio':>7} "
          f"{'inference float':>15} {'integer':>9} {'flash float':>11} {'integer':>9} {'saved':>7}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-") as tmp:
        root = Path(tmp)
        cores = {"m0": _m0_profile(root), "m4f": "arduino-nano-33-ble"}
        for name, build in MODELS.items():
            model = build()
            for core, profile in cores.items():
                work = root / f"{name}-{core}"
                work.mkdir()
                fs, fi, ff = _run(work, model, profile, integer_only=False)
                s, i, f = _run(work, model, profile, integer_only=True)
                print(f"{name:<14} {core:<5} {fs:>13,} {s:>9,} {s / fs:>6.3f}x "
                      f"{fi:>15,} {i:>9,} {ff:>11,} {f:>9,} {ff - f:>7,}")  # fmt: skip
    print("\ninstructions: measured (qemu icount), per inference; flash: bytes of the linked ELF")
    differences()


def differences() -> None:
    """LiteRT BUILTIN_REF's softmax vs TFLite Micro's fixed-point one: values that differ."""
    import numpy as np

    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.firmware.standalone.export import random_vectors
    from edgesdk.firmware.standalone.mixed_reference import MixedReference, op_references
    from edgesdk.firmware.standalone.reference import reference_outputs

    print("\nSOFTMAX outputs, LiteRT BUILTIN_REF vs TFLite Micro:")
    for name in ("digits_cnn", "ds_cnn"):
        model = whole_model(name)
        c = compile_model(model, "m", integer_only=True)
        mixed = MixedReference(
            model, c.graph, op_references({L.op.index: L.kernel for L in c.layers})
        )
        differ = total = worst = 0
        for v in random_vectors(c.graph, 1000, seed=11):
            a, b = mixed(v)[0].astype(int), reference_outputs(model, c.graph, v)[0].astype(int)
            differ, total = differ + int((a != b).sum()), total + a.size
            worst = max(worst, int(np.abs(a - b).max()))
        print(f"  {name:<12} {differ} of {total:,} values differ (max {worst} LSB), 1000 inputs")
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    pairs = np.stack([a.ravel(), b.ravel()], 1).astype(np.int8)
    for scale in (0.01, 0.05, 0.1, 0.15, 0.25):
        model = softmax_model(pairs.shape, scale, 0, 1.0)
        c = compile_model(model, "m", integer_only=True)
        tflm = MixedReference(model, c.graph, op_references({0: "softmax_fixed"}))([pairs])[0]
        lite = reference_outputs(model, c.graph, [pairs])[0]
        d = np.abs(tflm.astype(int) - lite)
        print(f"  all int8 pairs, scale {scale:<5} {int((d > 0).sum())} of {d.size:,} values "
              f"differ (max {int(d.max())} LSB)")  # fmt: skip
    c_sweep()


def _host_softmax(folder: Path, model: bytes, x: object, integer_only: bool) -> object:
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.firmware.standalone.hostrun import build_host, run_host

    c = compile_model(model, "m", integer_only=integer_only, float_softmax=not integer_only)
    folder.mkdir()
    (folder / "m_model.h").write_text(c.sources.header)
    (folder / "m_model.c").write_bytes(c.sources.source)
    return run_host(build_host(folder, "m", c.graph, sanitize=False), c.graph, [[x]])[0][0], c


def c_sweep() -> None:
    """The generated C (float softmax.c and integer-only) against BUILTIN_REF."""
    import numpy as np

    from edgesdk.firmware.standalone.reference import reference_outputs

    rng = np.random.default_rng(0)
    total = 0
    bad = {False: [0, 0], True: [0, 0]}  # integer_only -> [values differing, max LSB]
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-") as tmp:
        for depth in (2, 10, 12, 100):
            for k in range(8):
                scale = float(np.float32(10 ** rng.uniform(-2, 0)))
                x = rng.integers(-128, 128, size=(100000 // depth, depth)).astype(np.int8)
                model = softmax_model(x.shape, scale, 0, 1.0)
                total += x.size
                for integer_only in (False, True):
                    folder = Path(tmp) / f"{depth}-{k}-{integer_only}"
                    got, c = _host_softmax(folder, model, x, integer_only)
                    d = np.abs(got.astype(int) - reference_outputs(model, c.graph, [x])[0])
                    bad[integer_only][0] += int((d > 0).sum())
                    bad[integer_only][1] = max(bad[integer_only][1], int(d.max()))
    for integer_only, label in ((False, "float (softmax.c)"), (True, "integer-only")):
        n, worst = bad[integer_only]
        print(f"  generated C, {label:<17} vs BUILTIN_REF: {n} of {total:,} values differ "
              f"(max {worst} LSB)")  # fmt: skip


if __name__ == "__main__":
    main()

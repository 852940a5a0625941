"""Issue 26's goals from one run: the standalone C engine (portable and DSP kernels) against
TFLite Micro + CMSIS-NN (int8-only registrations) and TFLite Micro's reference kernels, on an
emulated Cortex-M4F and on Cortex-M0+ code.

Cores and boards:
- m4f: Cortex-M4F, the arduino-nano-33-ble profile on qemu's mps2-an386: standalone portable
  and DSP kernels; TFLite Micro + CMSIS-NN (SIMD through the DSP extension) and reference.
- m0: Cortex-M0+ code, rp2040 profile, on qemu's mps2-an385 (qemu has no M0+ board with the
  Pico's 264 KB of RAM: the AN385's Cortex-M3 runs the ARMv6-M code built for the M0+, checked
  for ARMv7-M-only instructions, so the instructions executed are the M0+ build's): standalone
  portable; TFLite Micro + CMSIS-NN built for that core (CMSIS-NN's portable C path).
Same compiler flags on both sides (arm-none-eabi-gcc -Os, the profile's CPU flags; TFLite
Micro's release build with the int8-only registrations export-c writes), same test-driver
protocol.

Models, all int8 I/O, built in code (seeded, no downloads): the tests' look-alikes (digits CNN,
DS-CNN), the MLPerf-Tiny-shaped DS-CNN of benchmarks/firmware_emulation.py (64 channels, 4
depthwise-separable blocks: the one of issue 26's table), and benchmark-sized look-alikes from
tests/firmware/standalone_models.py: a MobileNet-v1-style visual-wake-words net (96x96x3, width
0.25), a ResNet-8-style CIFAR classifier (32x32x3, three residual stacks with ADD) and a
fully-connected autoencoder (640 inputs, hidden 128-8-128, 640 outputs).

Every run must be bit-exact (standalone: against LiteRT BUILTIN_REF, on the host at export and
on the emulated core; TFLite Micro: against its host interpreter) or the script stops with the
first mismatch. A model that does not fit a core's memory is reported as such.

Printed: instructions per inference (max over the test vectors; counted exactly by qemu's
plugin: a measurement, not a latency); beside it a cycle ESTIMATE (the instruction classes the
plugin counts, priced by the core's TRM cycle table, edgesdk/firmware/cycles.py); the split per op
class from the per-layer probe builds (vector 0); RAM: the standalone plan incl. I/O against
the TFLite Micro + CMSIS-NN arena incl. I/O (measured by the interpreter on the target); flash
without the model: the linked image minus the model (standalone: its constants section of
re-packed weights, biases, per-channel constants, tables and layer parameters; TFLite Micro:
the flatbuffer array) and minus the test vectors (the driver's input/expected-output arrays,
from the ELF's symbols); the C generation time of a ~1 MB model; a short seeded differential
run (scripts/standalone_fuzz.py); then one table with every goal, its value and pass/fail.

    PYTHONPATH=. .venv/bin/python benchmarks/standalone_vs_cmsis_nn.py \
        [--models digits_cnn,vww_mobilenet] [--cores m4f,m0] [--fuzz-cases 200]
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "firmware"))

from standalone_models import whole_model  # noqa: E402 - the tests' model builders

import edgesdk  # noqa: E402
from edgesdk.core.profiles import load_profile  # noqa: E402
from edgesdk.errors import ExportError, FirmwareError  # noqa: E402
from edgesdk.firmware.cycles import slowest  # noqa: E402
from edgesdk.firmware.standalone.emulation import emulate_standalone  # noqa: E402
from edgesdk.firmware.standalone.export import export_standalone  # noqa: E402
from edgesdk.firmware.standalone.fuse import FUSED_KIND  # noqa: E402
from edgesdk.firmware.standalone.graph import read_graph  # noqa: E402

CLASSES = ("conv 1x1", "conv", "depthwise", "fully connected", "add/mul", "pool/mean", "other")
POOLING = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN"}
ELEMENTWISE = {"ADD", "MUL"}
TIMEOUT = 900.0  # seconds per emulated run (the reference kernels on the VWW net are slow)
VECTORS = 2
# standalone kernels / TFLite Micro kernels compared with CMSIS-NN for each core's goal
GOALS = {"m4f": ("dsp", 0.6, 0.5), "m0": ("portable", 0.8, None)}
RAM_GOAL, FLASH_GOAL, GENERATION_GOAL_S = 0.5, 0.3, 2.0


@dataclass(frozen=True)
class Core:
    target: str
    label: str
    standalone: tuple[str, ...]  # kernel sets of the standalone engine
    tflm: tuple[str, ...]  # kernel sets of TFLite Micro


CORES = {
    "m4f": Core(
        "arduino-nano-33-ble",
        "Cortex-M4F, arduino-nano-33-ble profile, on qemu's mps2-an386",
        ("portable", "dsp"),
        ("cmsis-nn", "reference"),
    ),
    "m0": Core(
        "rp2040",
        "Cortex-M0+ code, rp2040 profile, on qemu's mps2-an385 (a Cortex-M3 running the "
        "ARMv6-M code; the Pico's 264 KB RAM / 2 MB flash)",
        ("portable",),
        ("cmsis-nn",),
    ),
}


def _mlperf_ds_cnn(folder: Path) -> Path:
    from firmware_emulation import ds_cnn

    return ds_cnn(folder)


def _tests_model(name: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / f"{name}.tflite"
        path.write_bytes(whole_model(name))
        return path

    return build


MODELS: dict[str, Callable[[Path], Path]] = {
    "digits_cnn": _tests_model("digits_cnn"),
    "ds_cnn": _tests_model("ds_cnn"),
    "ds_cnn_mlperf": _mlperf_ds_cnn,
    "vww_mobilenet": _tests_model("vww_mobilenet"),
    "resnet8_cifar": _tests_model("resnet8_cifar"),
    "fc_autoencoder": _tests_model("fc_autoencoder"),
}


@dataclass
class Run:
    """One engine + kernel set on one core (None fields: it did not fit)."""

    instructions: int | None = None
    classes: dict[str, int] = field(default_factory=dict)
    flash_wo_model: int | None = None  # linked image - model - test vectors
    model_bytes: int | None = None
    ram: int | None = None  # standalone: the plan incl. I/O; TFLite Micro: arena used incl. I/O
    ram_reserved: int | None = None  # TFLite Micro: the static arena the firmware reserves
    vectors_bytes: int = 0
    note: str = ""  # why it did not run there
    cycles: int | None = None  # ESTIMATE: the slowest vector priced by the core's TRM table
    cycles_table: str = ""


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
        elif op.kind in ELEMENTWISE:
            out[op.index] = "add/mul"
        elif op.kind in POOLING:
            out[op.index] = "pool/mean"
        else:
            out[op.index] = "other"
    return out


def split(layers: tuple[tuple[int, str, int], ...], classes: dict[int, str]) -> dict[str, int]:
    sums = dict.fromkeys(CLASSES, 0)
    for index, kind, n in layers:
        # a residual block run row by row (fuse.py: two 3x3 convolutions and their ADD, under
        # the ADD's index) is counted as convolution, its ADD's share included
        sums["conv" if kind == FUSED_KIND else classes.get(index, "other")] += n
    return sums


_VECTOR_SYMBOL = re.compile(r"^k\w*Test(Input|Output)\d+$")


def test_vector_bytes(elf: Path) -> int:
    """Bytes of the test driver's input / expected-output arrays in the linked image."""
    from edgesdk.firmware.size import symbol_sizes
    from edgesdk.firmware.toolchain import find_toolchain

    sizes = symbol_sizes(elf, find_toolchain())
    return sum(n for s, n in sizes.items() if _VECTOR_SYMBOL.match(s))


def _does_not_fit(e: Exception) -> bool:
    text = str(e)
    return "Over the RAM budget" in text or "overflow" in text


def _mismatch(what: str, first: dict | None) -> SystemExit:
    return SystemExit(f"STOP: {what} is not bit-exact; first mismatch: {first}")


def _cycles(r) -> dict:
    """The cycle ESTIMATE of the slowest vector (TRM cycle table of the core; None without one)."""
    worst = slowest(r.cycles_estimate)
    return {"cycles": worst["cycles"], "cycles_table": worst["table"]} if worst else {}


def run_standalone(model: Path, core: Core, kernels: str, folder: Path, classes) -> Run:
    profile = load_profile(core.target)
    out, work = folder / "bundle", folder / "work"
    try:
        export_standalone(model, profile, out, test_vectors=VECTORS, kernels=kernels)
        r = emulate_standalone(out, profile, timeout=TIMEOUT, work_dir=work)
    except (ExportError, FirmwareError) as e:
        if _does_not_fit(e):
            return Run(note=f"does not fit: {e}")
        raise SystemExit(f"STOP: standalone {kernels} on {core.target}: {e}") from e
    if not r.bit_exact:
        raise _mismatch(f"standalone {kernels} on {core.target}", r.first_mismatch())
    vec = test_vector_bytes(work / "firmware" / "firmware.elf")
    return Run(
        instructions=max(r.instructions),
        classes=split(r.layer_instructions, classes),
        flash_wo_model=r.flash["total"] - r.flash["constants"] - vec,
        model_bytes=r.flash["constants"],
        ram=r.ram["arena"] + r.ram["io"],  # io is 0: the in-place entry's I/O is in the plan
        vectors_bytes=vec,
        **_cycles(r),
    )


def run_tflm(bundle: Path, core: Core, kernels: str, folder: Path, classes) -> Run:
    try:
        r = edgesdk.emulate(bundle, core.target, timeout=TIMEOUT, work_dir=folder, kernels=kernels)
    except FirmwareError as e:
        if _does_not_fit(e):
            return Run(note=f"does not fit: {e}")
        raise SystemExit(f"STOP: TFLite Micro {kernels} on {core.target}: {e}") from e
    if not r.bit_exact:
        raise _mismatch(f"TFLite Micro {kernels} on {core.target}", r.first_mismatch())
    vec = test_vector_bytes(folder / "build" / "firmware.elf")
    return Run(
        instructions=max(r.instructions),
        classes=split(r.layer_instructions, classes),
        flash_wo_model=r.flash["total"] - r.flash["model"] - vec,
        model_bytes=r.flash["model"],
        ram=r.ram["arena_used"],  # tensors incl. inputs and outputs + persistent allocations
        ram_reserved=r.ram["arena"],
        vectors_bytes=vec,
        **_cycles(r),
    )


def measure(name: str, model: Path, core_key: str, folder: Path) -> dict[str, Run]:
    core = CORES[core_key]
    classes = op_classes(model.read_bytes())
    runs: dict[str, Run] = {}
    for ks in core.standalone:
        runs[f"standalone {ks}"] = run_standalone(
            model, core, ks, folder / f"{name}-{core_key}-{ks}", classes
        )
    bundle = folder / f"{name}-{core_key}-tflm"
    try:
        edgesdk.export_c(model, bundle, core.target, test_vectors=VECTORS)
    except ExportError as e:
        if not _does_not_fit(e):
            raise SystemExit(f"STOP: TFLite Micro export for {core.target}: {e}") from e
        for ks in core.tflm:
            runs[f"tflm {ks}"] = Run(note=f"does not fit: {e}")
        return runs
    for ks in core.tflm:
        runs[f"tflm {ks}"] = run_tflm(
            bundle, core, ks, folder / f"{name}-{core_key}-tflm-{ks}", classes
        )
    return runs


def generation_seconds(folder: Path) -> tuple[float, float, str]:
    """Best of 3, C generation (compile_model + writing the C) of the ~1 MB model of
    benchmarks/standalone_vs_tflm.py, with the DSP kernels (their re-packing included)."""
    from standalone_vs_tflm import one_mb_model

    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.tflite.model_info import read_tflite

    data = read_tflite(one_mb_model(folder))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        compiled = compile_model(data, "big", kernels="dsp")
        (folder / "big_model.c").write_bytes(compiled.sources.source)
        (folder / "big_model.h").write_text(compiled.sources.header)
        times.append(time.perf_counter() - start)
    sizes = f"{len(data) / 1e6:.2f} MB .tflite, {len(compiled.sources.source) / 1e6:.1f} MB of C"
    return min(times), sorted(times)[1], sizes


def differential(cases: int) -> tuple[int | None, str]:
    """A short seeded run of scripts/standalone_fuzz.py: its summary line's findings (checked
    against its exit status: 1 when anything was found), and the lines naming findings."""
    if cases <= 0:
        return None, "not run (--fuzz-cases 0)"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "standalone_fuzz.py"), "--cases", str(cases)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = next((ln for ln in reversed(lines) if re.match(r"\d+ cases \(seeds ", ln)), None)
    m = re.search(r"; (\d+) findings;", summary or "")
    if m is None or (int(m.group(1)) > 0) != (proc.returncode == 1) or proc.returncode > 1:
        return None, f"the fuzzer failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
    found = [ln.strip() for ln in lines if ln.startswith("  seed ")]
    return int(m.group(1)), summary + "".join(f"\n    {f}" for f in found[:5])


def _fmt(n: int | None) -> str:
    return f"{n:,}" if n is not None else "-"


def _ratio(a: int | None, b: int | None) -> float | None:
    return a / b if a is not None and b else None


def _r(x: float | None) -> str:
    return f"{x:.3f}" if x is not None else "-"


def geomean(xs: list[float]) -> float | None:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def print_core(core_key: str, results: dict[str, dict[str, Run]]) -> None:
    core = CORES[core_key]
    print(f"\n=== {core.label}")
    print("instructions per inference: measured by qemu's icount plugin (max over the "
          f"{VECTORS} test vectors; exact, identical run to run). est. cycles: an ESTIMATE, the "
          "instruction classes the plugin counted priced by the core's technical reference "
          "manual cycle table (edgesdk/firmware/cycles.py: zero wait states, no stalls; "
          "middle of each range), not a measurement")  # fmt: skip
    print(f"{'model':<15} {'engine':<20} {'instructions':>13} {'/ CMSIS-NN':>10} {'/ TFLM ref':>10} "
          f"{'flash w/o model B':>17} {'model B':>8} {'RAM B':>8} {'est. cycles':>12} {'/ CMSIS':>7}")  # fmt: skip
    for name, runs in results.items():
        cmsis = runs["tflm cmsis-nn"].instructions
        ref = runs["tflm reference"].instructions if "tflm reference" in runs else None
        for engine, r in runs.items():
            if r.instructions is None:
                print(f"{name:<15} {engine:<20} {r.note}")
                continue
            print(f"{name:<15} {engine:<20} {r.instructions:>13,} "
                  f"{_r(_ratio(r.instructions, cmsis)):>10} {_r(_ratio(r.instructions, ref)):>10} "
                  f"{_fmt(r.flash_wo_model):>17} {_fmt(r.model_bytes):>8} {_fmt(r.ram):>8} "
                  f"{_fmt(r.cycles):>12} {_r(_ratio(r.cycles, runs['tflm cmsis-nn'].cycles)):>7}")  # fmt: skip
    print("RAM B: standalone = its plan incl. inputs and outputs (one static buffer); TFLite "
          "Micro = arena used incl. I/O and persistent allocations (measured by the interpreter "
          "on the target). flash w/o model: the linked image (incl. the test driver, its "
          "printf and startup) minus the model and minus the test vectors; model B: standalone "
          "= its constants section (re-packed weights, biases, per-channel constants, tables, "
          "layer parameters), TFLite Micro = the flatbuffer array.")  # fmt: skip
    engines = list(next(iter(results.values())).keys())
    print(f"\nper op class (per-layer probe, vector 0), instructions; ratio: standalone "
          f"{GOALS[core_key][0]} / CMSIS-NN")  # fmt: skip
    print(f"{'model':<15} {'op class':<16} " + " ".join(f"{e:>20}" for e in engines)
          + f" {'ratio':>7}")  # fmt: skip
    ours = f"standalone {GOALS[core_key][0]}"
    for name, runs in results.items():
        for c in CLASSES:
            row = [runs[e].classes.get(c) if runs[e].instructions else None for e in engines]
            if not any(row):
                continue
            cm = runs["tflm cmsis-nn"].classes.get(c)
            d = runs[ours].classes.get(c)
            print(f"{name:<15} {c:<16} " + " ".join(f"{_fmt(v):>20}" for v in row)
                  + f" {_r(_ratio(d, cm)):>7}")  # fmt: skip


def goal_rows(results: dict[str, dict[str, dict[str, Run]]]) -> list[tuple[str, str, bool | None]]:
    rows: list[tuple[str, str, bool | None]] = []
    for core_key, per_model in results.items():
        kernels, each, geo_goal = GOALS[core_key]
        ours = f"standalone {kernels}"
        ratios = []
        for name, runs in per_model.items():
            x = _ratio(runs[ours].instructions, runs["tflm cmsis-nn"].instructions)
            label = f"{core_key}: instructions {ours} / TFLM+CMSIS-NN, {name}"
            if x is None:
                why = runs[ours].note or runs["tflm cmsis-nn"].note
                rows.append((label, f"not measured ({why[:60]})", None))
                continue
            ratios.append(x)
            rows.append((f"{label} <= {each}", f"{x:.3f}", x <= each))
        g = geomean(ratios)
        if g is not None:
            goal = f" <= {geo_goal}" if geo_goal else " (no goal)"
            rows.append((f"{core_key}: geometric mean over {len(ratios)} models{goal}",
                         f"{g:.3f}", g <= geo_goal if geo_goal else None))  # fmt: skip
        cyc = [_ratio(r[ours].cycles, r["tflm cmsis-nn"].cycles) for r in per_model.values()]
        cyc = [x for x in cyc if x is not None]
        if cyc:
            rows.append((f"{core_key}: ESTIMATED cycles {ours} / TFLM+CMSIS-NN, geometric mean "
                         "(TRM table; no goal)", f"{geomean(cyc):.3f}", None))  # fmt: skip
        for name, runs in per_model.items():
            a, b = runs[ours], runs["tflm cmsis-nn"]
            ram = _ratio(a.ram, b.ram)
            flash = _ratio(a.flash_wo_model, b.flash_wo_model)
            if ram is not None:
                rows.append((f"{core_key}: RAM plan incl. I/O / TFLM+CMSIS-NN arena, {name} "
                             f"<= {RAM_GOAL}", f"{ram:.3f} ({a.ram:,} / {b.ram:,} B)",
                             ram <= RAM_GOAL))  # fmt: skip
            if flash is not None:
                rows.append((f"{core_key}: flash w/o model {ours} / TFLM+CMSIS-NN, {name} "
                             f"<= {FLASH_GOAL}",
                             f"{flash:.3f} ({a.flash_wo_model:,} / {b.flash_wo_model:,} B)",
                             flash <= FLASH_GOAL))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"of {', '.join(MODELS)}")
    parser.add_argument("--cores", default=",".join(CORES), help=f"of {', '.join(CORES)}")
    parser.add_argument("--fuzz-cases", type=int, default=200, help="short differential run")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    cores = [c for c in args.cores.split(",") if c]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model {n!r}: one of {', '.join(MODELS)}")
    for c in cores:
        if c not in CORES:
            parser.error(f"unknown core {c!r}: one of {', '.join(CORES)}")
    start = time.monotonic()
    results: dict[str, dict[str, dict[str, Run]]] = {c: {} for c in cores}
    with tempfile.TemporaryDirectory(prefix="edgesdk-vs-cmsis-") as tmp:
        folder = Path(tmp)
        paths = {n: MODELS[n](folder) for n in names}
        for c in cores:
            for n, path in paths.items():
                t = time.monotonic()
                results[c][n] = measure(n, path, c, folder)
                print(f"[{c} {n}: {time.monotonic() - t:.0f} s]", flush=True)
        gen_best, gen_median, gen_sizes = generation_seconds(folder)
    findings, fuzz_text = differential(args.fuzz_cases)
    for c in cores:
        print_core(c, results[c])
    print(f"\nC generation, ~1 MB model ({gen_sizes}), DSP kernels: best of 3 {gen_best:.3f} s, "
          f"median {gen_median:.3f} s (wall clock, this machine)")  # fmt: skip
    print(f"differential run (scripts/standalone_fuzz.py --cases {args.fuzz_cases}, host gcc "
          f"ASan/UBSan vs BUILTIN_REF): {fuzz_text}")  # fmt: skip
    rows = goal_rows(results)
    rows.append(("every model run bit-exact (standalone vs BUILTIN_REF, TFLM vs host interpreter)",
                 "yes (the script stops at the first mismatch)", True))  # fmt: skip
    if findings is not None:
        rows.append((f"differential run: 0 mismatches ({args.fuzz_cases} seeds)",
                     str(findings), findings == 0))  # fmt: skip
    else:
        rows.append(("differential run: 0 mismatches", fuzz_text, None))
    rows.append((f"C generation of a ~1 MB model < {GENERATION_GOAL_S} s", f"{gen_best:.3f} s",
                 gen_best < GENERATION_GOAL_S))  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print("\n=== issue 26 goals")
    print(f"{'goal':<{width}}  {'measured':<32} result")
    for goal, value, ok in rows:
        verdict = "n/a" if ok is None else ("pass" if ok else "FAIL")
        print(f"{goal:<{width}}  {value:<32} {verdict}")
    passed = sum(1 for r in rows if r[2])
    failed = sum(1 for r in rows if r[2] is False)
    print(f"{passed} passed, {failed} failed; instruction counts are measurements (qemu plugin); "
          f"cycles are ESTIMATES (TRM tables), no goal is judged on them. Run time {time.monotonic() - start:.0f} s.")  # fmt: skip


if __name__ == "__main__":
    main()

"""`emulate`: build TFLite Micro firmware for a bundle and the target's core, run it under
qemu-system-arm, and report bit-exactness, linked flash and RAM, and instructions per inference
(with a latency that is an ESTIMATE: qemu models no timing)."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.profiles import TargetProfile, load_profile
from edgesdk.core.results import JsonResult
from edgesdk.errors import FirmwareError
from edgesdk.firmware.engines import Engine

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]  # a source checkout: ../shared/ may hold the kit


@dataclass(frozen=True)
class EmulationResult(JsonResult):
    """What the firmware did on the emulated core, and what it costs in flash and RAM."""

    bundle: str
    target: str
    core: str
    machine: str  # the qemu board that ran it
    emulation_note: str  # the profile's note about its board ("" on a board asked for)
    board: dict[str, Any]  # machine, CPU, architectures, who chose it, memory map, ISA check
    build: str  # TFLite Micro build flavour (release: NDEBUG, no error strings, -Os)
    kernels: str  # the kernel set every figure is for: "reference" or "cmsis-nn"
    bit_exact: bool  # every output of every vector equals the host TFLite Micro interpreter's
    vectors: tuple[dict[str, Any], ...]
    instructions: tuple[int, ...]  # per inference, per vector: a measurement (qemu plugin)
    clock_mhz: int | None
    cpi: float  # cycles per instruction behind the estimate
    cpi_source: str  # where that factor comes from (a calibration or an assumption)
    flash: dict[str, Any]  # linked: total, model, tflm, rest, rest_detail
    ram: dict[str, Any]  # linked: total, arena, other_static, heap, stack (+ measured use)
    budget: dict[str, Any]  # the profile's flash/RAM budgets and whether the firmware fits
    export_estimate: dict[str, Any] | None  # what export-c estimated, beside the linked figures
    library: dict[str, Any]  # the cached TFLite Micro library: key, reused, build/wait seconds
    seconds: dict[str, float]  # firmware build and emulator run (wall clock, this machine)
    warnings: tuple[str, ...] = ()
    dsp_instructions: dict[str, int] | None = None  # DSP SIMD instructions in the linked image
    # (op index, op, instructions inside its Invoke) for vector 0, from the per-layer probe
    layer_instructions: tuple[tuple[int, str, int], ...] = ()
    registrations: tuple[dict[str, Any], ...] = ()  # per op: int8-only or generic (export.json)
    # per inference, per vector: executed instructions by class + extra counters (measured)
    instruction_classes: tuple[dict[str, int], ...] = ()
    # cycles.estimate(): the core's TRM cycle table over those classes, with its source (ESTIMATE)
    cycles_estimate: dict[str, Any] | None = None

    @property
    def estimated_latency_ms(self) -> float | None:
        """instructions x CPI / clock: an estimate, never a measurement."""
        if not self.instructions or not self.clock_mhz:
            return None
        return max(self.instructions) * self.cpi / (self.clock_mhz * 1e3)

    @property
    def estimated_latency_ms_trm(self) -> float | None:
        """Estimated cycles (TRM table x instruction classes) / clock: an ESTIMATE."""
        from edgesdk.firmware.cycles import latency_ms

        return latency_ms(self.cycles_estimate, self.clock_mhz)

    @property
    def fits(self) -> bool:
        return bool(self.budget.get("fits"))

    def first_mismatch(self) -> dict[str, Any] | None:
        return next((v for v in self.vectors if not v["passed"]), None)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["vectors"] = list(self.vectors)
        data["instructions"] = list(self.instructions)
        data["warnings"] = list(self.warnings)
        data["registrations"] = list(self.registrations)
        data["layer_instructions"] = [
            {"op_index": i, "op": op, "instructions": n} for i, op, n in self.layer_instructions
        ]
        data["kind"] = "emulate"
        data["engine"] = Engine.TFLM.value
        data["estimated_latency_ms"] = self.estimated_latency_ms
        data["latency_is_estimate"] = True
        data["instruction_classes"] = list(self.instruction_classes)
        data["estimated_latency_ms_trm"] = self.estimated_latency_ms_trm
        return data


def _profile_of(bundle: Any, target: str | Path | TargetProfile | None) -> TargetProfile:
    if isinstance(target, TargetProfile):
        return target
    if target is not None:
        return load_profile(target)
    if bundle.estimate is None:
        raise FirmwareError(
            f"{bundle.folder} has no export.json naming its target; give the target profile",
            what="target",
        )
    from edgesdk.firmware.bundle_input import builtin_target

    return builtin_target(bundle.estimate.target, bundle.folder / "export.json")


def _budget(profile: TargetProfile, flash: int, ram: int) -> dict[str, Any]:
    m = profile.memory
    flash_budget, ram_budget = m.flash_budget_bytes, m.ram_budget_bytes
    return {
        "flash_bytes": m.flash_bytes,
        "ram_bytes": m.ram_bytes,
        "flash_budget": flash_budget,
        "ram_budget": ram_budget,
        "flash_used": flash,
        "ram_used": ram,
        "fits": (flash_budget is None or flash <= flash_budget) and ram <= ram_budget,
    }


# Over 80 lines: one pipeline in order (profile, toolchain, library, project, build, run,
# sizes) and the result it assembles; every step is a call into its own module.
def emulate(
    bundle_dir: str | Path,
    target: str | Path | TargetProfile | None = None,
    tflm_src: str | Path | None = None,
    timeout: float = 120.0,
    work_dir: str | Path | None = None,
    board: str | None = None,
    kernels: str | None = None,
    per_layer: bool = True,
) -> EmulationResult:
    """Build the bundle's firmware for the target's core, run it under qemu and measure it.

    Args:
        bundle_dir: a C bundle from ``export_c`` with test vectors.
        target: the profile (default: the one the bundle was exported for).
        tflm_src: a TFLite Micro source folder or kit (default: ``$EDGESDK_TFLM_SRC``, then the
            kit beside a source checkout); its library is built once per core and cached.
        timeout: seconds the emulated run may take before it counts as a hang.
        work_dir: keep the firmware project there (default: a temporary folder).
        board: a qemu board instead of the profile's (cores.MACHINES), one that runs the
            target's code: e.g. ``microbit`` (Cortex-M0, 16 KB RAM) for ``rp2040``. The code
            is built for the target's core either way; RAM and flash are the smaller of the
            board's and the target's.
        kernels: "reference" or "cmsis-nn" (default: the bundle's, from export-c, else the
            core's usual set: CMSIS-NN on Cortex-M). Asked for, a set the TFLite Micro source
            cannot build is an error; by default the source's own set is used, with a warning.
        per_layer: also build the per-layer probe (the same firmware with a mark around every
            op's Invoke) and report instructions per layer.

    Raises:
        FirmwareError: no [mcu] section or no emulator for the core, a board that cannot run
            the target's code, a missing tool (named with its Debian package), no TFLite Micro
            source, a build or link error (an overflow names the region and the bytes), an
            instruction the target's architecture lacks (on a stand-in board), a hang, a fault
            or a set-up error on the target.
    """
    from edgesdk.firmware import target_board
    from edgesdk.firmware.cores import CPI_SOURCES
    from edgesdk.firmware.cycles import estimate as estimate_cycles
    from edgesdk.firmware.emulator import run_firmware
    from edgesdk.firmware.isa import dsp_instructions
    from edgesdk.firmware.size import measure
    from edgesdk.firmware.tflm import project as proj
    from edgesdk.firmware.tflm.library import (
        BuildType,
        build_library,
        locate_source,
        open_source,
        parse_kernels,
    )
    from edgesdk.firmware.toolchain import find_toolchain, icount_plugin

    asked = parse_kernels(kernels)
    bundle = proj.read_bundle(Path(bundle_dir))
    profile = _profile_of(bundle, target)
    chosen = target_board.choose(profile, board)
    core, memory = chosen.core, chosen.memory
    toolchain = find_toolchain()
    env = {"EDGESDK_TFLM_SRC": str(tflm_src)} if tflm_src else None
    source = open_source(locate_source(REPO_ROOT, env))
    kernel_set, kernel_note = _kernels(asked, bundle, core.name, source)
    library = build_library(source, core, toolchain, BuildType.RELEASE, kernels=kernel_set)
    with tempfile.TemporaryDirectory(prefix="edgesdk-fw-") as tmp:
        folder = Path(work_dir) if work_dir else Path(tmp)
        project = proj.write_project(bundle, core, library, folder, toolchain, memory)
        built = proj.build_firmware(project, toolchain)
        isa = target_board.check_code(chosen, built.elf, toolchain.objdump)
        run = run_firmware(built.elf, core, toolchain, icount_plugin(toolchain), timeout)
        sizes = measure(built.elf, built.map_file, toolchain, bundle.model_symbol)
        dsp = dsp_instructions(built.elf, toolchain.objdump)
        layers, layer_note = (
            _layer_counts(bundle, core, library, folder / "probe", toolchain, memory, timeout)
            if per_layer
            else ((), ())
        )
    flash = dataclasses.asdict(sizes.flash)
    ram = {
        **dataclasses.asdict(sizes.ram),
        "arena_used": run.arena_used,
        "stack_used": run.stack_used,
        "heap_used": run.heap_used,
    }
    return EmulationResult(
        bundle=str(bundle.folder),
        target=profile.name,
        core=core.name,
        machine=core.qemu_machine,
        emulation_note=chosen.profile_note,
        board=target_board.describe(chosen, isa),
        build=library.build_type.value,
        kernels=library.kernels.value,
        bit_exact=run.passed,
        vectors=tuple(dataclasses.asdict(v) for v in run.vectors),
        instructions=run.instructions_per_invoke,
        clock_mhz=profile.clock_mhz,
        cpi=core.cpi,
        cpi_source=CPI_SOURCES[core.name],
        flash=flash,
        ram=ram,
        budget=_budget(profile, sizes.flash.total, sizes.ram.total),
        export_estimate=dataclasses.asdict(bundle.estimate) if bundle.estimate else None,
        library={
            "key": library.key,
            "core": library.core,
            "reused": library.reused,
            "waited_seconds": library.waited_seconds,  # for another process's build of it
            "build_seconds": library.build_seconds,
            "kernels": library.kernels.value,
            "source": library.source,
            "source_layout": library.source_layout,
        },
        seconds={"firmware_build": round(built.seconds, 3), "run": round(run.seconds, 3)},
        warnings=(*target_board.notes(chosen, isa, profile.name), *kernel_note, *layer_note),
        dsp_instructions=dsp,
        layer_instructions=layers,
        registrations=bundle.registrations,
        instruction_classes=run.classes_per_invoke,
        cycles_estimate=estimate_cycles(run.classes_per_invoke, core.name),
    )


def _layer_counts(
    bundle: Any, core: Any, library: Any, folder: Path, toolchain: Any, memory: Any,
    timeout: float,
) -> tuple[tuple[tuple[int, str, int], ...], tuple[str, ...]]:  # fmt: skip
    """Instructions inside each op's Invoke for vector 0: the probe firmware marks before and
    after every op (templates/layer_graph.cc); a mark's own cost is taken off each."""
    import subprocess

    from edgesdk.firmware.emulator import qemu_command, read_marks, symbol_address
    from edgesdk.firmware.tflm import project as proj
    from edgesdk.firmware.toolchain import icount_plugin

    if not bundle.layers:
        return (), ("per-layer counts: the bundle records no layers (export it again)",)
    project = proj.write_project(bundle, core, library, folder, toolchain, memory, layer_marks=True)
    built = proj.build_firmware(project, toolchain)
    marks_file = folder / "marks.txt"
    mark = symbol_address(built.elf, "edgesdk_icount_mark", toolchain)
    cmd = qemu_command(core, built.elf, toolchain)
    cmd += ["-plugin", f"{icount_plugin(toolchain)},out={marks_file},mark=0x{mark:x}"]
    subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    _, marks = read_marks(marks_file)
    n = len(bundle.layers)
    # [overhead pair, then vector 0: before Invoke, (begin, end) per op, after Invoke, ...]
    if len(marks) < 2 + 2 * n + 2:
        return (), (f"per-layer counts: the probe gave {len(marks)} marks for {n} ops",)
    overhead = marks[1] - marks[0]
    pairs = marks[3 : 3 + 2 * n]
    counts = tuple(
        (index, op, pairs[2 * k + 1] - pairs[2 * k] - overhead)
        for k, (index, op) in enumerate(bundle.layers)
    )
    return counts, ()


def _kernels(asked: Any, bundle: Any, core: str, source: Any) -> tuple[Any, tuple[str, ...]]:
    """The kernel set to build with, and a note when the usual one could not be used: asked
    for, it must be buildable (sources_for raises); otherwise the bundle's (export-c's
    choice), else the core's usual set, falling back to what the source has."""
    from edgesdk.firmware.tflm.library import default_kernels

    if asked is not None:
        source.sources_for(asked)  # one clear line if the source lacks it
        return asked, ()
    wanted = bundle.kernels or default_kernels(core)
    if wanted in source.kernel_sets:
        return wanted, ()
    have = source.kernel_sets[0]
    return have, (
        f"kernels: {have.value}, not {wanted.value}: the TFLite Micro source at "
        f"{source.root} has no {wanted.value} kernels",
    )

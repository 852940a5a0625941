"""``emulate --engine standalone``: the standalone C on an emulated Cortex-M core: bit-exactness
against LiteRT's reference kernels, linked flash and RAM, instructions per inference (measured
by qemu's icount plugin; latencies derived from them are estimates) and per-layer counts."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.profiles import TargetProfile, load_profile
from edgesdk.core.results import JsonResult
from edgesdk.errors import FirmwareError
from edgesdk.firmware.standalone.firmware import CONSTANTS_SECTION, ENGINE, build, read_bundle


@dataclass(frozen=True)
class StandaloneEmulation(JsonResult):
    """What the standalone firmware did on the emulated core and what it costs."""

    bundle: str
    target: str
    core: str
    machine: str  # the qemu board that ran it
    board: dict[str, Any]  # machine, CPU, architectures, who chose it, memory map, ISA check
    bit_exact: bool  # every output byte of every vector equals LiteRT BUILTIN_REF's
    vectors: tuple[dict[str, Any], ...]
    instructions: tuple[int, ...]  # per inference, per vector (measured, qemu plugin)
    layer_instructions: tuple[tuple[int, str, int], ...]  # (op index, op, instructions), vector 0
    flash: dict[str, int]  # total, constants (weights, biases, tables, layer params), code_and_rest
    ram: dict[
        str, int
    ]  # total (reserved), static (.data + .bss), arena (plan), io, stack/heap used
    budget: dict[str, Any]  # the profile's flash/RAM budgets and whether the firmware fits
    clock_mhz: int | None
    cpi: float
    seconds: dict[str, float]
    warnings: tuple[str, ...] = ()
    # per inference, per vector: executed instructions by class + extra counters (measured)
    instruction_classes: tuple[dict[str, int], ...] = ()
    # cycles.estimate(): the core's TRM cycle table over those classes, with its source (ESTIMATE)
    cycles_estimate: dict[str, Any] | None = None

    @property
    def fits(self) -> bool:
        return bool(self.budget.get("fits"))

    def first_mismatch(self) -> dict[str, Any] | None:
        return next((v for v in self.vectors if not v["passed"]), None)

    @property
    def estimated_latency_ms(self) -> float | None:
        """instructions x CPI / clock: an ESTIMATE (qemu models no timing)."""
        if not self.instructions or not self.clock_mhz:
            return None
        return max(self.instructions) * self.cpi / (self.clock_mhz * 1e3)

    @property
    def estimated_latency_ms_trm(self) -> float | None:
        """Estimated cycles (TRM table x instruction classes) / clock: an ESTIMATE."""
        from edgesdk.firmware.cycles import latency_ms

        return latency_ms(self.cycles_estimate, self.clock_mhz)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["vectors"] = list(self.vectors)
        data["instructions"] = list(self.instructions)
        data["warnings"] = list(self.warnings)
        data["layer_instructions"] = [
            {"op_index": i, "op": op, "instructions": n} for i, op, n in self.layer_instructions
        ]
        data["kind"] = "emulate"
        data["engine"] = ENGINE
        data["estimated_latency_ms"] = self.estimated_latency_ms
        data["latency_is_estimate"] = True
        data["instruction_classes"] = list(self.instruction_classes)
        data["estimated_latency_ms_trm"] = self.estimated_latency_ms_trm
        return data


def _layer_counts(marks: list[int], ops: list[tuple[int, str]]) -> tuple[tuple[int, str, int], ...]:
    """Marks of vector 0 with per-layer hooks: [start, hook(op0) ... hook(end), end]."""
    inner = marks[2 : 2 + len(ops) + 3]  # invoke start, a hook per op, the end hook, invoke end
    hooks = inner[1:-1]
    overhead = marks[1] - marks[0]
    return tuple(
        (idx, kind, hooks[k + 1] - hooks[k] - overhead) for k, (idx, kind) in enumerate(ops)
    )


# Over 80 lines: one pipeline in order (profile, toolchain, build, run, sizes, per-layer run).
def emulate_standalone(
    bundle_dir: str | Path,
    target: str | Path | TargetProfile | None = None,
    timeout: float = 120.0,
    work_dir: str | Path | None = None,
    per_layer: bool = True,
    board: str | None = None,
    kernels: str | None = None,
) -> StandaloneEmulation:
    """Build the standalone bundle's firmware for the target's core, run it under qemu.

    ``board``: a qemu board instead of the profile's, as for
    :func:`edgesdk.firmware.emulation.emulate`.
    ``kernels``: when given, it must be the bundle's own kernel set (compiled into its C at
    export: emulate cannot swap them).

    Raises:
        FirmwareError: no [mcu] section or emulator, a board that cannot run the target's
            code, a missing tool, a build error (an overflow in one line), an instruction the
            target's architecture lacks (on a stand-in board), a hang or a fault.
    """
    from edgesdk.firmware import target_board
    from edgesdk.firmware.bundle_input import builtin_target
    from edgesdk.firmware.cycles import estimate as estimate_cycles
    from edgesdk.firmware.emulator import qemu_command, read_marks, run_firmware, symbol_address
    from edgesdk.firmware.size import section_sizes
    from edgesdk.firmware.toolchain import find_toolchain, icount_plugin

    b = read_bundle(Path(bundle_dir))
    if kernels is not None and kernels != b.kernel_set:
        from edgesdk.firmware.bundle_input import shown

        raise FirmwareError(
            f"kernels={kernels!r}: {b.folder} holds the {shown(b.kernel_set)} kernels, compiled in "
            f"at export; export it again with kernels={kernels!r} to emulate those",
            what="kernels",
            value=kernels,
        )
    if isinstance(target, TargetProfile):
        profile = target
    elif target is not None:
        profile = load_profile(target)
    elif b.target:
        profile = builtin_target(b.target, b.folder / "export.json")
    else:
        raise FirmwareError(f"{b.folder} names no target; give the target profile", what="target")
    chosen = target_board.choose(profile, board)
    core, memory = chosen.core, chosen.memory
    toolchain = find_toolchain()
    plugin = icount_plugin(toolchain)
    with tempfile.TemporaryDirectory(prefix="edgesdk-standalone-fw-") as tmp:
        folder = Path(work_dir) if work_dir else Path(tmp)
        built = build(b, core, toolchain, folder / "firmware", memory)
        isa = target_board.check_code(chosen, built.elf, toolchain.objdump)
        run = run_firmware(built.elf, core, toolchain, plugin, timeout)
        sections = section_sizes(built.elf, toolchain)
        layers: tuple[tuple[int, str, int], ...] = ()
        if per_layer:
            import subprocess

            ops = list(b.layers)
            probe = build(b, core, toolchain, folder / "probe", memory, layer_marks=True)
            target_board.check_code(chosen, probe.elf, toolchain.objdump)
            marks_file = folder / "probe" / "marks.txt"
            mark = symbol_address(probe.elf, "edgesdk_icount_mark", toolchain)
            cmd = qemu_command(core, probe.elf, toolchain)
            cmd += ["-plugin", f"{plugin},out={marks_file},mark=0x{mark:x}"]
            subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
            _, marks = read_marks(marks_file)
            layers = _layer_counts(marks, ops)
    flash_sections = (
        "isr_vector",
        "text",
        "model",
        "rodata",
        "ARM.exidx",
        "init_array",
        "fini_array",
        "data",
    )
    total = sum(sections.get(f".{s}", 0) for s in flash_sections)
    constants = sections.get(CONSTANTS_SECTION, 0)
    ram_used = sections.get(".data", 0) + sections.get(".bss", 0) + run.stack_used + run.heap_used
    m = profile.memory
    budget = {
        "flash_budget": m.flash_budget_bytes,
        "ram_budget": m.ram_budget_bytes,
        "flash_used": total,
        "ram_used": ram_used,
        "fits": (m.flash_budget_bytes is None or total <= m.flash_budget_bytes)
        and (m.ram_budget_bytes is None or ram_used <= m.ram_budget_bytes),
    }
    return StandaloneEmulation(
        bundle=str(b.folder),
        target=profile.name,
        core=core.name,
        machine=core.qemu_machine,
        board=target_board.describe(chosen, isa),
        bit_exact=run.passed,
        vectors=tuple(dataclasses.asdict(v) for v in run.vectors),
        instructions=run.instructions_per_invoke,
        layer_instructions=layers,
        flash={"total": total, "constants": constants, "code_and_rest": total - constants},
        ram={
            # reserved like the TFLite Micro result's total: statics + heap and stack regions
            "total": sections.get(".data", 0)
            + sections.get(".bss", 0)
            + run.heap_size
            + run.stack_size,
            "arena_used": b.arena_bytes,  # the plan's activation buffer
            "static": sections.get(".data", 0) + sections.get(".bss", 0),
            "arena": b.arena_bytes,  # inputs and outputs included (the in-place entry)
            "io": 0,  # the driver has no I/O buffers of its own: they live in the arena
            "stack_used": run.stack_used,
            "heap_used": run.heap_used,
        },
        budget=budget,
        clock_mhz=profile.clock_mhz,
        cpi=core.cpi,
        seconds={"firmware_build": round(built.seconds, 3), "run": round(run.seconds, 3)},
        warnings=tuple(target_board.notes(chosen, isa, profile.name)),
        instruction_classes=run.classes_per_invoke,
        cycles_estimate=estimate_cycles(run.classes_per_invoke, core.name),
    )

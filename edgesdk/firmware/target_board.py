"""Which qemu board runs a target's firmware (the profile's, or one asked for), the memory map
it links against, the instruction check of a stand-in board, and what a result says about them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import FirmwareError
from edgesdk.firmware.cores import Core, core_for
from edgesdk.firmware.isa import IsaCheck, require_arch
from edgesdk.firmware.linking import MemoryMap, memory_map_for


@dataclass(frozen=True)
class TargetBoard:
    """The core to build for, the board that runs it and the memory map the firmware links in."""

    core: Core
    memory: MemoryMap
    requested: bool  # True: a board asked for instead of the profile's
    profile_note: str  # the profile's emulation_note (about its own board), else ""
    target_flash_origin: int
    target_ram_origin: int


def choose(profile: TargetProfile, board: str | None = None) -> TargetBoard:
    """The target's core on its profile's board, or on ``board`` when one is given.

    Raises:
        FirmwareError: the profile has no [mcu] section, or see :func:`cores.core_for` (an
            unknown board, or one that cannot run the target's code: the message lists those
            that can).
    """
    mcu = profile.mcu
    if mcu is None:
        raise FirmwareError(
            f"Target {profile.name} has no [mcu] section (core, fpu, qemu board): it cannot be "
            "emulated",
            what="target",
            value=profile.name,
        )
    requested = bool(board) and board != mcu.qemu_machine
    if requested:
        core = core_for(mcu.core, mcu.fpu, str(board))
    else:
        core = core_for(mcu.core, mcu.fpu, mcu.qemu_machine, mcu.qemu_cpu)
    memory = memory_map_for(core, profile.memory.flash_bytes, profile.memory.ram_bytes)
    return TargetBoard(
        core=core,
        memory=memory,
        requested=requested,
        profile_note="" if requested else mcu.emulation_note,
        target_flash_origin=mcu.flash_origin,
        target_ram_origin=mcu.ram_origin,
    )


def check_code(chosen: TargetBoard, elf: Path, objdump: Path) -> IsaCheck | None:
    """On a stand-in board (a larger architecture than the code's), prove the linked ELF holds
    only instructions of the code's architecture; None on a board of the code's own.

    Raises:
        FirmwareError: an instruction the target's architecture lacks.
    """
    core = chosen.core
    if not core.stand_in:
        return None
    return require_arch(elf, core.arch, objdump, core.qemu_machine)


def describe(chosen: TargetBoard, isa: IsaCheck | None) -> dict[str, Any]:
    """The board of a result: qemu machine, its CPU and architecture, the code's architecture,
    who chose it, the memory map the firmware was linked for and the instruction check."""
    core, memory = chosen.core, chosen.memory
    memory_map = memory.to_dict()
    memory_map["flash"]["target_origin"] = f"0x{chosen.target_flash_origin:08x}"
    memory_map["ram"]["target_origin"] = f"0x{chosen.target_ram_origin:08x}"
    return {
        "machine": core.qemu_machine,
        "description": core.board_description,
        "cpu": core.qemu_cpu,
        "arch": core.board_arch,
        "code_arch": core.arch,
        "chosen_by": "request" if chosen.requested else "target profile",
        "memory_map": memory_map,
        "isa_check": isa.to_dict() if isa else None,
    }


def notes(chosen: TargetBoard, isa: IsaCheck | None, target: str) -> list[str]:
    """What differs between the emulated board and the target, one sentence each."""
    core, memory = chosen.core, chosen.memory
    out = []
    if chosen.profile_note:
        out.append(f"emulated: {chosen.profile_note}")
    if isa is not None:
        out.append(
            f"{core.qemu_machine}'s {core.qemu_cpu} ({core.board_arch}) ran the {core.arch} code "
            f"built for {core.name}: the same instructions execute (checked: none of the ELF's "
            f"{isa.instructions:,} instructions is outside {core.arch}; unaligned accesses "
            f"trap as on {core.arch})"
        )
    for name, region, limit, size in (
        ("RAM", memory.ram, memory.ram_limit, memory.target_ram),
        ("flash", memory.flash, memory.flash_limit, memory.target_flash),
    ):
        if limit == "board" and size and size > region.size:
            out.append(
                f"{core.qemu_machine} has {region.size:,} B of {name}, {target} {size:,} B: "
                "firmware that fits the target can overflow here"
            )
    if chosen.target_flash_origin != memory.flash.origin:
        out.append(
            f"flash at 0x{memory.flash.origin:08x} on {core.qemu_machine}, at "
            f"0x{chosen.target_flash_origin:08x} on {target}: the firmware is linked for the "
            "emulated address"
        )
    return out

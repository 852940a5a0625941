"""What both firmware engines link against: the board's memory map clipped to the target's, the
linker script, the start-up's I/O choice (UART or semihosting) and the stack and heap sizes.

Neither engine owns this module; `tflm/` and `standalone/` both build on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import FirmwareError
from edgesdk.firmware.cores import Core, MemoryRegion
from edgesdk.firmware.csource import comment_text
from edgesdk.firmware.toolchain import TEMPLATES

DEFAULT_STACK_SIZE = 4096
DEFAULT_HEAP_SIZE = 2048
# boards with at most SMALL_RAM bytes: measured use is about 0.7-1.5 KB of stack and 1,468 B of
# heap (newlib's stdio buffers), so these still leave room
SMALL_RAM = 64 * 1024
SMALL_STACK_SIZE = 2048
SMALL_HEAP_SIZE = 1536

# how the firmware prints and exits (templates/startup.c): through the emulated board's UART
# (what `emulate` builds: qemu runs without semihosting), or through semihosting (librdimon:
# a user's board under a debugger)
UART_SPECS = "--specs=nosys.specs"
SEMIHOSTING_SPECS = "--specs=rdimon.specs"

_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")  # GNU ld's message


def uart_make_vars(core: Core) -> tuple[str, ...]:
    """make variables that build a project's startup.c for ``core``'s emulated board."""
    return (f"IO_DEFINES={' '.join(core.io_defines)}", f"IO_SPECS={UART_SPECS}")


@dataclass(frozen=True)
class MemoryMap:
    """The linker script's memories: the emulated board's, clipped to the target's sizes."""

    flash: MemoryRegion
    ram: MemoryRegion
    stack_size: int
    heap_size: int
    note: str
    board: str = ""  # the qemu board whose memories these are
    flash_limit: str = "board"  # what set the flash size: "target" (its size) or "board"
    ram_limit: str = "board"
    target_flash: int | None = None  # the target's own sizes (None: not known)
    target_ram: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Origins (hex), sizes in bytes and what limited each, as results report them."""

        def region(r: MemoryRegion, limit: str, target: int | None) -> dict[str, Any]:
            return {"origin": f"0x{r.origin:08x}", "bytes": r.size, "limited_by": limit,
                    "target_bytes": target}  # fmt: skip

        return {
            "board": self.board,
            "flash": region(self.flash, self.flash_limit, self.target_flash),
            "ram": region(self.ram, self.ram_limit, self.target_ram),
            "stack_bytes": self.stack_size,
            "heap_bytes": self.heap_size,
        }

    def overflow_error(self, linker_stderr: str, core: str) -> FirmwareError | None:
        """The one-line error for a linker's "region overflowed" messages, or None.

        It names the region, the bytes missing, the size it had and where that size comes from
        (the target's, or a board with less memory than the target).
        """
        overflow = _OVERFLOW.findall(linker_stderr)
        if not overflow:
            return None
        regions = {
            "FLASH": (self.flash.size, self.flash_limit, self.target_flash),
            "RAM": (self.ram.size, self.ram_limit, self.target_ram),
        }
        parts = []
        for region, n in dict(overflow).items():
            size, limit, target = regions.get(region, (None, "", None))
            if limit == "board" and target:
                whose = f"{self.board}'s {region}; the target has {target}"
            elif limit == "target":
                whose = f"the target's {region}"
            else:
                whose = f"{self.board}'s {region}" if self.board else region
            parts.append(f"{region} overflowed by {n} bytes (has {size}: {whose})")
        return FirmwareError(
            f"Firmware for {core} does not fit: {', '.join(parts)}; "
            f"stack {self.stack_size} B, heap {self.heap_size} B"
        )


def memory_map(
    core: Core,
    flash_budget: int | None = None,
    ram_budget: int | None = None,
    stack_size: int = DEFAULT_STACK_SIZE,
    heap_size: int = DEFAULT_HEAP_SIZE,
) -> MemoryMap:
    """The board's memories, each no larger than the target's size (when one is given).

    The linker then refuses firmware that would not fit the target, not only the emulator.
    """
    flash = MemoryRegion(core.flash.origin, min(core.flash.size, flash_budget or core.flash.size))
    ram = MemoryRegion(core.ram.origin, min(core.ram.size, ram_budget or core.ram.size))
    note = (
        f"{core.qemu_machine} flash {core.flash.size} B / RAM {core.ram.size} B, "
        f"target flash {flash_budget} B / RAM {ram_budget} B: using the smaller of each"
    )
    for what, value in (("stack", stack_size), ("heap", heap_size)):
        if value <= 0 or value % 8:
            raise FirmwareError(f"Invalid {what} size {value} (must be a positive multiple of 8)")

    def limit(board_size: int, target: int | None) -> str:
        return "target" if target and target <= board_size else "board"

    return MemoryMap(
        flash=flash,
        ram=ram,
        stack_size=stack_size,
        heap_size=heap_size,
        note=note,
        board=core.qemu_machine,
        flash_limit=limit(core.flash.size, flash_budget),
        ram_limit=limit(core.ram.size, ram_budget),
        target_flash=flash_budget,
        target_ram=ram_budget,
    )


def memory_map_for(core: Core, flash_bytes: int | None, ram_bytes: int | None) -> MemoryMap:
    """The board's memories within a target's flash and RAM, with a tighter stack and heap
    where the RAM is small (e.g. the micro:bit's 16 KB)."""
    small = min(core.ram.size, ram_bytes or core.ram.size) <= SMALL_RAM
    return memory_map(
        core,
        flash_bytes,
        ram_bytes,
        SMALL_STACK_SIZE if small else DEFAULT_STACK_SIZE,
        SMALL_HEAP_SIZE if small else DEFAULT_HEAP_SIZE,
    )


def linker_script(model_symbol: str, memory: MemoryMap) -> str:
    """linker.ld for ``memory``, keeping ``model_symbol`` (the model's constants) in flash."""

    template = (TEMPLATES / "linker.ld.in").read_text()
    values = {
        "MEMORY_NOTE": comment_text(memory.note),
        "FLASH_ORIGIN": f"0x{memory.flash.origin:08x}",
        "FLASH_LENGTH": str(memory.flash.size),
        "RAM_ORIGIN": f"0x{memory.ram.origin:08x}",
        "RAM_LENGTH": str(memory.ram.size),
        "STACK_SIZE": str(memory.stack_size),
        "HEAP_SIZE": str(memory.heap_size),
        "MODEL_SYMBOL": model_symbol,
    }
    unknown = set(re.findall(r"@([A-Z_]+)@", template)) - set(values)
    if unknown:
        raise FirmwareError(f"linker.ld.in has placeholders edgesdk does not fill: {unknown}")
    # one pass: a value (the note holds a profile's name) is never read as a placeholder
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


# config.mk / Makefile lines of a user project: semihosting by default (a board under a
# debugger), a UART on request (what `edgesdk emulate` uses for qemu's boards)
IO_LINES = (
    "# Output through semihosting (librdimon; run under a debugger). To print through a UART",
    "# instead: IO_DEFINES=-DEDGESDK_IO_UART plus the UART kind (-DEDGESDK_UART_CMSDK_APB or",
    f"# -DEDGESDK_UART_NRF51) and -DEDGESDK_UART_BASE=<address>, and IO_SPECS={UART_SPECS}",
    "IO_DEFINES ?=",
    f"IO_SPECS ?= {SEMIHOSTING_SPECS}",
)


def profile_memory_map(
    profile: TargetProfile, flash_origin: int, ram_origin: int, stack_size: int, heap_size: int
) -> MemoryMap:
    """The memories of a user's board as its profile gives them (no emulated board involved)."""
    return MemoryMap(
        flash=MemoryRegion(flash_origin, profile.memory.flash_bytes or 0),
        ram=MemoryRegion(ram_origin, profile.memory.ram_bytes),
        stack_size=stack_size,
        heap_size=heap_size,
        note=f"{profile.name}: flash and RAM as its profile gives them",
    )

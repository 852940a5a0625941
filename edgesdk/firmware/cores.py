"""Cortex-M cores and the qemu boards that emulate them, as data: compiler flags per core and
FPU, each board's CPU, architecture, memory map and UART, which boards may run which code, and
the cycles-per-instruction factor behind latency estimates."""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.errors import FirmwareError


@dataclass(frozen=True)
class MemoryRegion:
    """One memory of a board: where it starts and how many bytes it has."""

    origin: int
    size: int


@dataclass(frozen=True)
class Uart:
    """The UART an emulated board's firmware prints through (qemu's first serial port)."""

    kind: str  # a key of UART_KINDS
    base: int

    @property
    def defines(self) -> tuple[str, ...]:
        """The -D flags that make templates/startup.c print through this UART."""
        return (
            "-DEDGESDK_IO_UART",
            f"-D{UART_KINDS[self.kind]}",
            f"-DEDGESDK_UART_BASE=0x{self.base:08x}u",
        )


# UART kind -> the startup.c define that selects its driver
UART_KINDS: dict[str, str] = {
    "cmsdk-apb": "EDGESDK_UART_CMSDK_APB",  # Arm CMSDK APB UART: DATA +0, STATE +4, CTRL +8
    "nrf51": "EDGESDK_UART_NRF51",  # Nordic nRF51: STARTTX task, TXD register, TXDRDY event
}


@dataclass(frozen=True)
class Board:
    """A qemu board edgesdk runs firmware on: its CPU, memories and the UART of its serial
    port 0."""

    description: str
    cpu: str  # qemu's -cpu: the only one qemu accepts for this board
    arch: str  # the architecture that CPU implements: armv6-m, armv7-m, armv7e-m
    fpu: str  # as a profile's mcu.fpu: none, fpv4-sp-d16
    flash: MemoryRegion
    ram: MemoryRegion
    uart: Uart


@dataclass(frozen=True)
class Core:
    """How to compile for one core (with its FPU) and which qemu board runs it."""

    name: str  # e.g. cortex-m4f, cortex-m0plus: also names the cached TFLite Micro library
    cpu_flags: tuple[str, ...]
    cmsis_defines: tuple[str, ...]
    qemu_machine: str
    qemu_cpu: str
    flash: MemoryRegion  # the emulated board's
    ram: MemoryRegion
    uart: Uart  # the emulated board's: the firmware's output
    cpi: float  # cycles per executed instruction: an estimate (see CPI_SOURCES)
    arch: str  # the architecture the code is built for (-mcpu): armv6-m, armv7e-m
    board_arch: str  # the architecture of the board's CPU: equal, or a superset (STAND_INS)
    board_description: str

    @property
    def hard_float(self) -> bool:
        return "-mfloat-abi=hard" in self.cpu_flags

    @property
    def stand_in(self) -> bool:
        """True when the board's CPU implements a larger architecture than the code's (an
        ARMv7-M core running ARMv6-M code): the ELF is checked and unaligned accesses trap."""
        return self.board_arch != self.arch

    @property
    def io_defines(self) -> tuple[str, ...]:
        """The -D flags of templates/startup.c for this board: its UART, and on a stand-in
        board the start-up that makes unaligned accesses fault as on the code's architecture."""
        trap = ("-DEDGESDK_TRAP_UNALIGNED",) if self.stand_in else ()
        return (*self.uart.defines, *trap)


@dataclass(frozen=True)
class Compiler:
    """Compiler flags and CMSIS defines for a core + FPU."""

    name: str
    cpu_flags: tuple[str, ...]
    cmsis_defines: tuple[str, ...]
    arch: str  # armv6-m, armv7e-m: what the code may contain
    fpu: str  # none, fpv4-sp-d16


_M4_HEADER = '-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM4.h"'

# (profile mcu.core, mcu.fpu) -> how to compile. ARMCM0/ARMCM0plus make TFLite Micro's
# micro_time.cc skip the DWT cycle counter, which v6-M cores lack.
COMPILERS: dict[tuple[str, str], Compiler] = {
    ("cortex-m0", "none"): Compiler(
        "cortex-m0",
        ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-mlittle-endian"),
        ("-DARMCM0",),
        "armv6-m",
        "none",
    ),
    ("cortex-m0plus", "none"): Compiler(
        "cortex-m0plus",
        ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft", "-mlittle-endian"),
        ("-DARMCM0plus",),
        "armv6-m",
        "none",
    ),
    ("cortex-m4", "fpv4-sp-d16"): Compiler(
        "cortex-m4f",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-mlittle-endian"),
        ("-DARMCM4", "-DCPU_M4=1", _M4_HEADER),
        "armv7e-m",
        "fpv4-sp-d16",
    ),
    # no device header: the TFLite Micro kit ships only ARMCM4's, and release builds (what
    # emulate and export-c --firmware use) never read the DWT cycle counter it is for
    ("cortex-m7", "fpv5-d16"): Compiler(
        "cortex-m7",
        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-mlittle-endian"),
        ("-DARMCM7_DP",),
        "armv7e-m",
        "fpv5-d16",
    ),
}

_KIB, _MIB = 1024, 1024 * 1024

# qemu 7.2 boards verified to run edgesdk firmware (../shared/recipes/cortex-m-qemu). The UART
# is the one qemu connects to its first serial port (hw/arm/nrf51_soc.c, hw/arm/mps2.c).
MACHINES: dict[str, Board] = {
    # BBC micro:bit (nRF51): 256 KB flash, 16 KB RAM; qemu has no M0+ model, its M0 runs
    # ARMv6-M code, which is what an M0+ executes
    "microbit": Board(
        "BBC micro:bit (nRF51, Cortex-M0)",
        "cortex-m0",
        "armv6-m",
        "none",
        MemoryRegion(0x00000000, 256 * _KIB),
        MemoryRegion(0x20000000, 16 * _KIB),
        Uart("nrf51", 0x40002000),
    ),
    # Arm MPS2 AN385 (Cortex-M3, no FPU): 4 MB SSRAM at 0 stands in for flash, 4 MB RAM at
    # 0x20000000 (hw/arm/mps2.c, the same map as the AN386's); UART0
    "mps2-an385": Board(
        "Arm MPS2 AN385 (Cortex-M3)",
        "cortex-m3",
        "armv7-m",
        "none",
        MemoryRegion(0x00000000, 4 * _MIB),
        MemoryRegion(0x20000000, 4 * _MIB),
        Uart("cmsdk-apb", 0x40004000),
    ),
    # Arm MPS2 AN386 (Cortex-M4F): 4 MB SSRAM at 0 stands in for flash, 4 MB RAM; UART0
    "mps2-an386": Board(
        "Arm MPS2 AN386 (Cortex-M4F)",
        "cortex-m4",
        "armv7e-m",
        "fpv4-sp-d16",
        MemoryRegion(0x00000000, 4 * _MIB),
        MemoryRegion(0x20000000, 4 * _MIB),
        Uart("cmsdk-apb", 0x40004000),
    ),
    # Arm MPS2 AN500 (Cortex-M7, double-precision FPU): the AN385/AN386 memory map and UART0
    "mps2-an500": Board(
        "Arm MPS2 AN500 (Cortex-M7)",
        "cortex-m7",
        "armv7e-m",
        "fpv5-d16",
        MemoryRegion(0x00000000, 4 * _MIB),
        MemoryRegion(0x20000000, 4 * _MIB),
        Uart("cmsdk-apb", 0x40004000),
    ),
}

# code's architecture -> the larger architectures whose boards may run it in its place: every
# instruction of the smaller one runs unchanged (the same instructions execute, so the count is
# the same), edgesdk checks the linked ELF for instructions the smaller one lacks (isa.py) and
# the start-up makes unaligned accesses fault, as ARMv6-M always does (startup.c)
STAND_INS: dict[str, tuple[str, ...]] = {
    "armv6-m": ("armv7-m", "armv7e-m"),
}


def runs_on(compiler: Compiler, board: Board) -> bool:
    """Whether ``board`` can run code built by ``compiler`` (same architecture, or a stand-in
    for it; the board has the code's FPU, if it uses one)."""
    arch_ok = board.arch == compiler.arch or board.arch in STAND_INS.get(compiler.arch, ())
    return arch_ok and compiler.fpu in ("none", board.fpu)


def boards_for(compiler: Compiler) -> tuple[str, ...]:
    """The names of the boards that can run ``compiler``'s code."""
    return tuple(name for name, board in MACHINES.items() if runs_on(compiler, board))


# Cycles per instruction used to turn an instruction count into an ESTIMATED latency of
# TFLite Micro's reference kernels. qemu counts instructions exactly and models no timing.
CPI: dict[str, float] = {  # by the code's core: the target's, whichever board runs it
    "cortex-m0": 1.85,
    "cortex-m0plus": 1.85,
    "cortex-m4f": 1.7,
    "cortex-m7": 1.7,
}
CPI_SOURCES: dict[str, str] = {
    "cortex-m4f": (
        "calibrated on one published figure: TFLite Micro person_detection, reference kernels, "
        "NUCLEO-F413ZH (Cortex-M4F) 13.0 s (Samsung/ONE issue 7598), vs 355.7 M instructions "
        "of a look-alike here; 1.7% low if that build kept TFLite Micro's debug checks, 2.2x "
        "low if it was a release build (not stated); fully-connected models about 27% lower"
    ),
    "cortex-m0": (
        "assumption, not calibrated (no published reference-kernel figure found): the "
        "Cortex-M0 TRM's cycle table over the measured instruction mix of conv models, "
        "single-cycle multiplier, no flash wait states"
    ),
    "cortex-m0plus": "assumption, as cortex-m0 (same ARMv6-M cycle counts for these mixes)",
    "cortex-m7": (
        "assumption, as cortex-m4f (not calibrated: no published reference-kernel figure "
        "found; the M7 issues up to two instructions per cycle, so it is likely lower, while "
        "flash wait states and cache misses on a real board add cycles)"
    ),
}


def compiler_for(core: str, fpu: str) -> Compiler:
    """Compiler flags for a profile's core and FPU.

    Raises:
        FirmwareError: edgesdk has no verified flags for it (the message lists those it has).
    """
    compiler = COMPILERS.get((core, fpu))
    if compiler is None:
        known = ", ".join(f"{c} (fpu {f})" for c, f in COMPILERS)
        raise FirmwareError(
            f"No firmware build for core {core} with fpu {fpu} (supported: {known})",
            what="mcu.core",
            value=core,
        )
    return compiler


def core_for(core: str, fpu: str, machine: str, qemu_cpu: str = "") -> Core:
    """The Core for a profile's ``[mcu]`` section (or a board asked for instead of the
    profile's), to build for and run under qemu.

    Args:
        core, fpu: what the code is built for (the target's, never the board's).
        machine: the qemu board; its CPU may implement a larger architecture (STAND_INS).
        qemu_cpu: the profile's ``mcu.qemu_cpu``; empty: the board's.

    Raises:
        FirmwareError: no compiler data for that core and FPU, a board edgesdk has not
            verified, a CPU the board does not have, or a board that cannot run the code (the
            message lists the boards that can).
    """
    compiler = compiler_for(core, fpu)
    if not machine:
        raise FirmwareError(
            f"{core} is not emulated: no qemu board for it (emulated boards: "
            f"{', '.join(MACHINES)})",
            what="mcu.qemu_machine",
        )
    if machine not in MACHINES:
        raise FirmwareError(
            f"Unknown qemu board {machine!r} (verified boards: {', '.join(MACHINES)})",
            what="mcu.qemu_machine",
            value=machine,
            allowed=list(MACHINES),
        )
    board = MACHINES[machine]
    if qemu_cpu and qemu_cpu != board.cpu:
        raise FirmwareError(
            f"Invalid mcu.qemu_cpu={qemu_cpu!r} for board {machine} (must be {board.cpu!r}, "
            "the only CPU qemu gives that board)",
            what="mcu.qemu_cpu",
            value=qemu_cpu,
            allowed=[board.cpu],
        )
    if not runs_on(compiler, board):
        able = boards_for(compiler)
        raise FirmwareError(
            f"Board {machine} ({board.description}, {board.arch}, fpu {board.fpu}) cannot run "
            f"code for {compiler.name} ({compiler.arch}, fpu {compiler.fpu}) (boards that can: "
            f"{', '.join(able) or 'none'})",
            what="board",
            value=machine,
            allowed=list(able),
        )
    return Core(
        name=compiler.name,
        cpu_flags=compiler.cpu_flags,
        cmsis_defines=compiler.cmsis_defines,
        qemu_machine=machine,
        qemu_cpu=board.cpu,
        flash=board.flash,
        ram=board.ram,
        uart=board.uart,
        cpi=CPI[compiler.name],
        arch=compiler.arch,
        board_arch=board.arch,
        board_description=board.description,
    )

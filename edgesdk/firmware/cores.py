"""Cortex-M cores and the qemu boards that emulate them, as data: compiler flags per core and
FPU, each board's memory map and UART, and the cycles-per-instruction factor behind latency
estimates."""

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
    """A qemu board edgesdk runs firmware on: its memories and the UART of its serial port 0."""

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

    @property
    def hard_float(self) -> bool:
        return "-mfloat-abi=hard" in self.cpu_flags


@dataclass(frozen=True)
class Compiler:
    """Compiler flags and CMSIS defines for a core + FPU."""

    name: str
    cpu_flags: tuple[str, ...]
    cmsis_defines: tuple[str, ...]


_M4_HEADER = '-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="ARMCM4.h"'

# (profile mcu.core, mcu.fpu) -> how to compile. ARMCM0/ARMCM0plus make TFLite Micro's
# micro_time.cc skip the DWT cycle counter, which v6-M cores lack.
COMPILERS: dict[tuple[str, str], Compiler] = {
    ("cortex-m0", "none"): Compiler(
        "cortex-m0",
        ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft", "-mlittle-endian"),
        ("-DARMCM0",),
    ),
    ("cortex-m0plus", "none"): Compiler(
        "cortex-m0plus",
        ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft", "-mlittle-endian"),
        ("-DARMCM0plus",),
    ),
    ("cortex-m4", "fpv4-sp-d16"): Compiler(
        "cortex-m4f",
        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-mlittle-endian"),
        ("-DARMCM4", "-DCPU_M4=1", _M4_HEADER),
    ),
}

_KIB, _MIB = 1024, 1024 * 1024

# qemu 7.2 boards verified to run edgesdk firmware (../shared/recipes/cortex-m-qemu). The UART
# is the one qemu connects to its first serial port (hw/arm/nrf51_soc.c, hw/arm/mps2.c).
MACHINES: dict[str, Board] = {
    # BBC micro:bit (nRF51): 256 KB flash, 16 KB RAM; qemu has no M0+ model, its M0 runs
    # ARMv6-M code, which is what an M0+ executes
    "microbit": Board(
        MemoryRegion(0x00000000, 256 * _KIB),
        MemoryRegion(0x20000000, 16 * _KIB),
        Uart("nrf51", 0x40002000),
    ),
    # Arm MPS2 AN386 (Cortex-M4F): 4 MB SSRAM at 0 stands in for flash, 4 MB RAM; UART0
    "mps2-an386": Board(
        MemoryRegion(0x00000000, 4 * _MIB),
        MemoryRegion(0x20000000, 4 * _MIB),
        Uart("cmsdk-apb", 0x40004000),
    ),
}

# Cycles per instruction used to turn an instruction count into an ESTIMATED latency of
# TFLite Micro's reference kernels. qemu counts instructions exactly and models no timing.
CPI: dict[str, float] = {
    "cortex-m0": 1.85,
    "cortex-m0plus": 1.85,
    "cortex-m4f": 1.7,
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


def core_for(core: str, fpu: str, machine: str, qemu_cpu: str) -> Core:
    """The Core for a profile's ``[mcu]`` section, to build for and run under qemu.

    Raises:
        FirmwareError: no compiler data for that core and FPU, or a board edgesdk has not
            verified (the message lists what is supported).
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
    return Core(
        name=compiler.name,
        cpu_flags=compiler.cpu_flags,
        cmsis_defines=compiler.cmsis_defines,
        qemu_machine=machine,
        qemu_cpu=qemu_cpu,
        flash=board.flash,
        ram=board.ram,
        uart=board.uart,
        cpi=CPI[compiler.name],
    )

"""``export-c --engine standalone --firmware``: a self-checking firmware project for the
profile's core (Makefile, the test driver, start-up and a linker script for the profile's
memory map), the files the emulation builds; arm-none-eabi-gcc only, no TFLite Micro."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ExportError
from edgesdk.firmware.linking import IO_LINES
from edgesdk.firmware.standalone.firmware import (
    C_FLAGS,
    CONSTANTS_SECTION,
    LD_FLAGS,
    StandaloneBundle,
    driver,
)

README = """# Firmware for {name} on {target} ({core})

Written by `edgesdk export-c` (standalone engine, firmware project). A self-checking firmware:
`main.c` writes every test vector of the bundle (the folder above) into the model's static
buffer through the in-place entry (`{name}_input0()` ..., `{name}_invoke_in_place()`), compares
every output byte with LiteRT's reference kernels' outputs and prints PASS/FAIL per vector
through semihosting; it returns non-zero on a mismatch. No TFLite Micro, no interpreter.

    make                 # arm-none-eabi-gcc on PATH, or make CC=/path/to/arm-none-eabi-gcc

Compiled with `-Wall -Wextra -Werror`. The model's RAM is one static buffer of {arena} bytes
(inputs and outputs included). `linker.ld` follows the profile's memory map (flash {flash} B at
{flash_origin}, RAM {ram} B at {ram_origin}); `startup.c` is a generic Cortex-M start-up
(vector table, .data/.bss, FPU): a board that needs a boot stage (e.g. the RP2040's boot2)
needs its SDK's start-up instead. Output goes through semihosting, so run it under a debugger.
The Makefile's IO_DEFINES and IO_SPECS switch it to a UART instead: that is how `edgesdk emulate ..`
builds the same files for qemu-system-arm, which it starts without semihosting.
"""


def makefile(bundle: StandaloneBundle, cpu_flags: tuple[str, ...], core: str) -> str:
    """A plain Makefile: one compile-and-link of main.c, startup.c and the model's C."""
    define = f'-DEDGESDK_CONST_SECTION=__attribute__((section("{CONSTANTS_SECTION}")))'
    return "\n".join(
        [
            f"# Written by edgesdk for {core}: the standalone engine's self-checking firmware.",
            "CC := arm-none-eabi-gcc",
            "SIZE := $(patsubst %gcc,%size,$(CC))",
            "OUT ?= build",
            f"CPU_FLAGS := {' '.join(cpu_flags)}",
            f"CFLAGS := {' '.join(C_FLAGS)}",
            "# the weights, biases and tables in their own section (kept in flash by linker.ld)",
            f"DEFINES := {shlex.quote(define)}",
            *IO_LINES,
            f"LDFLAGS := -T linker.ld {' '.join(LD_FLAGS)} $(IO_SPECS) -Wl,-Map=$(OUT)/firmware.map",
            f"SRCS := main.c startup.c ../{bundle.name}_model.c",
            f"HDRS := ../{bundle.name}_model.h ../{bundle.name}_test_vectors.h",
            "",
            "all: $(OUT)/firmware.elf",
            "",
            "$(OUT)/firmware.elf: $(SRCS) $(HDRS) linker.ld Makefile | $(OUT)",
            "\t$(CC) $(CPU_FLAGS) $(CFLAGS) $(DEFINES) $(IO_DEFINES) -I.. $(SRCS) $(LDFLAGS) -o $@",
            "\t$(SIZE) $@",
            "",
            "$(OUT):",
            "\tmkdir -p $@",
            "",
            "clean:",
            "\trm -rf $(OUT)",
            "",
            ".PHONY: all clean",
            "",
        ]
    )


def check_firmware_target(profile: TargetProfile) -> tuple[Any, int, tuple[str, ...]]:
    """The profile's [mcu] section, flash size and CPU flags, checked before anything is
    written.

    Raises:
        ExportError: the profile has no [mcu] section, or a core without verified flags.
    """
    from edgesdk.errors import FirmwareError
    from edgesdk.firmware.cores import compiler_for

    mcu = profile.mcu
    if mcu is None or not profile.memory.flash_bytes:
        raise ExportError(
            f"Target {profile.name} has no [mcu] section and flash size (core, fpu, memory "
            "origins): no firmware project can be written for it",
            what="target",
            value=profile.name,
        )
    try:
        return mcu, profile.memory.flash_bytes, compiler_for(mcu.core, mcu.fpu).cpu_flags
    except FirmwareError as e:
        raise ExportError(str(e), what="target", value=profile.name) from e


def write_project(bundle: StandaloneBundle, profile: TargetProfile, folder: Path) -> Path:
    """``folder`` (the bundle's ``firmware/``): Makefile, main.c, startup.c, linker.ld, README."""
    from edgesdk.firmware import linking
    from edgesdk.firmware.toolchain import TEMPLATES

    mcu, _, cpu_flags = check_firmware_target(profile)
    small = profile.memory.ram_bytes <= linking.SMALL_RAM
    memory = linking.profile_memory_map(
        profile,
        mcu.flash_origin,
        mcu.ram_origin,
        linking.SMALL_STACK_SIZE if small else linking.DEFAULT_STACK_SIZE,
        linking.SMALL_HEAP_SIZE if small else linking.DEFAULT_HEAP_SIZE,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Makefile").write_text(makefile(bundle, cpu_flags, mcu.core))
    (folder / "main.c").write_text(driver(bundle))
    (folder / "startup.c").write_text((TEMPLATES / "startup.c").read_text())
    (folder / "linker.ld").write_text(linking.linker_script(bundle.model_symbol, memory))
    (folder / "README.md").write_text(
        README.format(
            name=bundle.name,
            target=profile.name,
            core=mcu.core,
            arena=bundle.arena_bytes,
            flash=memory.flash.size,
            flash_origin=f"0x{memory.flash.origin:08x}",
            ram=memory.ram.size,
            ram_origin=f"0x{memory.ram.origin:08x}",
        )  # fmt: skip
    )
    return folder

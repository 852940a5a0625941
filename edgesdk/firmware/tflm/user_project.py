"""The firmware project `export-c --firmware` writes for the user's own TFLite Micro checkout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ExportError
from edgesdk.firmware.linking import IO_LINES, MemoryMap, linker_script, profile_memory_map
from edgesdk.firmware.tflm.project import Bundle, _bundle_config, _make_list, _write_if_changed
from edgesdk.firmware.toolchain import TEMPLATES


def _user_config_mk(bundle: Bundle, core: Any) -> str:
    """config.mk for a user's own TFLite Micro checkout (no edgesdk cache involved)."""
    from edgesdk.firmware.tflm.library import (
        BUILD_TYPE_DEFINES,
        CMSIS_NN_DEFINES,
        COMMON_DEFINES,
        CXX_FLAGS,
        INCLUDE_DIRS,
        BuildType,
        KernelSet,
    )

    lang = "c" if bundle.model_source.suffix == ".c" else "cc"
    cmsis_nn = bundle.kernels is KernelSet.CMSIS_NN
    kernels = (*COMMON_DEFINES, *(CMSIS_NN_DEFINES if cmsis_nn else ()))
    defines = (*kernels, *core.cmsis_defines, *BUILD_TYPE_DEFINES[BuildType.RELEASE])
    which = (
        "CMSIS-NN kernels: TFLM_LIB built with OPTIMIZED_KERNEL_DIR=cmsis_nn and these DEFINES"
        if cmsis_nn
        else "reference kernels: TFLM_LIB built without OPTIMIZED_KERNEL_DIR"
    )
    includes = " ".join(f"-I$(TFLM_SRC)/{d}" if d != "." else "-I$(TFLM_SRC)" for d in INCLUDE_DIRS)
    lines = [
        f"# Written by edgesdk for {core.name}. Set TFLM_SRC to your TFLite Micro checkout (with",
        "# its third-party downloads) and TFLM_LIB to libtensorflow-microlite.a built for this core",
        "# with the same DEFINES and CPU_FLAGS, e.g. make TFLM_SRC=~/tflite-micro TFLM_LIB=...",
        f"# Kernels: {which} (export-c's `kernels` option chooses).",
        "TFLM_SRC ?= $(error set TFLM_SRC to a TFLite Micro source folder)",
        "TFLM_LIB ?= $(error set TFLM_LIB to libtensorflow-microlite.a built for this core)",
        "CC := arm-none-eabi-gcc",
        "CXX := arm-none-eabi-g++",
        f"CPU_FLAGS := {_make_list(core.cpu_flags)}",
        f"DEFINES := {_make_list(defines)}",
        f"CXX_FLAGS := {_make_list(('-Os', *CXX_FLAGS))}",
        f"INCLUDES := {includes}",
        "BUNDLE_DIR := ..",
        f"MODEL_SRC := ../{bundle.model_source.name}",
        f"MODEL_LANG := {lang}",
        *IO_LINES,
    ]
    return "\n".join(lines) + "\n"


USER_README = """# Firmware for {name} on {target} ({core})

Written by `edgesdk export-c` (firmware project). A self-checking firmware: `main.cc` runs every test
vector of the bundle (the folder above) through TFLite Micro and compares every output byte
with what the host TFLite Micro interpreter gave; it prints PASS/FAIL per vector through
semihosting and returns non-zero on a mismatch.

    make TFLM_SRC=/path/to/tflite-micro TFLM_LIB=/path/to/libtensorflow-microlite.a

The library must be built for this core with the DEFINES and CPU_FLAGS of `config.mk`.
`linker.ld` follows the profile's memory map (flash {flash} B at {flash_origin}, RAM {ram} B at
{ram_origin}); `startup.c` is a generic Cortex-M start-up (vector table, .data/.bss, FPU):
a board that needs a boot stage (e.g. the RP2040's boot2) needs its SDK's start-up instead.
Output goes through semihosting, so run it under a debugger. `config.mk`'s IO_DEFINES and
IO_SPECS switch it to a UART instead: that is how `edgesdk emulate ..` runs the same files under
qemu-system-arm, which it starts without semihosting.
"""


def write_user_project(
    bundle: Bundle, core: Any, memory: MemoryMap, folder: Path, target: str
) -> Path:
    """A firmware project in ``folder`` that a user builds with arm-none-eabi-gcc and their
    own TFLite Micro checkout; the bundle stays where it is (``..``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "main.cc", "startup.c"):
        _write_if_changed(folder / name, (TEMPLATES / name).read_text())
    _write_if_changed(folder / "bundle_config.h", _bundle_config(bundle, None))
    _write_if_changed(folder / "config.mk", _user_config_mk(bundle, core))
    _write_if_changed(folder / "linker.ld", linker_script(bundle.model_symbol, memory))
    readme = USER_README.format(
        name=bundle.name,
        target=target,
        core=core.name,
        flash=memory.flash.size,
        flash_origin=f"0x{memory.flash.origin:08x}",
        ram=memory.ram.size,
        ram_origin=f"0x{memory.ram.origin:08x}",
    )
    _write_if_changed(folder / "README.md", readme)
    return folder


def write_for_profile(bundle: Bundle, profile: TargetProfile) -> None:
    """``bundle.folder/firmware/``: a project the user builds with their own TFLite Micro."""
    from edgesdk.firmware.cores import compiler_for

    mcu = profile.mcu
    if mcu is None:
        raise ExportError(
            f"Target {profile.name} has no [mcu] section (core, fpu, memory origins): no "
            "firmware project can be written for it",
            what="target",
            value=profile.name,
        )
    compiler = compiler_for(mcu.core, mcu.fpu)
    memory = profile_memory_map(profile, mcu.flash_origin, mcu.ram_origin, 4096, 2048)
    write_user_project(bundle, compiler, memory, bundle.folder / "firmware", profile.name)

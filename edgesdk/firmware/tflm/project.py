"""Write and build a firmware project (Makefile, startup, linker script, test driver) for a C bundle."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import file_mode
from edgesdk.errors import FirmwareError
from edgesdk.firmware.cores import Core
from edgesdk.firmware.linking import UART_SPECS, MemoryMap, linker_script, memory_map
from edgesdk.firmware.tflm.library import KernelSet, TflmLibrary
from edgesdk.firmware.toolchain import TEMPLATES, Toolchain

ELF_NAME = "firmware.elf"
MAP_NAME = "firmware.map"


@dataclass(frozen=True)
class ExportEstimate:
    """What ``export-c`` estimated for the bundle (its export.json), to compare with the target."""

    target: str
    arena_measured_host: int
    arena_declared: int
    flash_used: int
    flash_budget: int | None
    ram_used: int
    ram_budget: int | None


@dataclass(frozen=True)
class Bundle:
    """An edgesdk TFLite Micro C bundle and the names of its symbols."""

    folder: Path
    name: str
    model_source: Path
    headers: tuple[Path, ...]  # model, op resolver, test vectors
    arena_size: int
    input_count: int
    output_count: int
    vector_count: int
    estimate: ExportEstimate | None
    kernels: KernelSet | None = None  # the kernel set export-c chose (None: not recorded)
    registrations: tuple[dict[str, Any], ...] = ()  # per op: int8-only or generic
    layers: tuple[tuple[int, str], ...] = ()  # (op index, op) in the order TFLite Micro runs them

    @property
    def camel(self) -> str:
        return "".join(p[:1].upper() + p[1:] for p in self.name.split("_"))

    @property
    def model_symbol(self) -> str:
        return f"g_{self.name}_model_data"


@dataclass(frozen=True)
class FirmwareProject:
    """A written firmware project folder."""

    folder: Path
    bundle: Bundle
    core: Core
    library: TflmLibrary
    memory: MemoryMap
    arena_size: int  # the tensor arena the firmware declares

    @property
    def elf(self) -> Path:
        return self.folder / "build" / ELF_NAME

    @property
    def map_file(self) -> Path:
        return self.folder / "build" / MAP_NAME


@dataclass(frozen=True)
class FirmwareBuild:
    """A linked firmware image and how long compiling and linking took."""

    elf: Path
    map_file: Path
    seconds: float


def _read_estimate(folder: Path) -> ExportEstimate | None:
    from edgesdk.firmware.bundle_input import field, read_export_json

    d = read_export_json(folder)
    if d is None:
        return None
    where = folder / "export.json"
    return ExportEstimate(
        target=field(d, "target", "str", where),
        arena_measured_host=field(d, "arena_measured.total", "int", where),
        arena_declared=field(d, "arena_declared", "int", where),
        flash_used=field(d, "flash.used", "int", where),
        flash_budget=field(d, "flash.budget", "int?", where),
        ram_used=field(d, "ram.used", "int", where),
        ram_budget=field(d, "ram.budget", "int?", where),
    )


def _layers(meta: dict[str, Any], where: Path) -> tuple[tuple[int, str], ...]:
    from edgesdk.firmware.bundle_input import read_layers

    return read_layers(meta, where)


def _recorded_kernels(meta: dict[str, Any], where: Path) -> KernelSet | None:
    from edgesdk.firmware.bundle_input import field
    from edgesdk.firmware.tflm.library import parse_kernels

    return parse_kernels(field(meta, "kernels", "str?", where), where)


def _recorded_registrations(meta: dict[str, Any], where: Path) -> tuple[dict[str, Any], ...]:
    from edgesdk.firmware.bundle_input import field, shown

    entries = field(meta, "registrations", "list", where) if "registrations" in meta else []
    for i, e in enumerate(entries):
        if not (
            isinstance(e, dict)
            and isinstance(e.get("op"), str)
            and len(e["op"]) <= 64
            and isinstance(e.get("int8_only"), bool)
        ):
            raise FirmwareError(
                f"Invalid registrations[{i}]={shown(e)} in {where} (must be an object with "
                "op, an op name, and int8_only, true or false)",
                what="registrations",
            )
    return tuple({"op": e["op"], "int8_only": e["int8_only"]} for e in entries)


def read_bundle(folder: Path) -> Bundle:
    """The bundle's files and figures, from its export.json (nothing is read back out of its C).

    The bundle may come from anyone: its name must be a C identifier, its files must be
    inside its folder, and export.json's fields are type-checked.

    Raises:
        FirmwareError: no or a malformed export.json, files missing or outside the bundle, a
            name that is not a C identifier, or the bundle has no test vectors.
    """
    from edgesdk.firmware.bundle_input import (
        bundle_file,
        check_name,
        field,
        read_export_json,
        read_io,
        read_text,
    )

    folder = Path(folder).expanduser().resolve()
    where = folder / "export.json"
    meta = read_export_json(folder, required=True) or {}
    name = check_name(meta.get("name"), str(where))
    files = field(meta, "files", "list", where)
    sources = [f"{name}_model.{ext}" for ext in ("cc", "c") if f"{name}_model.{ext}" in files]
    resolver, vectors_name = f"{name}_op_resolver.h", f"{name}_test_vectors.h"
    if not sources or resolver not in files:
        raise FirmwareError(f"{where} lists no {name}_model.cc/.c or {resolver}")
    vector_count = field(meta, "test_vectors", "int", where)
    if vector_count < 1 or vectors_name not in files:
        raise FirmwareError(
            f"{folder} has no {vectors_name}: the firmware needs test vectors "
            "(export the bundle again with test vectors, e.g. 4)"
        )
    inputs, outputs = read_io(meta, where)
    model_h, source, resolver_h, vectors = (
        bundle_file(folder, n) for n in (f"{name}_model.h", sources[0], resolver, vectors_name)
    )
    bundle = Bundle(
        folder=folder,
        name=name,
        model_source=source,
        headers=(model_h, resolver_h, vectors),
        arena_size=field(meta, "arena_declared", "int", where),
        input_count=len(inputs),
        output_count=len(outputs),
        vector_count=vector_count,
        estimate=_read_estimate(folder),
        kernels=_recorded_kernels(meta, where),
        registrations=_recorded_registrations(meta, where),
        layers=_layers(meta, where),
    )
    vectors_h = read_text(vectors)
    for kind, count in (("Input", bundle.input_count), ("Output", bundle.output_count)):
        for i in range(count):  # the driver's names: a clear line instead of a compile error
            if not re.search(rf"\bk{bundle.camel}Test{kind}{i}\s*\[", vectors_h):
                raise FirmwareError(f"{vectors} lacks k{bundle.camel}Test{kind}{i}")
    return bundle


def _write_if_changed(path: Path, text: str) -> None:
    """Write atomically, and not at all when unchanged (keeps make's timestamps)."""
    if path.is_file() and path.read_text() == text:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    os.fchmod(fd, file_mode())
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _bundle_config(bundle: Bundle, arena_size: int | None) -> str:
    c = bundle.camel
    # emulate: a number (export.json's figure, or one asked for); a user's project: the
    # header's constant, which the user may change
    arena = str(arena_size) if arena_size else f"k{c}TensorArenaSize"
    inputs = ", ".join(f"EDGESDK_VECTORS(k{c}TestInput{i})" for i in range(bundle.input_count))
    outputs = ", ".join(f"EDGESDK_VECTORS(k{c}TestOutput{i})" for i in range(bundle.output_count))
    return (
        f"// Generated by edgesdk for bundle {bundle.name}: the names main.cc uses.\n"
        "#pragma once\n"
        f'#include "{bundle.name}_model.h"\n'
        f'#include "{bundle.name}_op_resolver.h"\n'
        f'#include "{bundle.name}_test_vectors.h"\n\n'
        f'#define BUNDLE_NAME "{bundle.name}"\n'
        f"#define BUNDLE_MODEL_DATA {bundle.model_symbol}\n"
        f"#define BUNDLE_ARENA_SIZE {arena}\n"
        f"#define BUNDLE_VECTOR_COUNT k{c}TestVectorCount\n"
        f"#define BUNDLE_REGISTER_OPS {c}RegisterOps\n"
        f"using BundleOpResolver = {c}OpResolver;\n"
        f"#define BUNDLE_INPUT_VECTORS {inputs}\n"
        f"#define BUNDLE_OUTPUT_VECTORS {outputs}\n"
    )


def _make_list(flags: tuple[str, ...]) -> str:
    return " ".join(shlex.quote(f) for f in flags)


def _config_mk(
    bundle: Bundle, lib: TflmLibrary, toolchain: Toolchain, core: Core, layer_marks: bool = False
) -> str:
    lang = "c" if bundle.model_source.suffix == ".c" else "cc"
    lines = [
        "# Generated by edgesdk: toolchain, flags and library of this firmware.",
        f"# TFLM library {lib.key} ({lib.core}, {lib.build_type.value})",
        f"CC := {toolchain.gcc}",
        f"CXX := {toolchain.gxx}",
        f"CPU_FLAGS := {_make_list(lib.cpu_flags)}",
        f"DEFINES := {_make_list(lib.defines)}",
        f"CXX_FLAGS := {_make_list(lib.cxx_flags)}",
        f"INCLUDES := {_make_list(tuple(f'-I{d}' for d in lib.include_dirs))}",
        f"TFLM_LIB := {lib.path}",
        "BUNDLE_DIR := bundle",
        f"MODEL_SRC := bundle/{bundle.model_source.name}",
        f"MODEL_LANG := {lang}",
        f"# output: {core.qemu_machine}'s UART ({core.uart.kind} at 0x{core.uart.base:08x}), "
        "no semihosting"
        + ("; unaligned accesses trap as on the code's architecture" if core.stand_in else ""),
        f"IO_DEFINES := {_make_list(core.io_defines)}",
        f"IO_SPECS := {UART_SPECS}",
    ]
    if layer_marks:  # emulate's per-layer probe (templates/layer_graph.cc)
        lines.append("LAYER_MARKS := 1")
    return "\n".join(lines) + "\n"


def write_project(
    bundle: Bundle,
    core: Core,
    library: TflmLibrary,
    out_dir: Path,
    toolchain: Toolchain,
    memory: MemoryMap | None = None,
    arena_size: int | None = None,
    layer_marks: bool = False,
) -> FirmwareProject:
    """Write a firmware project for ``bundle`` on ``core`` into ``out_dir``.

    The bundle's files are copied into ``out_dir/bundle`` so the project stands alone.

    Args:
        arena_size: tensor arena bytes instead of the bundle's recorded figure.
        layer_marks: the per-layer probe: a mark before and after every op's Invoke.

    Raises:
        FirmwareError: the library was built for another core.
    """
    if library.core != core.name:
        raise FirmwareError(f"TFLM library {library.key} is for {library.core}, not {core.name}")
    memory = memory or memory_map(core)
    if arena_size is not None and (arena_size <= 0 or arena_size % 16):
        raise FirmwareError(f"Invalid arena size {arena_size} (must be a positive multiple of 16)")
    folder = Path(out_dir).expanduser().resolve()
    (folder / "bundle").mkdir(parents=True, exist_ok=True)
    for src in (bundle.model_source, *bundle.headers):
        _write_if_changed(folder / "bundle" / src.name, src.read_text())
    for name in ("Makefile", "main.cc", "startup.c", *(("layer_graph.cc",) if layer_marks else ())):
        _write_if_changed(folder / name, (TEMPLATES / name).read_text())
    _write_if_changed(
        folder / "bundle_config.h", _bundle_config(bundle, arena_size or bundle.arena_size)
    )
    _write_if_changed(
        folder / "config.mk", _config_mk(bundle, library, toolchain, core, layer_marks)
    )
    _write_if_changed(folder / "linker.ld", linker_script(bundle.model_symbol, memory))
    return FirmwareProject(
        folder=folder,
        bundle=bundle,
        core=core,
        library=library,
        memory=memory,
        arena_size=arena_size or bundle.arena_size,
    )


def build_firmware(
    project: FirmwareProject, toolchain: Toolchain, jobs: int = 2, timeout: float = 600.0
) -> FirmwareBuild:
    """Compile and link the project with make.

    Raises:
        FirmwareError: compile or link errors (a memory overflow is named as such) or a timeout.
    """
    # -f: edgesdk's Makefile, whatever else the folder holds (make would prefer a GNUmakefile)
    cmd = [str(toolchain.make), "-C", str(project.folder), "-f", "Makefile", f"-j{jobs}"]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise FirmwareError(f"Firmware build timed out after {timeout:.0f} s") from e
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        overflow = project.memory.overflow_error(proc.stderr, project.core.name)
        if overflow is not None:
            raise overflow
        raise FirmwareError(
            f"Firmware build failed (make exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return FirmwareBuild(elf=project.elf, map_file=project.map_file, seconds=seconds)


def clean(project: FirmwareProject) -> None:
    """Remove the project's build folder (the next build starts from scratch)."""
    shutil.rmtree(project.folder / "build", ignore_errors=True)

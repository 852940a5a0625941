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
from edgesdk.firmware.cores import Core, MemoryRegion
from edgesdk.firmware.tflm_library import TflmLibrary
from edgesdk.firmware.toolchain import TEMPLATES, Toolchain

DEFAULT_STACK_SIZE = 4096
DEFAULT_HEAP_SIZE = 2048
# boards with at most SMALL_RAM bytes: measured use is about 0.7-1.5 KB of stack and 1,468 B of
# heap (newlib's stdio buffers), so these still leave room
SMALL_RAM = 64 * 1024
SMALL_STACK_SIZE = 2048
SMALL_HEAP_SIZE = 1536
ELF_NAME = "firmware.elf"
MAP_NAME = "firmware.map"
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

    @property
    def camel(self) -> str:
        return "".join(p[:1].upper() + p[1:] for p in self.name.split("_"))

    @property
    def model_symbol(self) -> str:
        return f"g_{self.name}_model_data"


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


def _enum_value(text: str, name: str, where: Path) -> int:
    m = re.search(rf"\b{re.escape(name)}\s*=\s*(\d+)", text)
    if not m:
        raise FirmwareError(f"{where} does not define {name} (not an edgesdk bundle?)")
    return int(m.group(1))


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


def read_bundle(folder: Path) -> Bundle:
    """Find the bundle's files and read its arena size, I/O counts and test vector count.

    The bundle may come from anyone: its name (from its file names) must be a C identifier,
    its files must be inside its folder, and export.json's fields are type-checked.

    Raises:
        FirmwareError: files are missing or outside the bundle, a name that is not a C
            identifier, a malformed export.json, or the bundle has no test vectors.
    """
    from edgesdk.firmware.bundle_input import bundle_file, check_name, read_text

    folder = Path(folder).expanduser().resolve()
    headers = sorted(folder.glob("*_model.h"))
    if len(headers) != 1:
        raise FirmwareError(
            f"{folder} must hold exactly one <name>_model.h, found "
            f"{[h.name for h in headers][:5]!r}"
        )
    name = check_name(headers[0].name[: -len("_model.h")], f"the file name {headers[0].name!r}")
    sources = [
        f"{name}_model.{ext}" for ext in ("cc", "c") if (folder / f"{name}_model.{ext}").exists()
    ]
    resolver, vectors_name = f"{name}_op_resolver.h", f"{name}_test_vectors.h"
    if not sources or not (folder / resolver).exists():
        raise FirmwareError(f"{folder} lacks {name}_model.cc/.c or {resolver}")
    if not (folder / vectors_name).exists():
        raise FirmwareError(
            f"{folder} has no {vectors_name}: the firmware needs test vectors "
            "(export the bundle again with test vectors, e.g. 4)"
        )
    model_h, source, resolver_h, vectors = (
        bundle_file(folder, n) for n in (headers[0].name, sources[0], resolver, vectors_name)
    )
    camel = "".join(p[:1].upper() + p[1:] for p in name.split("_"))
    model_text, vectors_h = read_text(model_h), read_text(vectors)
    bundle = Bundle(
        folder=folder,
        name=name,
        model_source=source,
        headers=(model_h, resolver_h, vectors),
        arena_size=_enum_value(model_text, f"k{camel}TensorArenaSize", model_h),
        input_count=_enum_value(model_text, f"k{camel}InputCount", model_h),
        output_count=_enum_value(model_text, f"k{camel}OutputCount", model_h),
        vector_count=_enum_value(vectors_h, f"k{camel}TestVectorCount", vectors),
        estimate=_read_estimate(folder),
    )
    for kind, count in (("Input", bundle.input_count), ("Output", bundle.output_count)):
        for i in range(count):
            if not re.search(rf"\bk{camel}Test{kind}{i}\s*\[", vectors_h):
                raise FirmwareError(f"{vectors} lacks k{camel}Test{kind}{i}")
    if bundle.vector_count < 1:
        raise FirmwareError(f"{vectors} holds no test vectors")
    return bundle


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


def _config_mk(bundle: Bundle, lib: TflmLibrary, toolchain: Toolchain, core: Core) -> str:
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
    return "\n".join(lines) + "\n"


def _linker_script(bundle: Bundle, memory: MemoryMap) -> str:
    from edgesdk.firmware.csource import comment_text

    template = (TEMPLATES / "linker.ld.in").read_text()
    values = {
        "MEMORY_NOTE": comment_text(memory.note),
        "FLASH_ORIGIN": f"0x{memory.flash.origin:08x}",
        "FLASH_LENGTH": str(memory.flash.size),
        "RAM_ORIGIN": f"0x{memory.ram.origin:08x}",
        "RAM_LENGTH": str(memory.ram.size),
        "STACK_SIZE": str(memory.stack_size),
        "HEAP_SIZE": str(memory.heap_size),
        "MODEL_SYMBOL": bundle.model_symbol,
    }
    unknown = set(re.findall(r"@([A-Z_]+)@", template)) - set(values)
    if unknown:
        raise FirmwareError(f"linker.ld.in has placeholders edgesdk does not fill: {unknown}")
    # one pass: a value (the note holds a profile's name) is never read as a placeholder
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template)


def write_project(
    bundle: Bundle,
    core: Core,
    library: TflmLibrary,
    out_dir: Path,
    toolchain: Toolchain,
    memory: MemoryMap | None = None,
    arena_size: int | None = None,
) -> FirmwareProject:
    """Write a firmware project for ``bundle`` on ``core`` into ``out_dir``.

    The bundle's files are copied into ``out_dir/bundle`` so the project stands alone.

    Args:
        arena_size: tensor arena bytes instead of the bundle's constant (which export-c
            measured on a 64-bit host, so it is larger than a 32-bit target needs).

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
    for name in ("Makefile", "main.cc", "startup.c"):
        _write_if_changed(folder / name, (TEMPLATES / name).read_text())
    _write_if_changed(folder / "bundle_config.h", _bundle_config(bundle, arena_size))
    _write_if_changed(folder / "config.mk", _config_mk(bundle, library, toolchain, core))
    _write_if_changed(folder / "linker.ld", _linker_script(bundle, memory))
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

"""Split a firmware image's flash into model, TFLite Micro and the rest, and its RAM into arena, statics, heap, stack."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edgesdk.errors import FirmwareError
from edgesdk.firmware.toolchain import Toolchain

# output sections of the edgesdk linker script that occupy flash (.data: its load image)
FLASH_SECTIONS = (
    ".isr_vector",
    ".text",
    ".model",
    ".rodata",
    ".ARM.extab",
    ".ARM.exidx",
    ".preinit_array",
    ".init_array",
    ".fini_array",
    ".data",
)
ARENA_SYMBOLS = ("_ZL7g_arena", "g_arena")
TFLM_ARCHIVE = "libtensorflow-microlite.a"
# input archive/object -> component name
COMPONENTS = {
    TFLM_ARCHIVE: "tflm",
    "libc_nano.a": "newlib-nano",
    "libc.a": "newlib",
    "libm.a": "libm",
    "librdimon_nano.a": "semihosting (librdimon)",
    "librdimon.a": "semihosting (librdimon)",
    "libgcc.a": "libgcc",
    "libstdc++_nano.a": "libstdc++",
    "libsupc++_nano.a": "libstdc++",
    "main.o": "test driver (main.o)",
    "startup.o": "startup.o",
    "model.o": "model.o",
}


@dataclass(frozen=True)
class FlashSplit:
    """Flash bytes: model array, TFLite Micro library, everything else (itemised in ``rest_detail``)."""

    total: int
    model: int
    tflm: int
    rest: int
    rest_detail: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RamSplit:
    """RAM bytes reserved by the image: arena, other statics (.data + .bss), heap and stack regions."""

    total: int
    arena: int
    other_static: int
    heap: int
    stack: int


@dataclass(frozen=True)
class SizeReport:
    """Where the flash and RAM of one firmware image go."""

    flash: FlashSplit
    ram: RamSplit
    sections: tuple[tuple[str, int], ...]


def section_sizes(elf: Path, toolchain: Toolchain) -> dict[str, int]:
    """``arm-none-eabi-size -A``: output section -> bytes."""
    proc = subprocess.run(
        [str(toolchain.size), "-A", str(elf)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise FirmwareError(f"arm-none-eabi-size cannot read {elf}: {proc.stderr.strip()}")
    sizes = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def symbol_sizes(elf: Path, toolchain: Toolchain) -> dict[str, int]:
    """``arm-none-eabi-nm --size-sort -S``: symbol -> bytes."""
    proc = subprocess.run(
        [str(toolchain.nm), "--size-sort", "-S", str(elf)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise FirmwareError(f"arm-none-eabi-nm cannot read {elf}: {proc.stderr.strip()}")
    sizes = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            sizes[parts[3]] = int(parts[1], 16)
    return sizes


_OUT_SECTION = re.compile(
    r"^(\.[\w.$+-]+)(?:\s+0x[0-9a-f]+\s+0x[0-9a-f]+(?:\s+load address 0x[0-9a-f]+)?)?\s*$"
)
_IN_NAME = re.compile(r"^ ([.\w$+-]+|COMMON)\s*$")
_IN_SECTION = re.compile(r"^ ([.\w$+-]+|COMMON)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
_FILL = re.compile(r"^ \*fill\*\s+0x[0-9a-f]+\s+0x([0-9a-f]+)")


def _component(source: str) -> str:
    m = re.search(r"([^/(]+\.a)\(", source)
    name = m.group(1) if m else source.rsplit("/", 1)[-1]
    return COMPONENTS.get(name, name)


def map_contributions(map_file: Path) -> Counter[tuple[str, str]]:
    """Bytes per (output section, component) from a GNU ld map file; padding as ``*fill*``."""
    text = Path(map_file).read_text()
    marker = "Linker script and memory map"
    if marker not in text:
        raise FirmwareError(f"{map_file} is not a GNU ld map file")
    acc: Counter[tuple[str, str]] = Counter()
    out_section = None
    pending = None
    for line in text.split(marker, 1)[1].splitlines():
        m = _OUT_SECTION.match(line)
        if m:
            out_section, pending = m.group(1), None
            continue
        if out_section is None:
            continue
        m = _FILL.match(line)
        if m:
            acc[(out_section, "*fill*")] += int(m.group(1), 16)
            continue
        m = _IN_NAME.match(line)
        if m:
            pending = m.group(1)
            continue
        m = _IN_SECTION.match(line)
        if m and (m.group(1) or pending):
            acc[(out_section, _component(m.group(4)))] += int(m.group(3), 16)
        pending = None
    return acc


def measure(elf: Path, map_file: Path, toolchain: Toolchain, model_symbol: str) -> SizeReport:
    """Flash and RAM split of a firmware image built from an edgesdk firmware project.

    Args:
        model_symbol: the bundle's model array (``g_<name>_model_data``); alignment padding
            around it counts as "the rest".

    Raises:
        FirmwareError: the tools cannot read the image, or it lacks the model/arena sections.
    """
    sec = section_sizes(elf, toolchain)
    syms = symbol_sizes(elf, toolchain)
    flash_total = sum(sec.get(s, 0) for s in FLASH_SECTIONS)
    model = syms.get(model_symbol, 0)
    if model == 0 or sec.get(".model", 0) < model:
        raise FirmwareError(
            f"{elf} has no model array {model_symbol} in a .model section "
            "(was it linked with edgesdk's linker script?)"
        )
    arena = next((syms[s] for s in ARENA_SYMBOLS if s in syms), None)
    if arena is None:
        raise FirmwareError(f"{elf} has no tensor arena symbol ({', '.join(ARENA_SYMBOLS)})")
    flash_by_component: Counter[str] = Counter()
    for (out_section, component), size in map_contributions(map_file).items():
        if out_section in FLASH_SECTIONS:
            flash_by_component[component] += size
    flash_by_component["model.o"] -= model  # the model array is reported on its own
    for name in [k for k, v in flash_by_component.items() if v == 0]:
        del flash_by_component[name]
    tflm = flash_by_component.pop("tflm", 0)
    rest = flash_total - model - tflm
    attributed = sum(flash_by_component.values())
    detail = sorted(flash_by_component.items(), key=lambda kv: -kv[1])
    if rest != attributed:  # negative: duplicate strings the linker merged (.rodata.str*)
        detail.append(("linker: merged strings / unlisted bytes", rest - attributed))
    static = sec.get(".data", 0) + sec.get(".bss", 0)
    heap, stack = sec.get(".heap", 0), sec.get(".stack", 0)
    return SizeReport(
        flash=FlashSplit(
            total=flash_total, model=model, tflm=tflm, rest=rest, rest_detail=tuple(detail)
        ),
        ram=RamSplit(
            total=static + heap + stack,
            arena=arena,
            other_static=static - arena,
            heap=heap,
            stack=stack,
        ),
        sections=tuple(sorted(sec.items())),
    )

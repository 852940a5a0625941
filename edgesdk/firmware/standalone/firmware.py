"""Firmware for a standalone-engine bundle: a C test driver, start-up and linker script, built
with arm-none-eabi-gcc (no TFLite Micro) and run under qemu-system-arm like the TFLM firmware."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.errors import FirmwareError
from edgesdk.firmware.csource import camel
from edgesdk.firmware.engines import Engine

ENGINE = Engine.STANDALONE.value

# The same -Os and CPU flags as the TFLite Micro firmware's C sources and library (release).
C_FLAGS = ("-std=c99", "-Os", "-g", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
           "-fdata-sections")  # fmt: skip
LD_FLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections")  # + the I/O specs
CONSTANTS_SECTION = ".model"  # the linker script's own section: size -A shows it apart
C_IO_TYPES = {"int8": "int8_t", "float32": "float"}  # export.json's dtype -> the C type


@dataclass(frozen=True)
class StandaloneBundle:
    """A folder written by ``export-c --engine standalone`` with test vectors."""

    folder: Path
    name: str
    inputs: tuple[tuple[str, int], ...]  # (C type, elements) per input
    outputs: tuple[tuple[str, int], ...]
    vectors: int
    arena_bytes: int
    target: str | None
    layers: tuple[tuple[int, str], ...] = ()  # (op index, op) per layer, from export.json
    kernel_set: str = "portable"  # compiled into the C (bundles from before kernel sets: portable)

    @property
    def model_symbol(self) -> str:  # the linker script keeps .rodata.<symbol> with the model
        return f"{self.name}_constants"


def read_bundle(folder: Path) -> StandaloneBundle:
    """Read a standalone bundle's names and sizes.

    The bundle may come from anyone: export.json's name must be a C identifier, its files
    must be inside the folder, and every field used is type-checked.

    Raises:
        FirmwareError: not a standalone bundle, a malformed export.json or header, a file
            outside the bundle, or no test vectors.
    """
    from edgesdk.firmware.bundle_input import (
        bundle_file,
        check_name,
        field,
        read_export_json,
        read_io,
        read_layers,
    )

    folder = Path(folder).expanduser().resolve()
    where = folder / "export.json"
    meta = read_export_json(folder, required=True) or {}
    if meta.get("engine") != ENGINE:
        raise FirmwareError(
            f"{folder} is not a standalone-engine bundle (engine {str(meta.get('engine'))[:40]!r})"
        )
    name = check_name(meta.get("name"), str(where))
    vectors = field(meta, "test_vectors", "int", where)
    if vectors < 1 or not (folder / f"{name}_test_vectors.h").exists():
        raise FirmwareError(
            f"{folder} has no {name}_test_vectors.h: export it again with test vectors"
        )
    for f in (f"{name}_model.h", f"{name}_test_vectors.h", f"{name}_model.c"):
        bundle_file(folder, f)  # compiled from the bundle's folder: inside it, regular files
    inputs, outputs = read_io(meta, where)

    def io(tensors: tuple[Any, ...], kind: str) -> tuple[tuple[str, int], ...]:
        out = []
        for i, t in enumerate(tensors):
            if t.dtype not in C_IO_TYPES:
                raise FirmwareError(
                    f"Invalid io.{kind}[{i}].dtype={t.dtype!r} in {where} (the standalone engine's "
                    f"I/O is one of: {', '.join(C_IO_TYPES)})",
                    what=f"io.{kind}",
                )
            out.append((C_IO_TYPES[t.dtype], t.elements))
        return tuple(out)

    return StandaloneBundle(
        folder, name, io(inputs, "inputs"), io(outputs, "outputs"), vectors,
        field(meta, "ram.arena_peak", "int", where), field(meta, "target", "str?", where),
        read_layers(meta, where), field(meta, "kernel_set", "str?", where) or "portable",
    )  # fmt: skip


def driver(b: StandaloneBundle) -> str:
    """main.c: runs every test vector through the in-place entry (inputs written into the
    model's buffer, outputs read from it: no I/O buffers of its own, so the static RAM is the
    plan's), compares every output byte, prints the same protocol as the TFLite Micro driver
    (see ../templates/main.cc) so the same parser reads it."""
    c = camel(b.name)
    decl = [f"/* in place: I/O lives in {b.name}'s buffer ({b.arena_bytes} bytes) */"]
    load = "\n".join(
        f"    memcpy({b.name}_input{i}(), k{c}TestInput{i}[v], sizeof k{c}TestInput{i}[v]);"
        for i in range(len(b.inputs))
    )
    checks = []
    for o, (ctype, n) in enumerate(b.outputs):
        checks.append(
            f"    {{\n      const {ctype} *out = {b.name}_output{o}();\n"
            f"      for (e = 0; e < {n}; ++e) {{\n"
            f"        if (memcmp(&out[e], &k{c}TestOutput{o}[v][e], sizeof out[0]) == 0) continue;\n"
            f"        if (mismatches++ == 0) {{ bad_output = {o}; bad_index = e; "
            f"got = (long)out[e]; expected = (long)k{c}TestOutput{o}[v][e]; }}\n      }}\n    }}"
        )
    return (
        "/* edgesdk standalone-engine test driver (generated): same output protocol as main.cc. */\n"
        "#include <stdint.h>\n#include <stdio.h>\n#include <string.h>\n#include <stddef.h>\n\n"
        f'#include "{b.name}_model.h"\n#include "{b.name}_test_vectors.h"\n\n'
        "extern uint32_t edgesdk_stack_used(void);\nextern void *_sbrk(ptrdiff_t increment);\n"
        "extern char end, __HeapLimit, __StackLimit, __StackTop;\n"
        '__attribute__((noinline, used)) void edgesdk_icount_mark(void) { __asm volatile("" ::: "memory"); }\n\n'
        + "\n".join(decl)
        + "\n\nint main(void) {\n  int v, failed = 0;\n"
        f'  printf("edgesdk-fw 1 model={b.name} vectors=%d arena_size=%u\\n", (int)k{c}TestVectorCount, '
        f"(unsigned){b.name.upper()}_ARENA_BYTES);\n"
        "  edgesdk_icount_mark();\n  edgesdk_icount_mark();\n"
        f'  printf("arena_used=%u\\n", (unsigned){b.name.upper()}_ARENA_BYTES);\n'
        f"  for (v = 0; v < k{c}TestVectorCount; ++v) {{\n"
        "    unsigned mismatches = 0, e, bad_index = 0;\n    int bad_output = -1;\n"
        "    long got = 0, expected = 0;\n"
        f"{load}\n    edgesdk_icount_mark();\n    {b.name}_invoke_in_place();\n    edgesdk_icount_mark();\n"
        + "\n".join(checks)
        + "\n    if (bad_output >= 0) {\n      ++failed;\n"
        '      printf("vector %d FAIL output=%d index=%u got=%ld expected=%ld mismatches=%u\\n", v, '
        "bad_output, bad_index, got, expected, mismatches);\n"
        '    } else {\n      printf("vector %d PASS\\n", v);\n    }\n  }\n'
        "  {\n    unsigned heap_used = (unsigned)((char *)_sbrk(0) - &end);\n"
        '    printf("heap_used=%u heap_size=%u stack_used=%u stack_size=%u\\n", heap_used, '
        "(unsigned)(&__HeapLimit - &end), (unsigned)edgesdk_stack_used(), "
        "(unsigned)(&__StackTop - &__StackLimit));\n  }\n"
        f'  printf("summary vectors=%d passed=%d failed=%d\\n", (int)k{c}TestVectorCount, '
        f"(int)k{c}TestVectorCount - failed, failed);\n"
        "  return failed ? 1 : 0;\n}\n"
    )


@dataclass(frozen=True)
class Built:
    elf: Path
    map_file: Path
    seconds: float


def build(
    b: StandaloneBundle, core: Any, toolchain: Any, folder: Path, memory: Any,
    layer_marks: bool = False,
) -> Built:  # fmt: skip
    """Write main.c, start-up and linker script into ``folder`` and link firmware.elf.

    ``layer_marks``: call the icount marker before every layer too (per-layer counts).

    Raises:
        FirmwareError: compile or link errors (an overflow names the region).
    """
    from edgesdk.firmware.linking import UART_SPECS, linker_script
    from edgesdk.firmware.toolchain import TEMPLATES

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.c").write_text(driver(b))
    (folder / "startup.c").write_text((TEMPLATES / "startup.c").read_text())
    (folder / "linker.ld").write_text(linker_script(b.model_symbol, memory))
    elf, map_file = folder / "firmware.elf", folder / "firmware.map"
    defines = [f'-DEDGESDK_CONST_SECTION=__attribute__((section("{CONSTANTS_SECTION}")))']
    defines += core.io_defines  # output through the emulated board's UART: no semihosting
    if layer_marks:
        defines.append("-DEDGESDK_LAYER_HOOK(op)=edgesdk_icount_mark()")
    hook = ["-include", str(folder / "hook.h")] if layer_marks else []
    if layer_marks:
        (folder / "hook.h").write_text("void edgesdk_icount_mark(void);\n")
    sources = [folder / "main.c", folder / "startup.c", b.folder / f"{b.name}_model.c"]
    cmd = [str(toolchain.gcc), *core.cpu_flags, *C_FLAGS, *defines, *hook, f"-I{b.folder}",
           *map(str, sources), "-T", str(folder / "linker.ld"), *LD_FLAGS, UART_SPECS,
           f"-Wl,-Map={map_file}", "-o", str(elf)]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        overflow = memory.overflow_error(proc.stderr, core.name)
        if overflow is not None:
            raise overflow
        raise FirmwareError(f"Standalone firmware build failed:\n{proc.stderr[-3000:]}")
    return Built(elf, map_file, time.monotonic() - start)

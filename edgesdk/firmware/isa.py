"""Instructions an architecture lacks, found in a linked ELF's disassembly: what lets a larger
qemu core (an ARMv7-M Cortex-M3) run code built for a smaller one (an ARMv6-M Cortex-M0+)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.errors import FirmwareError

# objdump -d line: address, the encoding (Thumb: one or two halfwords), mnemonic, operands.
# Data in code (literal pools, marked by the compiler's $d mapping symbols) prints as .word /
# .short / .byte and is not an instruction.
_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S+)\s*(.*)$")
_THUMB = re.compile(r"[0-9a-f]{4}(?: [0-9a-f]{4})?")
_FUNCTION = re.compile(r"^[0-9a-f]+ <(.+)>:$")


@dataclass(frozen=True)
class Instruction:
    address: int
    halfwords: tuple[int, ...]  # one (16-bit encoding) or two (32-bit); none: not Thumb
    text: str  # objdump's mnemonic and operands
    function: str


def _armv6m_has(insn: Instruction) -> bool:
    """ARMv6-M (ARM DDI 0419): every 16-bit Thumb encoding of ARMv7-M but CBZ, CBNZ and IT,
    and of the 32-bit ones only BL, MSR, MRS, DMB, DSB, ISB and UDF.W."""
    if len(insn.halfwords) == 1:
        (hw,) = insn.halfwords
        if hw & 0xF500 == 0xB100:  # CBZ, CBNZ: 1011 o0i1 ...
            return False
        return not (hw & 0xFF00 == 0xBF00 and hw & 0x000F)  # IT (mask 0000: NOP, WFI... hints)
    if len(insn.halfwords) != 2:  # not a Thumb encoding at all (A32 code)
        return False
    hw1, hw2 = insn.halfwords
    return (
        (hw1 & 0xF800 == 0xF000 and hw2 & 0xD000 == 0xD000)  # BL
        or (hw1 & 0xFFF0 == 0xF380 and hw2 & 0xFF00 == 0x8800)  # MSR
        or (hw1 == 0xF3EF and hw2 & 0xF000 == 0x8000)  # MRS
        or (hw1 == 0xF3BF and hw2 & 0xFFF0 in (0x8F40, 0x8F50, 0x8F60))  # DSB, DMB, ISB
        or (hw1 & 0xFFF0 == 0xF7F0 and hw2 & 0xF000 == 0xA000)  # UDF.W
    )


# architecture -> whether an instruction belongs to it (a plain table: one row per checkable
# architecture; cores.STAND_INS lets a larger board run only code of these architectures)
CHECKS: dict[str, Callable[[Instruction], bool]] = {
    "armv6-m": _armv6m_has,
}


@dataclass(frozen=True)
class IsaCheck:
    """The linked code checked against the architecture it was built for."""

    arch: str
    instructions: int  # instructions disassembled (all code sections of the ELF)
    outside: tuple[str, ...]  # the first offending ones: "0x1c4 <function>: f852 3f04 ldr.w ..."
    outside_count: int

    @property
    def passed(self) -> bool:
        return self.outside_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "instructions": self.instructions,
            "outside_arch": self.outside_count,
            "first_outside": list(self.outside),
        }


def disassemble(elf: Path, objdump: Path) -> list[Instruction]:
    """Every instruction of ``elf``'s code sections, as arm-none-eabi-objdump -d decodes them.

    Raises:
        FirmwareError: objdump fails.
    """
    proc = subprocess.run(
        [str(objdump), "-d", str(elf)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise FirmwareError(f"objdump cannot disassemble {elf}: {proc.stderr.strip()[:200]}")
    out, function = [], ""
    for line in proc.stdout.splitlines():
        m = _FUNCTION.match(line)
        if m:
            function = m.group(1)
            continue
        m = _LINE.match(line)
        if m is None or m.group(3).startswith("."):  # .word, .short: data, not code
            continue
        encoding = m.group(2)
        # a Thumb encoding is one or two halfwords; anything else (a 32-bit A32 word) is
        # kept as no halfwords, which no architecture check accepts
        halfwords = (
            tuple(int(h, 16) for h in encoding.split()) if _THUMB.fullmatch(encoding) else ()
        )
        text = f"{m.group(3)} {m.group(4)}".strip()
        out.append(Instruction(int(m.group(1), 16), halfwords, text, function))
    return out


def check_elf(elf: Path, arch: str, objdump: Path, keep: int = 5) -> IsaCheck:
    """Check every instruction of ``elf`` against ``arch`` (keeping the first ``keep`` that
    are outside it).

    What is checked is the linked code as the disassembler sees it: an instruction hidden in
    data words (``.word`` in a literal pool) is not. The build flags (-mcpu) are what keep the
    compiler's own code within the architecture; this proves it for the ELF that runs.

    Raises:
        FirmwareError: no check for ``arch``, objdump fails, or the ELF has no code.
    """
    has = CHECKS.get(arch)
    if has is None:
        raise FirmwareError(
            f"No instruction check for architecture {arch!r} (checkable: {', '.join(CHECKS)})",
            what="arch",
            value=arch,
            allowed=list(CHECKS),
        )
    insns = disassemble(elf, objdump)
    if not insns:
        raise FirmwareError(f"objdump found no instructions in {elf}")
    bad = [i for i in insns if not has(i)]
    shown = tuple(
        f"0x{i.address:x} <{i.function}>: "
        + (" ".join(f"{h:04x}" for h in i.halfwords) or "(not Thumb)")
        + f" {i.text}"
        for i in bad[:keep]
    )
    return IsaCheck(arch=arch, instructions=len(insns), outside=shown, outside_count=len(bad))


def require_arch(elf: Path, arch: str, objdump: Path, board: str) -> IsaCheck:
    """:func:`check_elf`, raising when an instruction is outside ``arch``.

    Raises:
        FirmwareError: an instruction ``arch`` lacks (the message names the first, with its
            address and function), or see :func:`check_elf`.
    """
    result = check_elf(elf, arch, objdump)
    if not result.passed:
        raise FirmwareError(
            f"The firmware holds {result.outside_count} instructions {arch} lacks (first: "
            f"{result.outside[0]}): {board} would run them, the target could not",
            what="arch",
            value=arch,
            details={"first_outside": "\n".join(result.outside)},
        )
    return result


# the DSP extension's SIMD multiply-accumulate and packing instructions CMSIS-NN's int8
# kernels are built on (ARMv7E-M, ARMv8-M Mainline with DSP); none exist in ARMv6-M
DSP_SIMD = ("smlad", "smladx", "smlsd", "smuad", "smusd", "sxtb16", "sxtab16", "uxtb16",
            "uxtab16", "qadd16", "qsub16", "sadd16", "ssub16", "ssat16", "pkhbt", "pkhtb")  # fmt: skip


def dsp_instructions(elf: Path, objdump: Path) -> dict[str, int]:
    """How many of each DSP SIMD instruction the linked image holds (by mnemonic; a
    condition or width suffix such as ``.w`` is ignored). Proof that the SIMD path is in."""
    counts: dict[str, int] = {}
    for insn in disassemble(elf, objdump):
        mnemonic = insn.text.split(" ", 1)[0].split(".", 1)[0]
        if mnemonic in DSP_SIMD:
            counts[mnemonic] = counts.get(mnemonic, 0) + 1
    return dict(sorted(counts.items()))

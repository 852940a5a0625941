"""Run firmware under qemu-system-arm with a timeout, count instructions per Invoke(), parse results."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgesdk.errors import FirmwareError
from edgesdk.firmware.cores import Core
from edgesdk.firmware.toolchain import Toolchain

MARK_SYMBOL = "edgesdk_icount_mark"
EXIT_MISMATCH = 1
EXIT_FAULT = 99
EXIT_TIMEOUT = 124  # what `timeout` returns; used for a run that did not finish in time
SETUP_ERRORS = {
    2: "the model's schema version is not the one TFLite Micro expects",
    3: "the op resolver could not register the model's ops",
    4: "AllocateTensors failed (arena too small or an op is missing)",
    5: "the model's inputs/outputs do not match the bundle's test vectors",
    6: "Invoke() failed",
    7: "the heap overflowed its region",
}


@dataclass(frozen=True)
class VectorResult:
    """One test vector: did every output byte match, and if not, where it first differed."""

    index: int
    passed: bool
    output: int | None = None
    element: int | None = None
    got: int | None = None
    expected: int | None = None
    mismatches: int = 0
    instructions: int | None = None  # executed between the markers around Invoke()


@dataclass(frozen=True)
class RunResult:
    """A completed firmware run under qemu."""

    core: str
    machine: str
    exit_code: int
    vectors: tuple[VectorResult, ...]
    arena_size: int
    arena_used: int
    heap_used: int
    heap_size: int
    stack_used: int
    stack_size: int
    total_instructions: int | None
    marker_overhead: int | None  # instructions counted for an empty pair of markers
    seconds: float
    output: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and bool(self.vectors) and all(v.passed for v in self.vectors)

    @property
    def instructions_per_invoke(self) -> tuple[int, ...]:
        return tuple(v.instructions for v in self.vectors if v.instructions is not None)

    def require_pass(self) -> None:
        """Raise FirmwareError naming the first mismatching vector, output and element."""
        if self.passed:
            return
        bad = next((v for v in self.vectors if not v.passed), None)
        if bad is None:
            raise FirmwareError(f"Firmware on {self.core} exited {self.exit_code}")
        raise FirmwareError(
            f"Firmware on {self.core}: test vector {bad.index} output {bad.output} differs at "
            f"index {bad.element} (got {bad.got}, expected {bad.expected}; "
            f"{bad.mismatches} elements differ)"
        )


def symbol_address(elf: Path, symbol: str, toolchain: Toolchain) -> int:
    """Address of ``symbol`` in ``elf`` with the Thumb bit cleared.

    Raises:
        FirmwareError: no such symbol.
    """
    out = subprocess.run(
        [str(toolchain.nm), str(elf)], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == symbol:
            return int(parts[0], 16) & ~1
    raise FirmwareError(f"{elf} has no symbol {symbol}")


def qemu_command(core: Core, elf: Path, toolchain: Toolchain) -> list[str]:
    """qemu-system-arm command line: the core's machine, semihosting on, no display or serial."""
    return [
        str(toolchain.qemu),
        "-M",
        core.qemu_machine,
        "-cpu",
        core.qemu_cpu,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
    ]


_KV = re.compile(r"(\w+)=(-?\w+)")


def _fields(line: str) -> dict[str, str]:
    return dict(_KV.findall(line))


def _read_marks(path: Path) -> tuple[int | None, list[int]]:
    total: int | None = None
    marks: list[int] = []
    if not path.is_file():
        return total, marks
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["total"]:
            total = int(parts[1])
        elif parts[:1] == ["mark"]:
            marks.append(int(parts[2]))
        elif parts[:1] == ["overflow"]:
            raise FirmwareError(f"icount plugin saw {parts[1]} marks, more than it records")
    return total, marks


def parse_output(text: str) -> tuple[dict[str, int], list[VectorResult], list[str]]:
    """Split the firmware's semihosting output into numbers, per-vector results and errors."""
    numbers: dict[str, int] = {}
    vectors: list[VectorResult] = []
    errors: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("vector "):
            parts = line.split()
            index, status = int(parts[1]), parts[2]
            if status == "PASS":
                vectors.append(VectorResult(index=index, passed=True))
            else:
                f = _fields(line)
                vectors.append(
                    VectorResult(
                        index=index,
                        passed=False,
                        output=int(f["output"]),
                        element=int(f["index"]),
                        got=int(f["got"]),
                        expected=int(f["expected"]),
                        mismatches=int(f["mismatches"]),
                    )
                )
        elif line.startswith("error "):
            errors.append(line[len("error ") :])
        elif line.startswith(("edgesdk-fw ", "arena_used=", "heap_used=", "summary ")):
            numbers.update({k: int(v) for k, v in _fields(line).items() if v.lstrip("-").isdigit()})
    return numbers, vectors, errors


# Over 80 lines: each way a firmware run can end (timeout, fault, set-up error, no
# summary, wrong marks) is told apart here, in the order qemu reports them.
def run_firmware(
    elf: Path,
    core: Core,
    toolchain: Toolchain,
    plugin: Path | None = None,
    timeout: float = 120.0,
) -> RunResult:
    """Run ``elf`` on ``core``'s qemu machine; with ``plugin``, count instructions per Invoke().

    A mismatch is a result (``passed`` is False); a hang, a fault, a set-up error or output
    that is not the test driver's is an error.

    Raises:
        FirmwareError: timeout (exit 124), fault (exit 99), set-up error, unparseable output.
    """
    elf = Path(elf)
    cmd = qemu_command(core, elf, toolchain)
    marks_file = None
    if plugin is not None:
        mark = symbol_address(elf, MARK_SYMBOL, toolchain)
        fd, name = tempfile.mkstemp(prefix="edgesdk-icount-", suffix=".txt")
        os.close(fd)
        marks_file = Path(name)
        cmd += ["-plugin", f"{plugin},out={marks_file},mark=0x{mark:x}"]
    start = time.monotonic()
    try:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else ""
            raise FirmwareError(
                f"Firmware on {core.qemu_machine} did not finish within {timeout:.0f} s "
                f"(exit {EXIT_TIMEOUT}: hang or endless loop); output:\n{out[-2000:]}"
            ) from e
        seconds = time.monotonic() - start
        total, marks = _read_marks(marks_file) if marks_file else (None, [])
    finally:
        if marks_file is not None:
            marks_file.unlink(missing_ok=True)
    text = proc.stdout
    rc = proc.returncode
    if rc == EXIT_FAULT or "*** unexpected exception" in text + proc.stderr:
        raise FirmwareError(
            f"Firmware on {core.qemu_machine} faulted (exit {rc}); output:\n"
            f"{(text + proc.stderr)[-2000:]}"
        )
    numbers, vectors, errors = parse_output(text)
    if rc in SETUP_ERRORS or errors:
        detail = "; ".join(errors) or SETUP_ERRORS.get(rc, "")
        raise FirmwareError(
            f"Firmware on {core.qemu_machine} exited {rc}: {SETUP_ERRORS.get(rc, 'error')} "
            f"({detail}); output:\n{text[-2000:]}"
        )
    if rc not in (0, EXIT_MISMATCH) or "summary" not in text or "vectors" not in numbers:
        raise FirmwareError(
            f"Firmware on {core.qemu_machine} exited {rc} without the test driver's summary; "
            f"stdout:\n{text[-2000:]}\nstderr:\n{proc.stderr[-2000:]}"
        )
    if len(vectors) != numbers["vectors"]:
        raise FirmwareError(f"Firmware reported {len(vectors)} of {numbers['vectors']} vectors")
    overhead = None
    if plugin is not None:
        expected_marks = 2 + 2 * len(vectors)
        if len(marks) != expected_marks:
            raise FirmwareError(
                f"icount plugin recorded {len(marks)} marks, expected {expected_marks}"
            )
        overhead = marks[1] - marks[0]
        vectors = [
            dataclasses.replace(v, instructions=marks[3 + 2 * i] - marks[2 + 2 * i])
            for i, v in enumerate(vectors)
        ]
    return RunResult(
        core=core.name,
        machine=core.qemu_machine,
        exit_code=rc,
        vectors=tuple(vectors),
        arena_size=numbers.get("arena_size", 0),
        arena_used=numbers.get("arena_used", 0),
        heap_used=numbers.get("heap_used", 0),
        heap_size=numbers.get("heap_size", 0),
        stack_used=numbers.get("stack_used", 0),
        stack_size=numbers.get("stack_size", 0),
        total_instructions=total,
        marker_overhead=overhead,
        seconds=seconds,
        output=text,
    )

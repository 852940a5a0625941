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
    # the same instructions by class, plus extra counters (cycles.COUNTERS): measured
    instruction_classes: dict[str, int] | None = None


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

    @property
    def classes_per_invoke(self) -> tuple[dict[str, int], ...]:
        """Executed instructions by class per inference (cycles.COUNTERS), per vector."""
        return tuple(v.instruction_classes for v in self.vectors if v.instruction_classes)

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


# qemu's seccomp filter: no new processes (SYS_SYSTEM and friends could not run anything even
# if semihosting were enabled by mistake), no privilege changes, no obsolete system calls.
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"


def qemu_command(core: Core, elf: Path, toolchain: Toolchain) -> list[str]:
    """qemu-system-arm command line for firmware built from an untrusted bundle.

    The board's first serial port (the firmware's UART) is qemu's stdout; the firmware ends the
    run with a system reset request, which -no-reboot turns into qemu's exit. No semihosting
    (firmware could otherwise run host commands and open host files), no default devices and
    no network (the MPS2 boards' Ethernet would get user-mode networking to the host), and
    qemu's sandbox refuses to spawn processes. Run it with stdin from /dev/null: qemu's stdio
    backend would otherwise read a terminal and change its settings.
    """
    return [
        str(toolchain.qemu),
        "-M",
        core.qemu_machine,
        "-cpu",
        core.qemu_cpu,
        "-nodefaults",
        "-nic",
        "none",
        "-display",
        "none",
        "-monitor",
        "none",
        "-chardev",
        "stdio,id=uart,signal=off",
        "-serial",
        "chardev:uart",
        "-no-reboot",
        "-sandbox",
        SANDBOX,
        "-kernel",
        str(elf),
    ]


_KV = re.compile(r"(\w+)=(-?\w+)")


def _fields(line: str) -> dict[str, str]:
    return dict(_KV.findall(line))


def read_marks(path: Path) -> tuple[int | None, list[int]]:
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


def read_class_marks(path: Path) -> list[dict[str, int]]:
    """The plugin's counters by class at each mark ("classes" names them, "cmark I C..." give
    them), in mark order; empty from a plugin that does not count classes."""
    names: list[str] = []
    rows: list[dict[str, int]] = []
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["classes"]:
            names = parts[1:]
        elif parts[:1] == ["cmark"] and len(parts) == 2 + len(names):
            rows.append(dict(zip(names, map(int, parts[2:]), strict=True)))
    return rows


def class_delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Counters executed between two marks."""
    return {name: after[name] - before.get(name, 0) for name in after}


def parse_output(text: str) -> tuple[dict[str, int], list[VectorResult], list[str]]:
    """Split the firmware's UART output into numbers, per-vector results and errors.

    Raises:
        FirmwareError: a result line that is not the test driver's (the output is the
            firmware's, built from a bundle: data to check, never trusted to be well-formed).
    """
    numbers: dict[str, int] = {}
    vectors: list[VectorResult] = []
    errors: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        try:
            if line.startswith("vector "):
                vectors.append(_vector(line))
            elif line.startswith("error "):
                errors.append(line[len("error ") :][:200])
            elif line.startswith(("edgesdk-fw ", "arena_used=", "heap_used=", "summary ")):
                numbers.update(
                    {k: int(v) for k, v in _fields(line).items() if v.lstrip("-").isdigit()}
                )
        except (ValueError, KeyError, IndexError) as e:
            raise FirmwareError(
                f"The firmware printed a line the test driver does not print: {line[:120]!r}"
            ) from e
    return numbers, vectors, errors


def _vector(line: str) -> VectorResult:
    parts = line.split()
    index, status = int(parts[1]), parts[2]
    if status == "PASS":
        return VectorResult(index=index, passed=True)
    if status != "FAIL":
        raise ValueError(status)
    f = _fields(line)
    return VectorResult(
        index=index,
        passed=False,
        output=int(f["output"]),
        element=int(f["index"]),
        got=int(f["got"]),
        expected=int(f["expected"]),
        mismatches=int(f["mismatches"]),
    )


EXIT_LINE = re.compile(r"^edgesdk-exit (-?\d{1,10})$", re.MULTILINE)
EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage", 5: "BusFault", 6: "UsageFault"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(data: bytes) -> str:
    """Bytes from the firmware or qemu as text that is safe on a terminal: control characters
    (escape sequences) become ``\\xNN``; newlines and tabs stay."""
    text = data.decode("utf-8", errors="replace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _log(stdout: str, stderr: str) -> dict[str, str]:
    """The end of the run's output, for ``details`` (shown with --debug)."""
    return {"log": f"firmware output:\n{stdout[-4000:]}\nqemu stderr:\n{stderr[-2000:]}"}


def _fault(text: str) -> str:
    """``unexpected exception 003 (HardFault)`` from the fault handler's line, if there is one."""
    m = re.search(r"\*\*\* unexpected exception (\d{3})", text)
    if not m:
        return "no fault report"
    number = int(m.group(1))
    name = EXCEPTIONS.get(number, "IRQ" if number >= 16 else "exception")
    return f"unexpected exception {m.group(1)} ({name})"


# Over 80 lines: each way a firmware run can end (timeout, qemu failure, fault, set-up error,
# no summary, wrong marks) is told apart here, in the order qemu reports them.
def run_firmware(
    elf: Path,
    core: Core,
    toolchain: Toolchain,
    plugin: Path | None = None,
    timeout: float = 120.0,
) -> RunResult:
    """Run ``elf`` on ``core``'s qemu machine; with ``plugin``, count instructions per Invoke().

    The firmware prints through the board's UART and ends with an ``edgesdk-exit <code>`` line
    (templates/startup.c built with EDGESDK_IO_UART). A mismatch is a result (``passed`` is
    False); a hang, a fault, a set-up error or output that is not the test driver's is an
    error, in one line (the output is in ``details["log"]``).

    Raises:
        FirmwareError: timeout (exit 124), fault (exit 99), set-up error, unparseable output,
            no exit code, or qemu itself failed.
    """
    elf = Path(elf)
    machine = core.qemu_machine
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
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as e:
            out = printable(e.stdout or b"")
            raise FirmwareError(
                f"Firmware on {machine} did not finish within {timeout:.0f} s "
                f"(exit {EXIT_TIMEOUT}: hang or endless loop)",
                details=_log(out, printable(e.stderr or b"")),
            ) from e
        seconds = time.monotonic() - start
        total, marks = read_marks(marks_file) if marks_file else (None, [])
        cmarks = read_class_marks(marks_file) if marks_file else []
    finally:
        if marks_file is not None:
            marks_file.unlink(missing_ok=True)
    text, stderr = printable(proc.stdout), printable(proc.stderr)
    details = _log(text, stderr)
    exits = list(EXIT_LINE.finditer(text))
    if proc.returncode != 0:
        if "qemu: fatal: Lockup" in stderr:  # a fault inside the fault handler
            raise FirmwareError(
                f"Firmware on {machine} faulted (qemu: core lockup)", details=details
            )
        last = (stderr.strip().splitlines() or ["no message"])[-1][:200]
        raise FirmwareError(
            f"qemu-system-arm failed on {machine} (exit {proc.returncode}): {last}",
            details=details,
        )
    if not exits:
        raise FirmwareError(
            f"Firmware on {machine} stopped without reporting an exit code "
            "(no edgesdk-exit line on its UART)",
            details=details,
        )
    rc = int(exits[-1].group(1))
    text = text[: exits[-1].start()]
    if rc == EXIT_FAULT or "*** unexpected exception" in text:
        raise FirmwareError(
            f"Firmware on {machine} faulted (exit {rc}): {_fault(text)}", details=details
        )
    numbers, vectors, errors = parse_output(text)
    if rc in SETUP_ERRORS or errors:
        detail = "; ".join(errors) or SETUP_ERRORS.get(rc, "")
        raise FirmwareError(
            f"Firmware on {machine} exited {rc}: {SETUP_ERRORS.get(rc, 'error')} ({detail})",
            details=details,
        )
    if rc not in (0, EXIT_MISMATCH) or "summary" not in text or "vectors" not in numbers:
        raise FirmwareError(
            f"Firmware on {machine} exited {rc} without the test driver's summary",
            details=details,
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
        classes = len(cmarks) == len(marks)
        vectors = [
            dataclasses.replace(
                v,
                instructions=marks[3 + 2 * i] - marks[2 + 2 * i],
                instruction_classes=class_delta(cmarks[3 + 2 * i], cmarks[2 + 2 * i])
                if classes
                else None,
            )
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

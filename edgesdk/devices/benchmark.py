"""Benchmarks with the self-contained runner, on this machine or on a device over SSH."""

from __future__ import annotations

import json
import posixpath
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.errors import BenchmarkError, EdgeSdkError

RUNNER = Path(__file__).resolve().parent / "runner.py"
RUNTIME_CHOICES = ("auto", "litert", "tflite-runtime", "tensorflow")


@dataclass(frozen=True)
class BenchmarkOptions:
    """How to benchmark (threads=0: one per core; runtime auto: the first one found of
    ai-edge-litert, tflite-runtime, TensorFlow)."""

    threads: int = 0
    runs: int = 100
    warmup: int = 10
    input_file: str | None = None
    timeout: float = 600.0
    runtime: str = "auto"

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_CHOICES:
            raise BenchmarkError(
                f"Invalid runtime={self.runtime!r} (must be one of: {', '.join(RUNTIME_CHOICES)})",
                what="runtime",
                value=self.runtime,
                allowed=list(RUNTIME_CHOICES),
            )
        if self.runs < 1 or self.warmup < 0 or self.threads < 0:
            raise BenchmarkError(
                f"Invalid runs={self.runs}, warmup={self.warmup}, threads={self.threads} "
                "(runs >= 1, warmup >= 0, threads >= 0)"
            )

    def argv(self, model: str, input_path: str | None) -> list[str]:
        args = [
            "--model",
            model,
            "--threads",
            str(self.threads),
            "--runs",
            str(self.runs),
            "--warmup",
            str(self.warmup),
        ]
        if self.runtime != "auto":
            args += ["--runtime", self.runtime]
        return [*args, "--input", input_path] if input_path else args


@dataclass(frozen=True)
class BenchmarkResult(JsonResult):
    """Latency statistics and the environment they were measured in."""

    model: str
    device: str
    stats: dict[str, Any]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "benchmark",
            "model": self.model,
            "device": self.device,
            **self.stats,
            "warnings": list(self.warnings),
        }


def _parse(output: str, where: str) -> dict[str, Any]:
    lines = [ln for ln in output.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise BenchmarkError(f"The benchmark runner on {where} printed no result")
    data = json.loads(lines[-1])
    if "error" in data:
        raise BenchmarkError(f"Benchmark on {where} failed: {data['error']}")
    return data


def emulation_note(emulated: str | None) -> str | None:
    """The label every latency measured under an emulator carries."""
    if not emulated:
        return None
    return (
        f"emulated device ({emulated}): these latencies are the emulator's, not a real "
        "device's, and neither they nor their ratios predict the hardware"
    )


def _warnings(stats: dict[str, Any]) -> tuple[str, ...]:
    note = emulation_note(stats.get("emulated"))
    warnings = [note] if note else []
    before, after = stats.get("env_before", {}), stats.get("env_after", {})
    if after.get("throttled") not in (None, "0x0"):
        warnings.append(
            f"the device reports throttling (get_throttled={after['throttled']}): "
            "latencies may be inflated"
        )
    if (
        before.get("freq_khz")
        and after.get("freq_khz")
        and after["freq_khz"] < 0.9 * before["freq_khz"]
    ):
        warnings.append(f"CPU frequency fell from {before['freq_khz']} to {after['freq_khz']} kHz")
    if not stats.get("outputs_finite", True):
        warnings.append("the model produced NaN/inf outputs")
    return tuple(warnings)


def run_local(model: Path, options: BenchmarkOptions) -> BenchmarkResult:
    """Benchmark on this machine with the same runner script as on devices."""
    if not model.is_file():
        raise BenchmarkError(f"No such model: {model}")
    if options.input_file:
        from edgesdk.devices.input_check import check_input_file

        check_input_file(model, options.input_file)
    cmd = [sys.executable, str(RUNNER), *options.argv(str(model), options.input_file)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=options.timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise BenchmarkError(f"Benchmark timed out after {options.timeout:.0f} s") from e
    if proc.returncode not in (0, 3):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"Benchmark runner failed (exit {proc.returncode}): {tail}")
    stats = _parse(proc.stdout, "this machine")
    return BenchmarkResult(str(model), "local", stats, _warnings(stats))


def stage_runner(session: Any) -> tuple[Any, str, str]:
    """Upload the on-device runner into the device's bench folder.

    Returns:
        (the RemoteStore, the bench folder, the runner's path on the device).
    """
    from edgesdk.devices.deploy import RemoteStore

    store = RemoteStore(session)
    store.ensure_dirs()
    bench = store.path("bench")
    runner = posixpath.join(bench, "runner.py")
    with store.errors(f"write the benchmark runner to {bench}"):
        if not store.exists(bench):
            session.sftp.mkdir(bench)
        session.sftp.put(str(RUNNER), runner)
    return store, bench, runner


def run_runner(session: Any, argv: list[str], timeout: float, failure: str) -> Any:
    """Run the on-device runner: a failed connection or a runner exit other than 0 or 3 (3:
    results with warnings) is one BenchmarkError line, ``failure`` plus the exit code and the
    last line of stderr."""
    try:
        result = session.run(argv, timeout=timeout, check=False)
    except EdgeSdkError as e:
        raise BenchmarkError(str(e)) from e
    if result.exit_code not in (0, 3):
        tail = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"{failure} (exit {result.exit_code}): {tail}")
    return result


def run_remote(session: Any, model: Path, options: BenchmarkOptions) -> BenchmarkResult:
    """Upload runner (and model, and inputs) to the device and run it with the device's Python."""
    from edgesdk.devices.deploy import sha256_file

    if not model.is_file():
        raise BenchmarkError(f"No such model: {model}")
    if options.input_file:
        from edgesdk.devices.input_check import check_input_file

        check_input_file(model, options.input_file)
    device = session.device
    store, bench, runner = stage_runner(session)
    remote_model = posixpath.join(store.models, f"{sha256_file(model)[:16]}.tflite")
    remote_input = None
    with store.errors(f"upload the model to {bench}"):
        if not store.exists(remote_model):
            remote_model = posixpath.join(bench, "model.tflite")
            session.sftp.put(str(model), remote_model)
        if options.input_file:
            suffix = Path(options.input_file).suffix
            remote_input = posixpath.join(bench, f"input{suffix}")
            session.sftp.put(options.input_file, remote_input)
    result = run_runner(
        session,
        [device.python, runner, *options.argv(remote_model, remote_input)],
        options.timeout,
        f"Benchmark runner failed on {device.name}",
    )
    stats = _parse(result.text(), device.name)
    return BenchmarkResult(str(model), device.name, stats, _warnings(stats))

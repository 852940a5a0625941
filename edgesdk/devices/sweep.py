"""Benchmark sweeps: every combination of threads, XNNPACK on/off and model variants, runs
interleaved in one runner process, locally or on a device."""

from __future__ import annotations

import itertools
import json
import posixpath
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.errors import BenchmarkError, ConfigError

AXES = ("threads", "xnnpack", "model")
_SWITCH = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class SweepSpec:
    """The axes of a sweep; the first cell (first value of each axis) is the baseline."""

    models: tuple[str, ...]
    threads: tuple[int, ...] = (1,)
    xnnpack: tuple[bool, ...] = (True,)

    def cells(self) -> list[dict[str, Any]]:
        return [
            {"model": m, "threads": t, "xnnpack": x}
            for m, t, x in itertools.product(self.models, self.threads, self.xnnpack)
        ]


def parse_sweep(model: str, options: list[str]) -> SweepSpec:
    """``["threads=1,2,4", "xnnpack=on,off", "model=b.tflite"]`` into a SweepSpec; ``model``
    is always the first (baseline) variant.

    Raises:
        ConfigError: an unknown axis, a repeated axis or a value of the wrong kind.
    """
    values: dict[str, list[str]] = {}
    for option in options:
        key, sep, raw = option.partition("=")
        key = key.strip().lower()
        if not sep or key not in AXES or not raw.strip():
            raise ConfigError(
                f"Invalid `sweep` {option!r} (expected AXIS=V1,V2 with AXIS one of: "
                f"{', '.join(AXES)})",
                what="sweep",
                value=option,
                allowed=list(AXES),
            )
        if key in values:
            raise ConfigError(
                f"`sweep` {key} given twice (give all its values in one list)",
                what="sweep",
                value=key,
            )
        values[key] = [v.strip() for v in raw.split(",") if v.strip()]
    try:
        threads = tuple(int(v) for v in values.get("threads", ["1"]))
    except ValueError:
        raise ConfigError(
            f"Invalid `sweep` threads={','.join(values['threads'])} (expected whole numbers)",
            what="sweep",
        ) from None
    if any(t < 1 for t in threads):
        raise ConfigError("Invalid `sweep` threads (each must be >= 1)", what="sweep")
    bad = [v for v in values.get("xnnpack", []) if v.lower() not in _SWITCH]
    if bad:
        raise ConfigError(
            f"Invalid `sweep` xnnpack={bad[0]!r} (expected on or off)", what="sweep", value=bad[0]
        )
    xnnpack = tuple(_SWITCH[v.lower()] for v in values.get("xnnpack", ["on"]))
    models = (model, *(m for m in values.get("model", []) if m != model))
    for m in models:
        if not Path(m).is_file():
            raise ConfigError(f"No such model for the sweep: {m}", what="model", value=m)
    return SweepSpec(tuple(models), tuple(dict.fromkeys(threads)), tuple(dict.fromkeys(xnnpack)))


@dataclass(frozen=True)
class SweepResult(JsonResult):
    """Latency per cell, with the speed-up against the first cell."""

    device: str
    runtime: str
    runtime_version: str
    arch: str
    runs: int
    cells: tuple[dict[str, Any], ...]
    peak_rss_kb: int
    env: dict[str, Any]
    emulated: str | None = None  # e.g. "qemu-aarch64 user mode": the latencies are the emulator's

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "sweep",
            "device": self.device,
            "runtime": self.runtime,
            "runtime_version": self.runtime_version,
            "arch": self.arch,
            "runs": self.runs,
            "cells": list(self.cells),
            "peak_rss_kb": self.peak_rss_kb,
            "env": self.env,
            "emulated": self.emulated,
        }


def _result(device: str, output: str, runs: int, names: dict[str, str]) -> SweepResult:
    try:
        data = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise BenchmarkError(f"The sweep on {device} printed no result: {output[-300:]!r}") from e
    if "error" in data:
        raise BenchmarkError(f"The sweep on {device} failed: {data['error']}")
    base = data["cells"][0]["p50_ms"]
    cells = []
    for cell in data["cells"]:
        cell = {**cell, "model": names.get(cell["model"], cell["model"])}
        cell["speedup"] = base / cell["p50_ms"] if cell["p50_ms"] else None
        cells.append(cell)
    return SweepResult(
        device, data["runtime"], str(data["runtime_version"]), data["arch"], runs,
        tuple(cells), int(data["peak_rss_kb"]), data.get("env") or {}, data.get("emulated"),
    )  # fmt: skip


def _spec_json(cells: list[dict[str, Any]], runs: int, warmup: int, seed: int) -> str:
    return json.dumps({"cells": cells, "runs": runs, "warmup": warmup, "seed": seed, "input": None})


def _runtime_args(runtime: str) -> list[str]:
    from edgesdk.devices.benchmark import RUNTIME_CHOICES

    if runtime not in RUNTIME_CHOICES:
        raise ConfigError(
            f"Invalid runtime={runtime!r} (must be one of: {', '.join(RUNTIME_CHOICES)})",
            what="runtime",
            value=runtime,
            allowed=list(RUNTIME_CHOICES),
        )
    return [] if runtime == "auto" else ["--runtime", runtime]


def run_local(
    spec: SweepSpec,
    runs: int,
    warmup: int,
    seed: int = 0,
    timeout: float = 3600,
    runtime: str = "auto",
) -> SweepResult:
    """The sweep on this machine, with the runner the devices use."""
    from edgesdk.devices.benchmark import RUNNER

    cells = [{**c, "model": str(Path(c["model"]).absolute())} for c in spec.cells()]
    names = {c["model"]: Path(c["model"]).name for c in cells}
    with tempfile.TemporaryDirectory(prefix="edgesdk-sweep-") as tmp:
        path = Path(tmp) / "sweep.json"
        path.write_text(_spec_json(cells, runs, warmup, seed))
        try:
            proc = subprocess.run(
                [sys.executable, str(RUNNER), "--sweep", str(path), *_runtime_args(runtime)],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise BenchmarkError(f"The sweep timed out after {timeout:.0f} s") from e
    if proc.returncode not in (0, 3):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchmarkError(f"The sweep runner failed (exit {proc.returncode}): {tail}")
    return _result("local", proc.stdout, runs, names)


def run_remote(
    session: Any, spec: SweepSpec, runs: int, warmup: int, seed: int = 0, runtime: str = "auto"
) -> SweepResult:
    """The sweep on a device: runner, models and the sweep file uploaded to its bench folder."""
    from edgesdk.devices.benchmark import run_runner, stage_runner

    runtime_args = _runtime_args(runtime)

    _, bench, runner = stage_runner(session)
    names, remote = {}, {}
    for k, model in enumerate(spec.models):
        path = posixpath.join(bench, f"sweep_{k}.tflite")
        session.sftp.put(str(model), path)
        remote[model], names[path] = path, Path(model).name
    cells = [{**c, "model": remote[c["model"]]} for c in spec.cells()]
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "sweep.json"
        local.write_text(_spec_json(cells, runs, warmup, seed))
        spec_path = posixpath.join(bench, "sweep.json")
        session.sftp.put(str(local), spec_path)
    result = run_runner(
        session,
        [session.device.python, runner, "--sweep", spec_path, *runtime_args],
        3600,
        f"The sweep runner failed on {session.device.name}",
    )
    return _result(session.device.name, result.text(), runs, names)

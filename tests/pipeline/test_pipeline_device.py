"""`edgesdk run` to a device: quantize -> deploy -> benchmark on a loopback sshd device (real
OpenSSH on 127.0.0.1), beside a target benchmarked on this machine (a plain CI runner)."""

from __future__ import annotations

import json
import shutil

import numpy as np
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

TOML = """
model = "digits.keras"
data = "calib.npy"

[targets.pi]
profile = "raspberry-pi-4"
stages = ["quantize", "deploy", "benchmark"]

[targets.pi.quantize]
samples = 50

[targets.pi.deploy]
device = "pi"
lock_wait = {lock_wait}

[targets.pi.benchmark]
device = "pi"
runs = 20
warmup = 2

[targets.pi.gates]
p90_latency_ms = {p90}

[targets.host]
profile = "linux-x86_64"
stages = ["quantize", "benchmark"]

[targets.host.quantize]
samples = 50

[targets.host.benchmark]
runs = 20
warmup = 2

[targets.host.gates]
p90_latency_ms = 10000
size_bytes = 100000
"""


def by_target(result: edgesdk.PipelineResult) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for s in result.stages:
        found.setdefault(s.target, []).append((s.name, s.status))
    return found


def test_deploy_and_benchmark_on_a_device_and_on_this_machine(
    trusted_device, trained_cnn, digits, tmp_path
):
    shutil.copy(trained_cnn, tmp_path / "digits.keras")
    np.save(tmp_path / "calib.npy", digits[0][:60])
    toml = tmp_path / "edgesdk.toml"
    toml.write_text(TOML.format(lock_wait=30, p90=10000))

    first = edgesdk.run(toml)
    assert by_target(first) == {
        "pi": [("quantize", "ran"), ("deploy", "ran"), ("benchmark", "ran")],
        "host": [("quantize", "ran"), ("benchmark", "ran")],
    }
    assert first.passed
    out = tmp_path / "edgesdk-run"
    deployed = json.loads((out / "pi" / "deploy.json").read_text())
    assert deployed["device"] == "pi" and deployed["action"] == "uploaded"
    bench = json.loads((out / "pi" / "benchmark.json").read_text())
    assert bench["device"] == "pi" and bench["kind"] == "benchmark"
    p90 = {g.target: g.value for g in first.gates if g.name == "p90_latency_ms"}
    assert p90["pi"] == bench["p90_ms"]
    assert json.loads((out / "host" / "benchmark.json").read_text())["p90_ms"] == p90["host"]

    again = edgesdk.run(toml)
    assert {s.status for s in again.stages} == {"cached"}

    toml.write_text(TOML.format(lock_wait=20, p90=10000))  # only the deploy's options
    changed = edgesdk.run(toml, target="pi")
    assert [(s.name, s.status, s.reason) for s in changed.stages] == [
        ("quantize", "cached", "inputs, options, profile and tool versions unchanged"),
        ("deploy", "ran", "options changed: lock_wait"),
        ("benchmark", "cached", "inputs, options, profile and tool versions unchanged"),
    ]

    below = p90["pi"] * 0.999  # just below the measured p90: fails, naming the gate
    toml.write_text(TOML.format(lock_wait=20, p90=below))
    r = CliRunner().invoke(app, ["run", str(toml)])
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: gate p90_latency_ms of target pi failed:"
    ), r.stderr
    assert "running" not in r.stderr  # a gate change re-runs nothing

"""`benchmark --runtime` and `device check`'s runtimes and emulation flag on the x86 loopback
devices (the emulated aarch64 Pi has its own tests under tests/aarch64)."""

from __future__ import annotations

import json

import pytest
from conftest import DEVICE_VENV_PYTHON
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.devices.benchmark import BenchmarkOptions
from edgesdk.devices.inventory import Device, Inventory
from edgesdk.errors import BenchmarkError, ConfigError

runner = CliRunner()


@pytest.fixture
def lite_device(trusted_device, sshd_server):
    """Like a Pi set up by hand: Python with tflite-runtime 2.14 and numpy<2 only."""
    assert DEVICE_VENV_PYTHON.is_file(), "run scripts/setup-tests.sh: it creates .venv-device"
    return Inventory().add(
        Device(
            "pi-lite", "127.0.0.1", sshd_server.port, "root", str(sshd_server.client_key),
            str(DEVICE_VENV_PYTHON), trusted_device.workdir + "-lite",
        )
    )  # fmt: skip


def test_check_lists_every_runtime_and_real_hardware_is_not_emulated(trusted_device, lite_device):
    r = runner.invoke(app, ["device", "check", "pi-lite", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["runtimes"] == {"tflite-runtime": "2.14.0"} and info["emulated"] is None
    info = json.loads(runner.invoke(app, ["device", "check", "pi", "--json"]).stdout)
    assert {"ai-edge-litert", "tensorflow"} <= set(info["runtimes"]) and info["emulated"] is None
    r = runner.invoke(app, ["device", "check", "pi"])
    assert r.exit_code == 0 and "installed runtimes: ai-edge-litert" in r.stdout
    assert "EMULATED" not in r.stdout


def test_a_forced_runtime_is_used_or_refused_in_one_line(trusted_device, lite_device, models):
    base = ["benchmark", str(models["a"]), "--runs", "3", "--warmup", "0", "--json"]
    s = json.loads(
        runner.invoke(app, [*base, "--device", "pi-lite", "--runtime", "tflite-runtime"]).stdout
    )
    assert s["runtime"] == "tflite_runtime" and s["emulated"] is None
    assert not any("emulat" in w for w in s["warnings"])
    r = runner.invoke(app, [*base, "--device", "pi-lite", "--runtime", "litert"])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "litert is not installed on this device (installed: tflite-runtime)" in r.stderr
    r = runner.invoke(app, [*base, "--device", "pi", "--runtime", "tflite-runtime"])
    assert r.exit_code == 1 and "installed: litert, tensorflow" in r.stderr
    r = runner.invoke(
        app, [*base[:2], "--device", "pi-lite", "--runtime", "litert", "--sweep", "threads=1,2"]
    )
    assert r.exit_code == 1 and "litert is not installed on this device" in r.stderr


def test_a_forced_runtime_locally_and_an_unknown_one(models):
    result = edgesdk.benchmark(models["a"], options=BenchmarkOptions(runs=3, runtime="litert"))
    assert result.stats["runtime"] == "ai_edge_litert"
    with pytest.raises(BenchmarkError, match="Invalid runtime='onnx' .must be one of: auto,"):
        BenchmarkOptions(runtime="onnx")
    with pytest.raises(ConfigError, match="Invalid runtime='onnx'"):
        edgesdk.benchmark_sweep(models["a"], ["threads=1"], runtime="onnx")
    r = runner.invoke(app, ["benchmark", str(models["a"]), "--runtime", "onnx"])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1

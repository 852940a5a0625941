"""Benchmark sweeps (threads x XNNPACK x model) on this machine and on a device over sshd."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ConfigError

runner = CliRunner()


def test_every_combination_locally_with_the_same_inputs(models, tmp_path):
    saved = tmp_path / "sweep.json"
    r = runner.invoke(
        app,
        ["benchmark", str(models["a"]), "--sweep", "threads=1,2", "--sweep", "xnnpack=on,off"]
        + ["--sweep", f"model={models['b']}", "--runs", "30", "--warmup", "2", "--json"]
        + ["--save", str(saved)],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert json.loads(saved.read_text()) == result and result["kind"] == "sweep"
    cells = result["cells"]
    combos = {(c["model"].rsplit("/", 1)[-1], c["threads"], c["xnnpack"]) for c in cells}
    assert combos == {
        (m, t, x) for m in ("a.tflite", "b.tflite") for t in (1, 2) for x in (True, False)
    }
    assert all(c["n"] == 30 and 0 < c["p50_ms"] <= c["p90_ms"] <= c["p99_ms"] for c in cells)
    assert cells[0]["speedup"] == 1.0 and all(c["speedup"] > 0 for c in cells)
    report = edgesdk.report(tmp_path)
    assert "Sweep on local" in open(report.markdown).read()


def test_a_sweep_on_a_device(trusted_device, models):
    result = edgesdk.benchmark_sweep(models["a"], ["threads=1,2"], device="pi", runs=20, warmup=1)
    assert result.device == "pi" and [c["threads"] for c in result.cells] == [1, 2]
    assert all(c["n"] == 20 and c["model"] == "a.tflite" for c in result.cells)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("cores=1,2", "expected AXIS=V1,V2"),
        ("threads=one", "expected whole numbers"),
        ("threads=0", "must be >= 1"),
        ("xnnpack=maybe", "expected on or off"),
        ("model=missing.tflite", "No such model"),
    ],
)
def test_malformed_sweeps_are_one_line(models, option, message):
    with pytest.raises(ConfigError, match=message):
        edgesdk.benchmark_sweep(models["a"], [option])
    r = runner.invoke(app, ["benchmark", str(models["a"]), "--sweep", option])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1

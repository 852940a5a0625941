"""`edgesdk run` end to end on the digits CNN: quantize -> export-c -> emulate on the emulated
arduino-nano-33-ble (real converter, real arm-none-eabi-gcc, real qemu), then the gates."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

pytestmark = pytest.mark.emulation
STAGES = ["quantize", "export-c", "evaluate", "emulate"]
TOML = """
model = "digits.keras"
data = "calib.npy"

[targets.nano]
profile = "arduino-nano-33-ble"
stages = ["quantize", "export-c", "evaluate", "emulate"]

[targets.nano.quantize]
samples = 100

[targets.nano.evaluate]
data = "eval.npz"

[targets.nano.gates]
accuracy_drop = 0.2
agreement = 0.5
size_bytes = 100000
flash_bytes = 786432
ram_bytes = 196608
instructions = {instructions}
"""


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    """Skip (naming what is missing) without the Arm toolchain, qemu or TFLite Micro (as
    tests/conftest.py's require_firmware_tools: `from conftest import` would find whichever
    conftest module pytest loaded last, tests/mobile's in a whole-suite run)."""
    from edgesdk.errors import FirmwareError
    from edgesdk.firmware.tflm.emulation import REPO_ROOT
    from edgesdk.firmware.tflm.library import locate_source
    from edgesdk.firmware.toolchain import find_toolchain

    try:
        find_toolchain()
        locate_source(REPO_ROOT)
    except FirmwareError as e:
        pytest.skip(f"firmware emulation unavailable: {e}")


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_cnn, digits) -> Path:
    folder = tmp_path_factory.mktemp("pipeline") / "project"
    folder.mkdir()
    shutil.copy(trained_cnn, folder / "digits.keras")
    np.save(folder / "calib.npy", digits[0][:100])
    np.savez(folder / "eval.npz", x=digits[1], y=digits[3])
    (folder / "edgesdk.toml").write_text(TOML.format(instructions=20_000_000))
    return folder


@pytest.fixture(scope="module")
def cold(project) -> tuple[edgesdk.PipelineResult, float]:
    start = time.perf_counter()
    result = edgesdk.run(project / "edgesdk.toml")
    return result, time.perf_counter() - start


def copy_of(project: Path, tmp_path: Path) -> Path:
    """The project after its first run, copied: model, data, file and output folder."""
    out = tmp_path / "copy"
    shutil.copytree(project, out)
    return out


def statuses(result: edgesdk.PipelineResult) -> dict[str, tuple[str, str]]:
    return {s.name: (s.status, s.reason) for s in result.stages}


def test_the_first_run_executes_every_stage_and_passes_its_gates(cold, project):
    result, _ = cold
    assert [s.name for s in result.stages] == STAGES
    assert {s.status for s in result.stages} == {"ran"}
    assert all(s.reason == "no finished run recorded" for s in result.stages)
    gates = {g.name: g for g in result.gates}
    assert set(gates) == {"accuracy_drop", "agreement", "size_bytes", "flash_bytes", "ram_bytes",
                          "instructions", "bit_exact"}  # fmt: skip
    assert result.passed and all(g.checked for g in gates.values())
    out = project / "edgesdk-run"
    nano = out / "nano"
    assert (nano / "model.tflite").stat().st_size == gates["size_bytes"].value
    assert (nano / "model.tflite.manifest.json").exists()  # quantize's own manifest
    assert (nano / "bundle" / "manifest.json").exists()  # export-c's
    emulated = json.loads((nano / "emulate.json").read_text())
    assert max(emulated["instructions"]) == gates["instructions"].value
    assert emulated["budget"]["flash_used"] == gates["flash_bytes"].value
    evaluated = json.loads((nano / "evaluate.json").read_text())
    float_run, litert = evaluated["runs"]
    assert gates["accuracy_drop"].value == pytest.approx(float_run["top1"] - litert["top1"])
    assert litert["runtime"] == "LiteRT" and float_run["top1"] > 0.2  # 10 classes
    saved = json.loads((out / "run.json").read_text())
    assert saved["passed"] is True and saved["targets"][0]["gates"] == [
        g.to_dict() for g in result.gates
    ]
    assert len(list((out / "history").glob("run-*.json"))) >= 1


def test_a_second_run_is_all_cached_and_fast(cold, project, tmp_path, capsys):
    first, cold_seconds = cold
    copy = copy_of(project, tmp_path)  # a copied folder (a CI cache restored) stays cached
    start = time.perf_counter()
    r = CliRunner().invoke(app, ["run", str(copy / "edgesdk.toml"), "--json"])
    cached_seconds = time.perf_counter() - start
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [s["status"] for s in data["targets"][0]["stages"]] == ["cached"] * 4
    assert "cached (inputs, options, profile and tool versions unchanged)" in r.stderr
    assert data["targets"][0]["gates"] == [g.to_dict() for g in first.gates]
    with capsys.disabled():
        print(
            f"\n[pipeline] cold run {cold_seconds:.1f} s, cached run {cached_seconds:.2f} s "
            f"({cold_seconds / cached_seconds:.0f}x faster)"
        )


def test_a_changed_calibration_file_reruns_quantize_and_what_follows(project, digits, tmp_path):
    copy = copy_of(project, tmp_path)
    np.save(copy / "calib.npy", digits[0][100:200])
    result = edgesdk.run(copy / "edgesdk.toml")
    assert statuses(result) == {
        "quantize": ("ran", "inputs changed: data"),
        "export-c": ("ran", "inputs changed: tflite"),
        "evaluate": ("ran", "inputs changed: tflite"),
        "emulate": ("ran", "inputs changed: bundle"),
    }
    again = edgesdk.run(copy / "edgesdk.toml")
    assert {s.status for s in again.stages} == {"cached"}
    text = (copy / "edgesdk.toml").read_text().replace("samples = 100", "samples = 80")
    (copy / "edgesdk.toml").write_text(text)
    options = edgesdk.run(copy / "edgesdk.toml", stage="quantize")
    assert statuses(options) == {"quantize": ("ran", "options changed: samples")}


def test_a_changed_gate_reruns_nothing_and_a_gate_just_below_fails_naming_it(
    cold, project, tmp_path
):
    measured = int({g.name: g for g in cold[0].gates}["instructions"].value)
    copy = copy_of(project, tmp_path)
    toml = copy / "edgesdk.toml"
    toml.write_text(TOML.format(instructions=measured - 1))
    r = CliRunner().invoke(app, ["run", str(toml)])
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: gate instructions of target nano failed: {measured:,} is above the limit "
        f"{measured - 1:,}"
    ]
    assert r.stderr.count(": cached (") == 4 and "running" not in r.stderr
    saved = json.loads((copy / "edgesdk-run" / "run.json").read_text())
    assert saved["passed"] is False
    failed = [g["gate"] for g in saved["targets"][0]["gates"] if not g["passed"]]
    assert failed == ["instructions"]
    toml.write_text(TOML.format(instructions=measured))  # at the limit: passes
    r = CliRunner().invoke(app, ["run", str(toml)])
    assert r.exit_code == 0, r.output
    assert len(list((copy / "edgesdk-run" / "history").glob("run-*.json"))) >= 3
    report = edgesdk.report(copy / "edgesdk-run")  # the gate table and its history
    md = Path(report.markdown).read_text()
    assert "## Gates" in md and "## Gate history" in md
    latest = md.split("## Gates", 1)[1].split("##", 1)[0]
    assert f"| nano | instructions | {measured:,} | <= {measured:,} | pass |" in latest
    history = md.split("## Gate history", 1)[1]
    assert f"{measured:,} ✗" in history  # the failed run stays visible
    names = {Path(p).name for p in report.plots}
    assert {f"gate_nano_{g}.png" for g in ("instructions", "flash_bytes", "agreement")} <= names


def test_a_run_killed_mid_stage_resumes_without_redoing_finished_stages(project, digits, tmp_path):
    copy = copy_of(project, tmp_path)
    np.save(copy / "calib.npy", digits[0][200:300])  # every stage has to run again
    env = {**os.environ, "PYTHONPATH": str(Path(edgesdk.__file__).parents[1])}
    child = subprocess.Popen(
        [sys.executable, "-c", "from edgesdk.cli import main; main()", "run",
         str(copy / "edgesdk.toml")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        seen = []
        deadline = time.monotonic() + 300
        for line in child.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if "emulate: running" in line or time.monotonic() > deadline:
                break
        assert any("emulate: running" in line for line in seen), seen
        time.sleep(1.0)  # into the firmware build
        os.killpg(child.pid, signal.SIGKILL)  # the run, its workers, gcc and qemu
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    state = json.loads((copy / "edgesdk-run" / "nano" / "state.json").read_text())
    assert sorted(state["stages"]) == ["evaluate", "export-c", "quantize"]  # not emulate
    result = edgesdk.run(copy / "edgesdk.toml")
    assert [(s.name, s.status) for s in result.stages] == [
        ("quantize", "cached"),
        ("export-c", "cached"),
        ("evaluate", "cached"),
        ("emulate", "ran"),
    ]
    assert result.passed


def test_switching_to_the_standalone_engine_reruns_export_and_emulate_only(project, tmp_path):
    copy = copy_of(project, tmp_path)
    toml = copy / "edgesdk.toml"
    text = TOML.format(instructions=20_000_000)
    toml.write_text(text + '\n[targets.nano.export-c]\nengine = "standalone"\n')
    result = edgesdk.run(toml)
    assert statuses(result) == {
        "quantize": ("cached", "inputs, options, profile and tool versions unchanged"),
        "export-c": ("ran", "options changed: engine"),
        "evaluate": ("cached", "inputs, options, profile and tool versions unchanged"),
        "emulate": ("ran", "inputs changed: bundle"),
    }
    emulated = json.loads((copy / "edgesdk-run" / "nano" / "emulate.json").read_text())
    assert emulated["engine"] == "standalone" and emulated["bit_exact"] is True
    gates = {g.name: g for g in result.gates}
    assert gates["instructions"].value == max(emulated["instructions"]) and result.passed

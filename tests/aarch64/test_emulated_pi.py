"""The CLI against an emulated Raspberry Pi: real aarch64 binaries (Debian arm64, tflite-runtime
2.14 and ai-edge-litert 2.3 wheels, XNNPACK's ARM kernels) under qemu-user, over SSH with strict
host-key checking. Its latencies are the emulator's: every result must say so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

pytestmark = pytest.mark.aarch64
runner = CliRunner()


def cli_json(*args: str) -> dict:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_device_check_sees_aarch64_both_runtimes_and_the_emulator(pi_device):
    info = cli_json("device", "check", "rpi")
    assert info["arch"] == "aarch64" and info["ready"]
    assert info["runtimes"] == {"ai-edge-litert": "2.3.0", "tflite-runtime": "2.14.0"}
    assert info["runtime"] == "ai_edge_litert" and info["numpy"].startswith("1.")
    assert info["python_path"] == "/opt/pyenv/bin/python3" and info["python"].startswith("3.11")
    assert info["emulated"] == "qemu-aarch64 user mode"
    r = runner.invoke(app, ["device", "check", "rpi"])
    assert r.exit_code == 0 and "aarch64" in r.stdout
    assert "EMULATED: qemu-aarch64 user mode" in r.stdout
    assert "tflite-runtime 2.14.0" in r.stdout and "ai-edge-litert 2.3.0" in r.stdout


def test_an_unknown_host_key_is_refused_until_its_fingerprint_is_trusted(pi_device, emulated_pi):
    from edgesdk.devices.inventory import config_home

    (config_home() / "known_hosts").write_text("")
    r = runner.invoke(app, ["device", "check", "rpi"])
    assert r.exit_code == 1 and f"Unknown host key for [{emulated_pi.host}]:" in r.stderr
    assert emulated_pi.fingerprint in r.stderr
    wrong = "SHA256:" + "A" * 43
    r = runner.invoke(app, ["device", "trust", "rpi", "--fingerprint", wrong])
    assert r.exit_code == 1 and runner.invoke(app, ["device", "check", "rpi"]).exit_code == 1
    r = runner.invoke(app, ["device", "trust", "rpi", "--fingerprint", emulated_pi.fingerprint])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["device", "check", "rpi"]).exit_code == 0


def test_deploy_rollback_and_fleet_status(pi_device, models):
    first = cli_json("deploy", str(models["a"]), "--device", "rpi")
    assert first["action"] == "uploaded"
    r = runner.invoke(app, ["deploy", str(models["a"]), "--device", "rpi"])
    assert r.exit_code == 0 and "nothing transferred" in r.stdout
    second = cli_json("deploy", str(models["b"]), "--device", "rpi")
    assert second["previous"]["name"] == "a.tflite"
    status = cli_json("fleet", "status", "--group", "pis")
    (device,) = status["devices"]
    assert device["ok"] and device["current"]["name"] == "b.tflite"
    assert device["current"]["sha256"] == second["current"]["sha256"]
    back = cli_json("rollback", "--device", "rpi")
    assert back["current"]["name"] == "a.tflite"
    assert back["current"]["sha256"] == first["current"]["sha256"]
    status = cli_json("fleet", "status", "--group", "pis")
    assert status["devices"][0]["current"]["name"] == "a.tflite"


@pytest.mark.parametrize(
    ("option", "runtime", "version"),
    [
        ("auto", "ai_edge_litert", "2.3.0"),  # the first found
        ("litert", "ai_edge_litert", "2.3.0"),
        ("tflite-runtime", "tflite_runtime", "2.14.0"),
    ],
)
def test_benchmark_with_each_runtime_is_labelled_emulated(
    pi_device, int8_cnn, option, runtime, version
):
    s = cli_json(
        "benchmark", str(int8_cnn), "--device", "rpi", "--runtime", option,
        "--runs", "5", "--warmup", "1", "--threads", "1",
    )  # fmt: skip
    assert (s["runtime"], s["runtime_version"], s["arch"]) == (runtime, version, "aarch64")
    assert s["n"] == 5 and 0 < s["min_ms"] <= s["p50_ms"] <= s["p99_ms"] and s["outputs_finite"]
    assert s["emulated"] == "qemu-aarch64 user mode"
    assert any("emulator's, not a real device's" in w for w in s["warnings"])
    assert s["env_before"]["cpu"] == "qemu-aarch64 emulating a Raspberry Pi 4 (cortex-a72)"


def test_a_runtime_the_pi_lacks_is_one_line(pi_device, int8_cnn):
    r = runner.invoke(
        app, ["benchmark", str(int8_cnn), "--device", "rpi", "--runtime", "tensorflow"]
    )
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "tensorflow is not installed on this device (installed: litert, tflite-runtime)" in (
        r.stderr
    )


def test_evaluate_on_the_pi_gives_host_litert_predictions(
    pi_device, trained_cnn, int8_cnn, digits_test_npz
):
    result = cli_json(
        "evaluate", str(trained_cnn), str(int8_cnn), "--data", str(digits_test_npz),
        "--device", "rpi",
    )  # fmt: skip
    runs = {run["runtime"]: run for run in result["runs"]}
    pi, host = runs["device rpi"], runs["LiteRT"]
    assert pi["samples"] == host["samples"] == 120
    assert (
        pi["device_runtime"] == "ai_edge_litert 2.3.0, aarch64, EMULATED by qemu-aarch64 user mode"
    )
    # XNNPACK's NEON kernels vs its x86 kernels: within one output step, same classes; both
    # differ alike from LiteRT's reference kernels (XNNPACK rounds differently)
    assert pi["max_lsb_vs_litert"] <= 1
    assert abs(pi["max_lsb_vs_reference"] - host["max_lsb_vs_reference"]) <= 1
    assert pi["top1_changes_vs_litert"] == 0
    assert pi["top1"] == host["top1"] and pi["confusion"] == host["confusion"]


def test_sweep_on_the_pi_is_labelled_and_reported(pi_device, int8_cnn, tmp_path):
    saved = tmp_path / "sweep.json"
    r = runner.invoke(
        app,
        ["benchmark", str(int8_cnn), "--device", "rpi", "--sweep", "threads=1,2"]
        + ["--sweep", "xnnpack=on,off", "--runs", "5", "--warmup", "1", "--save", str(saved)],
    )
    assert r.exit_code == 0, r.output
    assert "EMULATED by qemu-aarch64 user mode" in " ".join(r.stdout.split())
    sweep = json.loads(saved.read_text())
    assert sweep["arch"] == "aarch64" and sweep["emulated"] == "qemu-aarch64 user mode"
    cells = [(c["threads"], c["xnnpack"]) for c in sweep["cells"]]
    assert cells == [(1, True), (1, False), (2, True), (2, False)]
    assert all(c["n"] == 5 and 0 < c["p50_ms"] <= c["p99_ms"] for c in sweep["cells"])
    report = edgesdk.report(tmp_path)
    text = open(report.markdown).read()
    assert "EMULATED by qemu-aarch64 user mode" in text and "emulator's" in text


def test_group_benchmark_and_report_label_the_emulated_pi(pi_device, int8_cnn, tmp_path):
    base = ["benchmark", str(int8_cnn), "--runs", "5", "--warmup", "1"]
    assert (
        runner.invoke(app, [*base, "--device", "rpi", "--save", str(tmp_path / "b.json")]).exit_code
        == 0
    )
    r = runner.invoke(app, [*base, "--group", "pis", "--json", "--save", str(tmp_path / "g.json")])
    assert r.exit_code == 0, r.output
    group = json.loads(r.stdout)
    assert (
        group["emulated"] == ["rpi"] and group["devices"][0]["emulated"] == "qemu-aarch64 user mode"
    )
    text = open(edgesdk.report(tmp_path).markdown).read()
    assert text.count("rpi (EMULATED)") == 2  # the single benchmark and the group's row
    assert "EMULATED devices (qemu-aarch64 user mode)" in text


def test_the_script_is_idempotent_and_reports_its_state(emulated_pi):
    from aarch64.conftest import pi_emu

    again = pi_emu("up", timeout=120)
    assert again.returncode == 0 and f"PI_PORT={emulated_pi.port}\n" in again.stdout
    assert "already running" in again.stderr
    status = pi_emu("status", timeout=60)
    assert status.returncode == 0 and status.stdout.startswith("running: sshd pid ")
    assert pi_emu("ssh", "uname", "-m", timeout=60).stdout.strip() == "aarch64"
    bad = pi_emu("launch", timeout=60)
    assert bad.returncode == 1 and "usage:" in bad.stderr

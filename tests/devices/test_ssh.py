"""Devices over a REAL OpenSSH server on 127.0.0.1: trust, config, deploy, rollback, benchmark."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DEVICE_VENV_PYTHON, host_fingerprint
from typer.testing import CliRunner

from edgesdk.cli import app
from edgesdk.devices.inventory import Device, Inventory, config_home
from edgesdk.devices.ssh import Session
from edgesdk.errors import DeviceError

runner = CliRunner()


def current_bytes(device: Device) -> bytes:
    return (Path(device.workdir) / "current.tflite").read_bytes()


def test_unknown_host_is_refused_and_trust_checks_the_fingerprint(ssh_home, sshd_server):
    r = runner.invoke(
        app,
        [
            "device",
            "add",
            "pi",
            "--host",
            "127.0.0.1",
            "--port",
            str(sshd_server.port),
            "--user",
            "root",
            "--key",
            str(sshd_server.client_key),
            "--python",
            sys.executable,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["device", "check", "pi"])
    fp = host_fingerprint(sshd_server)
    assert r.exit_code == 1 and "Unknown host key" in r.stderr and fp in r.stderr
    wrong = "SHA256:" + "A" * 43
    r = runner.invoke(app, ["device", "trust", "pi", "--fingerprint", wrong])
    assert r.exit_code == 1 and "Fingerprint mismatch" in r.stderr
    assert not (config_home() / "known_hosts").exists()
    r = runner.invoke(app, ["device", "trust", "pi", "--fingerprint", fp])
    assert r.exit_code == 0, r.output
    assert (
        f"[127.0.0.1]:{sshd_server.port} ssh-ed25519" in (config_home() / "known_hosts").read_text()
    )
    r = runner.invoke(app, ["device", "check", "pi", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["runtime"] == "ai_edge_litert" and info["numpy"] and info["disk_free_bytes"] > 0
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))


def test_changed_host_key_is_always_refused(ssh_home, sshd_server, tmp_path):
    from sshd import keygen

    other = keygen(tmp_path / "other_host_key")
    line = f"[127.0.0.1]:{sshd_server.port} ssh-ed25519 {Path(str(other) + '.pub').read_text().split()[1]}\n"
    (ssh_home / ".ssh" / "known_hosts").write_text(line)
    device = Inventory().add(
        Device("pi", "127.0.0.1", sshd_server.port, "root", str(sshd_server.client_key))
    )
    with pytest.raises(DeviceError, match="has CHANGED"):
        Session(device).__enter__()
    r = runner.invoke(
        app, ["device", "trust", "pi", "--fingerprint", host_fingerprint(sshd_server)]
    )
    assert r.exit_code == 1 and "CHANGED" in r.stderr
    assert not (config_home() / "known_hosts").exists()


def test_ssh_config_is_honoured_and_proxyjump_is_named(ssh_home, sshd_server):
    (ssh_home / ".ssh" / "config").write_text(
        f"Host lab-pi\n  HostName 127.0.0.1\n  Port {sshd_server.port}\n  User root\n"
        f"  IdentityFile {sshd_server.client_key}\n"
        "Host jumpy\n  HostName 127.0.0.1\n  ProxyJump bastion\n"
    )
    (ssh_home / ".ssh" / "known_hosts").write_text(sshd_server.known_hosts_line())
    assert (
        runner.invoke(
            app, ["device", "add", "lab", "--host", "lab-pi", "--python", sys.executable]
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["device", "check", "lab", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["host"] == f"[127.0.0.1]:{sshd_server.port}"
    assert runner.invoke(app, ["device", "add", "j", "--host", "jumpy"]).exit_code == 0
    r = runner.invoke(app, ["device", "check", "j"])
    assert r.exit_code == 1 and "does not support proxyjump" in r.stderr


def test_deploy_unchanged_and_rollback_with_a_hostile_workdir(trusted_device, models, tmp_path):
    r = runner.invoke(app, ["deploy", str(models["a"]), "--device", "pi", "--json"])
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    assert first["action"] == "uploaded" and first["bytes_sent"] == models["a"].stat().st_size
    assert current_bytes(trusted_device) == models["a"].read_bytes()
    r = runner.invoke(app, ["deploy", str(models["a"]), "--device", "pi"])
    assert r.exit_code == 0 and "nothing transferred" in r.stdout
    r = runner.invoke(app, ["deploy", str(models["b"]), "--device", "pi", "--json"])
    assert json.loads(r.stdout)["previous"]["name"] == "a.tflite"
    assert current_bytes(trusted_device) == models["b"].read_bytes()
    r = runner.invoke(app, ["rollback", "--device", "pi", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["current"]["name"] == "a.tflite"
    assert current_bytes(trusted_device) == models["a"].read_bytes()
    r = runner.invoke(app, ["rollback", "--device", "pi"])
    assert r.exit_code == 1 and "Nothing to roll back to" in r.stderr
    # nothing in the workdir name was ever run by a shell
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path("/root").glob("PWNED*"))
    assert not Path(os.getcwd(), "PWNED").exists()


def _kill_session_processes(sshd_pid: int) -> int:
    """SIGKILL the per-connection children of our own sshd (the listener keeps running)."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == sshd_pid:
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
    return killed


def test_connection_killed_during_upload_keeps_the_old_model(trusted_device, models, sshd_server):
    import edgesdk

    edgesdk.deploy(models["a"], "pi")
    state = {"killed": 0}

    def progress(done: int, total: int) -> None:
        if not state["killed"] and done > total // 3:
            state["killed"] = _kill_session_processes(sshd_server.process.pid)

    with pytest.raises(DeviceError, match="unchanged|failed|closed|EOF|Socket"):
        edgesdk.deploy(models["big"], "pi", progress=progress)
    assert state["killed"] >= 1
    assert current_bytes(trusted_device) == models["a"].read_bytes()
    result = edgesdk.deploy(models["big"], "pi")
    assert (
        result.action == "uploaded" and current_bytes(trusted_device) == models["big"].read_bytes()
    )
    leftovers = [
        p.name
        for p in (Path(trusted_device.workdir) / "models").iterdir()
        if p.name.startswith(".upload")
    ]
    assert leftovers == []


def test_remote_timeout_kills_the_process(trusted_device):
    with (
        Session(trusted_device) as session,
        pytest.raises(DeviceError, match="timed out after 1 s"),
    ):
        session.run(["sleep", "31.5"], timeout=1)
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == b"sleep\x0031.5\x00":
                    alive.append(entry.name)
            except OSError:
                pass
    assert alive == []


def test_large_output_does_not_deadlock(trusted_device):
    with Session(trusted_device) as session:
        code = "import sys; sys.stdout.write('o' * 3_000_000); sys.stderr.write('e' * 3_000_000)"
        result = session.run([trusted_device.python, "-c", code], timeout=60)
    assert len(result.stdout) == 3_000_000 and len(result.stderr) == 3_000_000


def test_benchmark_on_device_with_litert(trusted_device, models):
    r = runner.invoke(
        app,
        [
            "benchmark",
            str(models["a"]),
            "--device",
            "pi",
            "--runs",
            "25",
            "--warmup",
            "3",
            "--threads",
            "1",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["device"] == "pi" and s["runtime"] == "ai_edge_litert" and s["n"] == 25
    assert 0 < s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"]
    assert s["threads"] == 1 and s["peak_rss_kb"] > 1000 and s["outputs_finite"]
    assert s["env_before"]["cpu"]


def test_benchmark_on_a_pi_like_device_with_tflite_runtime_only(
    trusted_device, models, sshd_server
):
    assert DEVICE_VENV_PYTHON.is_file(), "run the README's test command: it creates .venv-device"
    Inventory().add(
        Device(
            "pi-lite",
            "127.0.0.1",
            sshd_server.port,
            "root",
            str(sshd_server.client_key),
            str(DEVICE_VENV_PYTHON),
            trusted_device.workdir + "-lite",
        )
    )
    r = runner.invoke(app, ["device", "check", "pi-lite", "--json"])
    info = json.loads(r.stdout)
    assert info["runtime"] == "tflite_runtime" and info["runtime_version"] == "2.14.0"
    assert info["numpy"].startswith("1.")
    r = runner.invoke(
        app, ["benchmark", str(models["b"]), "--device", "pi-lite", "--runs", "20", "--json"]
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["runtime"] == "tflite_runtime" and s["numpy"].startswith("1.") and s["n"] == 20
    r = runner.invoke(
        app,
        ["benchmark", str(models["b"]), "--device", "pi-lite", "--sweep", "xnnpack=on,off"]
        + ["--runs", "10", "--json"],
    )
    assert r.exit_code == 0, r.output
    sweep = json.loads(r.stdout)
    assert sweep["runtime"] == "tflite_runtime"
    assert [c["xnnpack"] for c in sweep["cells"]] == [True, False]


def test_benchmark_locally_with_real_inputs(tmp_path, models):
    x = np.random.default_rng(0).random((1, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    r = runner.invoke(
        app,
        [
            "benchmark",
            str(models["a"]),
            "--runs",
            "10",
            "--input",
            str(tmp_path / "x.npy"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["device"] == "local" and s["input_source"].endswith("x.npy") and s["n"] == 10


def test_inventory_errors(ssh_home):
    assert runner.invoke(app, ["device", "add", "pi", "--host", "127.0.0.1"]).exit_code == 0
    r = runner.invoke(app, ["device", "add", "pi", "--host", "127.0.0.1"])
    assert r.exit_code == 1 and "exists already" in r.stderr
    r = runner.invoke(app, ["device", "add", "x y", "--host", "127.0.0.1"])
    assert r.exit_code == 1 and "Invalid device name" in r.stderr
    r = runner.invoke(app, ["device", "add", "q", "--host", "127.0.0.1", "--port", "70000"])
    assert r.exit_code == 1 and "Invalid port=70000" in r.stderr
    r = runner.invoke(app, ["deploy", "nothing.tflite", "--device", "pi"])
    assert r.exit_code == 1 and "No such .tflite file" in r.stderr
    r = runner.invoke(app, ["device", "check", "ghost"])
    assert r.exit_code == 1 and "Unknown device 'ghost'" in r.stderr
    r = runner.invoke(app, ["device", "list", "--json"])
    assert [d["name"] for d in json.loads(r.stdout)] == ["pi"]
    assert runner.invoke(app, ["device", "remove", "pi"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["device", "list", "--json"]).stdout) == []


def test_encrypted_key_passphrase_is_prompted(ssh_home, tmp_path):
    import subprocess

    from sshd import start_sshd

    key = tmp_path / "locked_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret pass", "-f", str(key)], check=True
    )
    server = start_sshd(tmp_path / "sshd-locked", key)
    try:
        (ssh_home / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
        args = [
            "device",
            "add",
            "locked",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--user",
            "root",
            "--key",
            str(key),
            "--python",
            sys.executable,
        ]
        assert runner.invoke(app, args).exit_code == 0
        r = runner.invoke(app, ["device", "check", "locked", "--json"], input="s3cret pass\n")
        assert r.exit_code == 0, r.output
        assert "Passphrase for" in r.stdout and '"runtime": "ai_edge_litert"' in r.stdout
        r = runner.invoke(app, ["device", "check", "locked"], input="wrong\n")
        assert r.exit_code == 1 and "Cannot unlock SSH key" in r.stderr
    finally:
        server.stop()


def _slow_read(session: Session, argv: list[str]):
    """Start ``argv`` and read nothing until its exit status is in: most of its output is then
    still waiting behind the SSH channel window (a slow reader)."""
    import time

    proc = session.start(argv)
    deadline = time.monotonic() + 5  # a process blocked on a full pipe never exits: read then
    while not proc.channel.exit_status_ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc.finish(timeout=120)


def test_output_is_read_to_eof_after_the_exit_status(trusted_device):
    code = (
        "import sys; sys.stdout.write('o' * 2_000_000); sys.stdout.flush(); "
        "sys.stderr.write('e' * 150_000)"
    )
    with Session(trusted_device) as session:
        for attempt in range(20):
            result = _slow_read(session, [trusted_device.python, "-c", code])
            got = (len(result.stdout), len(result.stderr))
            assert got == (2_000_000, 150_000), f"attempt {attempt}: {got}"


def test_large_runner_json_result_arrives_whole(trusted_device, models):
    from edgesdk.devices.benchmark import RUNNER

    with Session(trusted_device) as session:
        session.sftp.put(str(RUNNER), "/tmp/edgesdk-test-runner.py")
        session.sftp.put(str(models["a"]), "/tmp/edgesdk-test-a.tflite")
        argv = [trusted_device.python, "/tmp/edgesdk-test-runner.py"]
        argv += ["--model", "/tmp/edgesdk-test-a.tflite", "--runs", "220000", "--warmup", "0"]
        result = _slow_read(session, argv)
    stats = json.loads(result.text())
    assert len(stats["latencies_ms"]) == 220_000

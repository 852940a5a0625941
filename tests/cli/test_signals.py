"""SIGTERM and SIGINT mid-quantize and mid-compress: the worker stops, temporary folders go,
nothing partial is written, the exit code is 128 + the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EDGESDK = Path(sys.executable).parent / "edgesdk"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(
    ("command", "signum"),
    [("quantize", signal.SIGTERM), ("quantize", signal.SIGINT), ("compress", signal.SIGTERM)],
)
def test_a_signal_stops_the_worker_and_leaves_nothing(
    command, signum, tmp_path, trained_cnn, digits_npz
):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / ("out.tflite" if command == "quantize" else "out.keras")
    argv = [str(EDGESDK), command, str(trained_cnn), "-d", str(digits_npz), "-o", str(out)]
    if command == "compress":
        argv += ["--prune", "0.5", "--epochs", "200"]  # minutes of training nobody will use
    env = {**os.environ, "TMPDIR": str(tmp)}
    cli = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait until the worker child really runs (its job folder exists and it has started)
    assert _wait_for(lambda: _processes_mentioning(str(tmp)) != [], 120), "no worker started"
    workers = _processes_mentioning(str(tmp))
    time.sleep(1.5 if command == "quantize" else 6)  # mid-conversion / mid-training
    cli.send_signal(signum)
    _, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 128 + signum, stderr.decode()[-2000:]
    assert f"stopped by {signal.Signals(signum).name}" in stderr.decode()
    assert _wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 10)
    assert list(tmp.iterdir()) == []  # no job folder, no model copy, no export left
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name != "tmp"] == []


def test_sigterm_stops_the_remote_runner_on_the_device(trusted_device, models, tmp_path):
    """A benchmark over a real sshd: SIGTERM to the CLI also ends the runner on the device."""
    argv = [str(EDGESDK), "benchmark", str(models["big"]), "--device", "pi"]
    argv += ["--runs", "1000000", "--warmup", "0"]  # far longer than the test waits
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    marker = trusted_device.workdir  # this test's device folder: no other runner matches
    assert _wait_for(
        lambda: any("--runs 1000000" in _cmdline(p) for p in _processes_mentioning(marker)), 60
    ), "the runner never started on the device"
    remote = [p for p in _processes_mentioning(marker) if "--runs 1000000" in _cmdline(p)]
    time.sleep(1)
    cli.send_signal(signal.SIGTERM)
    _, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 128 + signal.SIGTERM, stderr.decode()[-2000:]
    assert _wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in remote), 15), (
        stderr.decode()[-3000:]
    )


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""

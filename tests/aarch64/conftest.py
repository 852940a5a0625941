"""The emulated Raspberry Pi (scripts/pi-emu.sh): a Debian arm64 userland under qemu-user with
its own sshd on loopback, brought up once per session (from the cache) and torn down after."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PI_EMU = REPO / "scripts" / "pi-emu.sh"
# captured at import: tests swap HOME for a private one, the cache stays the user's
_ENV = {**os.environ, "HOME": str(Path.home())}


@dataclass(frozen=True)
class EmulatedPi:
    """Where the emulated Pi's sshd listens and how to log in."""

    host: str
    port: int
    user: str
    key: Path
    known_hosts_line: str
    fingerprint: str  # SHA256:... of its host key


def pi_emu(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PI_EMU), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_ENV,
        check=False,
    )


def _fail(what: str, proc: subprocess.CompletedProcess) -> None:
    tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
    pytest.fail(f"{what} (exit {proc.returncode}); run 'sudo bash {PI_EMU} up' to see why:\n{tail}")


@pytest.fixture(scope="session")
def emulated_pi():
    """Bring the emulated Pi up (from the cache: about 8 s; the first build: 4-6 min) and down again.

    Fails (never skips) when it cannot come up: deselect with ``-m 'not aarch64'`` instead.
    """
    if os.geteuid() != 0:
        pytest.fail("the emulated Pi needs root (mount, chroot, binfmt_misc): run as root")
    was_running = pi_emu("status").returncode == 0
    proc = pi_emu("up")
    if proc.returncode != 0:
        _fail("scripts/pi-emu.sh up failed", proc)
    values = dict(re.findall(r"^(PI_\w+)=(.*)$", proc.stdout, re.M))
    known_hosts = Path(values["PI_KNOWN_HOSTS"]).read_text()
    pi = EmulatedPi(
        values["PI_ADDR"], int(values["PI_PORT"]), values["PI_USER"], Path(values["PI_KEY"]),
        known_hosts if known_hosts.endswith("\n") else known_hosts + "\n", values["PI_FINGERPRINT"],
    )  # fmt: skip
    assert pi.host.startswith("127."), pi.host
    yield pi
    if not was_running:  # leave a Pi that someone else started running
        proc = pi_emu("down", timeout=120)
        if proc.returncode != 0:
            _fail("scripts/pi-emu.sh down failed", proc)


@pytest.fixture
def pi_device(ssh_home, emulated_pi):
    """Device 'rpi' in a private inventory, host key trusted, a fresh workdir with a space."""
    from edgesdk.devices.inventory import Device, Inventory, config_home

    workdir = f"/root/edgesdk tests/{uuid.uuid4().hex[:12]}"
    device = Inventory().add(
        Device(
            "rpi",
            emulated_pi.host,
            emulated_pi.port,
            emulated_pi.user,
            str(emulated_pi.key),
            "python3",  # the Pi's PATH leads to /opt/pyenv (both runtimes, numpy<2)
            workdir,
            groups=("pis",),
        )
    )
    config_home().mkdir(parents=True, exist_ok=True)
    (config_home() / "known_hosts").write_text(emulated_pi.known_hosts_line)
    return device


@pytest.fixture(scope="session")
def int8_cnn(tmp_path_factory, trained_cnn, digits_npz):
    """The digits CNN, full-integer int8 (Conv2D, DepthwiseConv2D, Add, GAP, Dense)."""
    out = tmp_path_factory.mktemp("pi") / "cnn_int8.tflite"
    from edgesdk import quantize

    quantize(trained_cnn, digits_npz, out, target="esp32-s3")
    return out


@pytest.fixture(scope="session")
def digits_test_npz(tmp_path_factory, digits):
    _, x_test, _, y_test = digits
    path = tmp_path_factory.mktemp("pidata") / "digits_test.npz"
    np.savez(path, x=x_test[:120], y=y_test[:120])
    return path

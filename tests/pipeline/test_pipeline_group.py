"""`edgesdk run` deploying to a device group: real OpenSSH servers on 127.0.0.2-4. A group
that gains a device re-runs deploy only; a device that fails fails the stage, in one line, and
leaves it unrecorded so the next run deploys again."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import edgesdk
from edgesdk.devices.inventory import Device, Inventory, config_home
from edgesdk.errors import DeviceError

TOML = """
model = "digits.keras"
data = "calib.npy"

[targets.lab]
profile = "raspberry-pi-4"
stages = ["quantize", "deploy", "benchmark"]

[targets.lab.quantize]
samples = 50

[targets.lab.deploy]
group = "lab"
canary = 1
retries = {retries}
connect_timeout = 3.0

[targets.lab.benchmark]
device = "pi-01"
runs = 5
warmup = 1
"""


@pytest.fixture
def lab(ssh_home, tmp_path):
    from sshd import loopback_fleet

    (tmp_path / "fleet").mkdir()
    key, servers = loopback_fleet(tmp_path / "fleet", 3)
    devices = [
        Device(f"pi-{i + 1:02d}", s.host, s.port, "root", str(key), sys.executable,
               str(tmp_path / f"wd{i + 1}"), groups=("lab",) if i < 2 else ())
        for i, s in enumerate(servers)
    ]  # fmt: skip
    Inventory().add_many(devices)
    config_home().mkdir(parents=True, exist_ok=True)
    (config_home() / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
    yield devices, servers, key
    for server in servers:
        server.stop()


def current(device: Device) -> Path:
    return Path(device.workdir) / "current.tflite"


def test_a_changed_group_only_deploys_and_a_failed_device_fails_the_stage(
    lab, trained_cnn, digits, tmp_path
):
    from sshd import restart_sshd

    devices, servers, key = lab
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(trained_cnn, project / "digits.keras")
    np.save(project / "calib.npy", digits[0][:60])
    toml = project / "edgesdk.toml"
    toml.write_text(TOML.format(retries=2))

    first = edgesdk.run(toml)
    assert [(s.name, s.status) for s in first.stages] == [
        ("quantize", "ran"), ("deploy", "ran"), ("benchmark", "ran"),
    ]  # fmt: skip
    folder = project / "edgesdk-run" / "lab"
    model = (folder / "model.tflite").read_bytes()
    deployed = json.loads((folder / "deploy.json").read_text())
    assert deployed["kind"] == "fleet" and deployed["status"] == "all"
    assert [(d["device"], d["phase"]) for d in deployed["devices"]] == [
        ("pi-01", "canary"), ("pi-02", "deploy"),
    ]  # fmt: skip
    assert current(devices[0]).read_bytes() == model == current(devices[1]).read_bytes()
    assert not current(devices[2]).exists()  # not in the group
    assert {s.status for s in edgesdk.run(toml).stages} == {"cached"}

    Inventory().add(Device(**{**devices[2].to_dict(), "groups": ("lab",)}), True)
    grown = edgesdk.run(toml)
    assert [(s.name, s.status, s.reason) for s in grown.stages] == [
        ("quantize", "cached", "inputs, options, profile and tool versions unchanged"),
        ("deploy", "ran", "options changed: member pi-03"),
        ("benchmark", "cached", "inputs, options, profile and tool versions unchanged"),
    ]
    assert current(devices[2]).read_bytes() == model

    servers[1].stop()  # pi-02 is down; a new option makes deploy run again
    toml.write_text(TOML.format(retries=0))
    with pytest.raises(DeviceError, match=r"Deploy to group 'lab' failed on 1 of 3 devices "
                                          r"\(first: pi-02: "):  # fmt: skip
        edgesdk.run(toml)
    state = json.loads((folder / "state.json").read_text())
    assert sorted(state["stages"]) == ["benchmark", "quantize"]  # deploy not recorded
    servers[1] = restart_sshd(servers[1], key)
    again = edgesdk.run(toml)
    assert [(s.name, s.status) for s in again.stages][1] == ("deploy", "ran")
    assert again.stages[1].reason == "no finished run recorded"

"""Fleets of REAL OpenSSH servers on 127.0.0.2 ... 127.0.0.9: group deploy, canaries, status, import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import host_fingerprint
from sshd import restart_sshd
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.devices.deploy import sha256_file
from edgesdk.devices.fleet import FleetOptions
from edgesdk.devices.inventory import Device, Inventory, config_home

runner = CliRunner()
FLEET_SIZE = 8


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Eight sshd, one per loopback address, each with its own host key."""
    from sshd import loopback_fleet

    key, servers = loopback_fleet(tmp_path_factory.mktemp("fleet"), FLEET_SIZE)
    yield key, servers
    for server in servers:
        server.stop()


@pytest.fixture
def lab(ssh_home, fleet, tmp_path):
    key, servers = fleet
    for i, server in enumerate(servers):  # a test may have stopped one
        if server.process.poll() is not None:
            servers[i] = restart_sshd(server, key)
    devices = [
        Device(
            f"pi-{i + 1:02d}",
            s.host,
            s.port,
            "root",
            str(key),
            sys.executable,
            str(tmp_path / f"wd{i + 1:02d}"),
            groups=("lab",),
        )
        for i, s in enumerate(servers)
    ]
    Inventory().add_many(devices)
    config_home().mkdir(parents=True, exist_ok=True)
    (config_home() / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
    return devices, servers, key


def current(device: Device) -> Path:
    return Path(device.workdir) / "current.tflite"


def test_dead_device_does_not_stop_the_others_and_a_rerun_completes_it(lab, models):
    devices, servers, key = lab
    victim = servers[5]
    killed = []

    def on_update(name: str, state: str) -> None:
        if state == "done" and not killed:
            killed.append(name)
            victim.stop()

    result = edgesdk.deploy_group(
        models["a"], "lab", FleetOptions(parallel=2, retries=1, backoff=0.05), on_update=on_update
    )
    assert result.status == "some" and result.exit_code == 3
    assert [o.device for o in result.failed] == ["pi-06"]
    assert result.failed[0].attempts == 2 and "Cannot reach" in result.failed[0].error
    for device in devices:
        assert current(device).exists() == (device.name != "pi-06")
    servers[5] = restart_sshd(victim, key)
    r = runner.invoke(app, ["deploy", str(models["a"]), "--group", "lab", "--json"])
    assert r.exit_code == 0, r.output
    actions = {d["device"]: d["action"] for d in json.loads(r.stdout)["devices"]}
    assert actions.pop("pi-06") == "uploaded" and set(actions.values()) == {"unchanged"}
    assert all(current(d).read_bytes() == models["a"].read_bytes() for d in devices)


def test_failing_canary_stops_before_the_rest_is_touched(lab, models, tmp_path):
    devices, servers, key = lab
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    canary = Device(
        "a-canary",
        servers[0].host,
        servers[0].port,
        "root",
        str(key),
        str(bare / "bin" / "python"),
        str(tmp_path / "canary wd"),
        groups=("rollout",),
    )
    Inventory().add_many(
        [canary, *[Device(**{**d.to_dict(), "groups": ("rollout",)}) for d in devices[1:4]]]
    )
    r = runner.invoke(
        app,
        [
            "deploy",
            str(models["a"]),
            "--group",
            "rollout",
            "--canary",
            "1",
            "--rollback-on-failure",
            "--json",
        ],
    )
    assert r.exit_code == 4, r.output
    result = json.loads(r.stdout)
    by_name = {d["device"]: d for d in result["devices"]}
    assert "no TFLite runtime" in by_name["a-canary"]["error"]
    assert result["stopped"].startswith("a canary failed")
    assert result["rolled_back"] == ["a-canary"] and not current(canary).exists()
    for device in devices[1:4]:
        assert by_name[device.name]["phase"] == "skipped"
        assert not Path(device.workdir).exists()


def test_canary_passes_then_rollout_and_rollback_on_failure(lab, models):
    devices, servers, key = lab
    edgesdk.deploy_group(models["a"], "lab")
    servers[7].stop()
    r = runner.invoke(
        app,
        [
            "deploy",
            str(models["b"]),
            "--group",
            "lab",
            "--canary",
            "2",
            "--rollback-on-failure",
            "--parallel",
            "3",
            "--json",
        ],
    )
    assert r.exit_code == 3, r.output
    result = json.loads(r.stdout)
    canaries = [d for d in result["devices"] if d["phase"] == "canary"]
    assert [d["device"] for d in canaries] == ["pi-01", "pi-02"] and all(
        d["smoke_runtime"] for d in canaries
    )
    assert sorted(result["rolled_back"]) == [f"pi-{i:02d}" for i in range(1, 8)]
    for device in devices[:7]:
        assert current(device).read_bytes() == models["a"].read_bytes()


def test_fleet_status_finds_unreachable_and_disagreeing_devices(lab, models):
    devices, servers, key = lab
    edgesdk.deploy_group(models["a"], "lab")
    edgesdk.deploy(models["b"], "pi-03")
    servers[7].stop()
    r = runner.invoke(app, ["fleet", "status", "--group", "lab", "--json"])
    assert r.exit_code == 3, r.output
    status = json.loads(r.stdout)
    assert status["unreachable"] == ["pi-08"] and status["disagree"] == ["pi-03"]
    assert status["majority_sha256"] == sha256_file(models["a"])
    pi01 = next(d for d in status["devices"] if d["device"] == "pi-01")
    assert pi01["current"]["name"] == "a.tflite" and pi01["current"]["deployed_at"] > 0


def test_group_benchmark_reports_spread_and_outliers(lab, models):
    r = runner.invoke(
        app,
        [
            "benchmark",
            str(models["a"]),
            "--group",
            "lab",
            "--runs",
            "20",
            "--warmup",
            "2",
            "--threads",
            "1",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert len(result["devices"]) == FLEET_SIZE and all(d["ok"] for d in result["devices"])
    assert all(d["p99_ms"] >= d["p50_ms"] > 0 for d in result["devices"])
    assert result["spread"] >= 1.0 and result["median_p50_ms"] > 0
    assert isinstance(result["outliers"], list) and result["throttled"] == []


def test_group_trust_records_only_confirmed_or_listed_fingerprints(lab, tmp_path):
    devices, servers, _ = lab
    (config_home() / "known_hosts").unlink()
    lines = [f"{d.name} {host_fingerprint(s)}" for d, s in zip(devices, servers, strict=True)]
    lines[2] = f"{devices[2].name} SHA256:{'B' * 43}"
    listed = tmp_path / "fingerprints.txt"
    listed.write_text("\n".join(lines) + "\n")
    r = runner.invoke(app, ["device", "trust", "--group", "lab", "--fingerprints", str(listed)])
    assert r.exit_code == 1 and "not trusted pi-03" in r.stdout
    known = (config_home() / "known_hosts").read_text()
    assert known.count("ssh-ed25519") == FLEET_SIZE - 1 and f"[{servers[2].host}]" not in known
    r = runner.invoke(app, ["device", "trust", "--group", "lab"], input="n\n" * FLEET_SIZE)
    assert r.exit_code == 1  # pi-03 is shown and declined
    r = runner.invoke(app, ["device", "trust", "--group", "lab"], input="y\n" * FLEET_SIZE)
    assert (
        r.exit_code == 0 and f"[{servers[2].host}]" in (config_home() / "known_hosts").read_text()
    )
    servers[0].stop()
    r = runner.invoke(app, ["device", "trust", "--group", "lab", "--fingerprints", str(listed)])
    assert r.exit_code == 1 and "not trusted pi-01: Cannot reach" in r.stdout.replace("\n", " ")
    assert "trusted pi-02" in r.stdout  # the others still get through


def test_ansible_inventory_with_two_groups_imports(ssh_home, tmp_path):
    ini = tmp_path / "hosts.ini"
    ini.write_text(
        "[pis]\npi-a ansible_host=127.0.0.2 ansible_port=2201\npi-b ansible_host=127.0.0.3 ansible_user=pi\n\n"
        "[jetsons]\njet-a ansible_host=127.0.0.4 ansible_ssh_private_key_file=~/.ssh/jet\n\n"
        "[pis:vars]\nansible_user=root\nansible_python_interpreter=/usr/bin/python3\n"
    )
    r = runner.invoke(app, ["device", "import", str(ini), "--json"])
    assert r.exit_code == 0, r.output
    assert sorted(json.loads(r.stdout)["added"]) == ["jet-a", "pi-a", "pi-b"]
    devices = {
        d["name"]: d for d in json.loads(runner.invoke(app, ["device", "list", "--json"]).stdout)
    }
    assert devices["pi-a"] == {
        **devices["pi-a"],
        "host": "127.0.0.2",
        "port": 2201,
        "user": "root",
        "python": "/usr/bin/python3",
        "groups": ["pis"],
    }
    assert devices["pi-b"]["user"] == "pi"  # host vars beat group vars
    assert devices["jet-a"]["key"] == str(ssh_home / ".ssh" / "jet") and devices["jet-a"][
        "groups"
    ] == ["jetsons"]
    yml = tmp_path / "hosts.yml"
    yml.write_text(
        "all:\n  children:\n    pis:\n      hosts:\n        pi-a: {ansible_host: 127.0.0.5}\n"
        "    cams:\n      hosts:\n        cam-1: {ansible_host: 127.0.0.6, ansible_port: 2222}\n"
    )
    r = runner.invoke(app, ["device", "import", str(yml), "--json"])
    assert json.loads(r.stdout) == {"added": ["cam-1"], "updated": ["pi-a"]}
    assert [d.name for d in Inventory().group("cams")] == ["cam-1"]
    assert Inventory().get("pi-a").host == "127.0.0.5"
    bad = tmp_path / "bad.ini"
    bad.write_text("[pis\npi-a\n")
    r = runner.invoke(app, ["device", "import", str(bad)])
    assert r.exit_code == 1 and "Cannot read inventory" in r.stderr and "ini plugin" in r.stderr


def test_fail_fast_starts_no_device_after_a_failure(lab, models):
    devices, servers, _ = lab
    servers[0].stop()
    result = edgesdk.deploy_group(
        models["a"], "lab", FleetOptions(parallel=1, retries=0, fail_fast=True)
    )
    assert result.status == "none" and result.exit_code == 4
    assert result.outcomes[0].phase == "deploy" and "Cannot reach" in result.outcomes[0].error
    assert {o.phase for o in result.outcomes[1:]} == {"skipped"}
    assert not any(Path(d.workdir).exists() for d in devices)

"""Fleets on Ansible: `edgesdk fleet ansible` projects run by the real ansible-playbook against
eight REAL OpenSSH servers on 127.0.0.2 ... 127.0.0.9, mixed with edgesdk's own commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEVICE_VENV_PYTHON, edit_history
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.devices.ansible import read_inventory
from edgesdk.devices.deploy import sha256_file
from edgesdk.devices.inventory import Device, Inventory, config_home

pytest.importorskip("ansible.inventory.manager")

runner = CliRunner()
FLEET_SIZE = 8
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
RECAP = re.compile(
    r"^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)",
    re.M,
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Eight sshd, one per loopback address, each with its own host key."""
    from sshd import loopback_fleet

    key, servers = loopback_fleet(tmp_path_factory.mktemp("ansible-fleet"), FLEET_SIZE)
    yield key, servers
    for server in servers:
        server.stop()


def device_python(i: int) -> str:
    """Even devices run the Pi-like venv (tflite-runtime, numpy<2) when it is there."""
    return str(DEVICE_VENV_PYTHON) if i % 2 and DEVICE_VENV_PYTHON.exists() else sys.executable


@pytest.fixture
def lab(ssh_home, fleet, tmp_path):
    from sshd import restart_sshd

    key, servers = fleet
    for i, s in enumerate(servers):  # a test may have stopped one
        if s.process.poll() is not None:
            servers[i] = restart_sshd(s, key)
    devices = [
        Device(
            f"pi-{i + 1:02d}",
            s.host,
            s.port,
            "root",
            str(key),
            device_python(i),
            str(tmp_path / f"wd{i + 1:02d}"),
            groups=("lab",),
        )
        for i, s in enumerate(servers)
    ]
    Inventory().add_many(devices)
    config_home().mkdir(parents=True, exist_ok=True)
    (config_home() / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
    yield devices, servers
    close_ssh_masters(ssh_home)


def close_ssh_masters(home: Path) -> None:
    """Stop the ControlPersist connections ansible-playbook left (by their sockets)."""
    folder = home / ".ansible" / "cp"
    for socket in folder.iterdir() if folder.is_dir() else ():
        subprocess.run(
            ["ssh", "-O", "exit", "-o", f"ControlPath={socket}", "edgesdk-test"],
            capture_output=True,
            timeout=10,
            check=False,
        )


@pytest.fixture
def project(lab, tmp_path) -> dict:
    r = runner.invoke(
        app, ["fleet", "ansible", "--group", "lab", "-o", str(tmp_path / "pb"), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["untrusted"] == [], r.stdout
    return json.loads(r.stdout)


def playbook(
    project: dict, name: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict[str, dict[str, int]]]:
    """Run a playbook as printed by `fleet ansible`; returns exit code, output and the recap."""
    argv = [str(PLAYBOOK), "-i", project["inventory"], str(Path(project["folder"]) / name), *extra]
    env = {**os.environ, "LC_ALL": "C.UTF-8", "ANSIBLE_NOCOLOR": "1", **(env or {})}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    out = proc.stdout + proc.stderr
    keys = ("ok", "changed", "unreachable", "failed", "skipped")
    recap = {
        m[1]: dict(zip(keys, map(int, m.groups()[1:]), strict=True)) for m in RECAP.finditer(out)
    }
    return proc.returncode, out, recap


def task_lines(out: str, task: str) -> list[str]:
    """The per-host lines under one task's banner."""
    block = out.split(f"TASK [edgesdk : {task}]", 1)[1].split("\nTASK [", 1)[0]
    return [
        ln for ln in block.splitlines() if ln.startswith(("ok:", "changed:", "skipping:", "fatal:"))
    ]


def state(device: Device) -> tuple:
    """What a rerun must not touch: history bytes, the model file's inode and mtime."""
    wd = Path(device.workdir)
    model = (wd / "current.tflite").resolve()
    return (wd / "deployments.json").read_bytes(), model.stat().st_ino, model.stat().st_mtime_ns


def fleet_status() -> dict:
    r = runner.invoke(app, ["fleet", "status", "--group", "lab", "--json"])
    assert r.exit_code in (0, 3), r.output
    return json.loads(r.stdout)


def test_project_inventory_reads_back_as_the_same_devices(ssh_home, tmp_path):
    devices = [
        Device("cam-1", "127.0.0.20", None, None, None, "python3", "edge", groups=("lab",)),
        Device(
            "pi-a",
            "127.0.0.21",
            2222,
            "pi",
            str(tmp_path / "k"),
            "/usr/bin/python3",
            "/srv/e",
            target="raspberry-pi-4",
            groups=("lab", "shop"),
        ),
    ]
    Inventory().add_many(devices)
    project = edgesdk.ansible_project("lab", tmp_path / "pb")
    assert project.untrusted == ("cam-1", "pi-a")  # the CLI says: edgesdk device trust first
    (Path.home() / ".ssh" / "known_hosts").write_text("[127.0.0.21]:2222 ssh-ed25519 " + KEY)
    assert edgesdk.ansible_project("lab", tmp_path / "pb").untrusted == ("cam-1",)
    assert {"hosts.yml", "deploy.yml", "rollback.yml", "benchmark.yml"} <= set(project.files)
    assert "roles/edgesdk/library/edgesdk_model.py" in project.files
    runner_copy = tmp_path / "pb" / "roles" / "edgesdk" / "files" / "runner.py"
    assert (
        runner_copy.read_bytes()
        == (Path(edgesdk.__file__).parent / "devices" / "runner.py").read_bytes()
    )
    text = (tmp_path / "pb" / "hosts.yml").read_text()
    assert "StrictHostKeyChecking=yes" in text and str(config_home() / "known_hosts") in text
    assert "ansible_host_key_checking: true" in text and "StrictHostKeyChecking=no" not in text
    back = {d.name: d for d in read_inventory(project.inventory)}
    for d in devices:  # the group is the project's; everything else round-trips
        assert back[d.name] == Device(**{**d.to_dict(), "groups": ("lab",)}), d.name
    assert project.commands["deploy"] == (
        f"ansible-playbook -i {tmp_path}/pb/hosts.yml {tmp_path}/pb/deploy.yml -e model=MODEL.tflite"
    )
    r = runner.invoke(app, ["fleet", "ansible", "--group", "nope", "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "No devices in group 'nope'" in r.stderr


@pytest.mark.ansible
def test_rollout_then_a_rerun_changes_nothing(project, lab, models):
    devices, _ = lab
    rc, out, recap = playbook(project, "deploy.yml", "-e", f"model={models['a']}")
    assert rc == 0, out
    assert sorted(recap) == [d.name for d in devices], out
    assert all(r["changed"] == 3 and r["failed"] == r["unreachable"] == 0 for r in recap.values())
    status = fleet_status()  # edgesdk's own view of what Ansible did
    assert status["majority_sha256"] == sha256_file(models["a"]) and status["disagree"] == []
    assert status["unreachable"] == [] and len(status["devices"]) == FLEET_SIZE
    assert {d["current"]["name"] for d in status["devices"]} == {"a.tflite"}
    before = {d.name: state(d) for d in devices}
    rc, out, recap = playbook(project, "deploy.yml", "-e", f"model={models['a']}")
    assert rc == 0 and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), out
    assert len(recap) == FLEET_SIZE
    upload = task_lines(out, "Upload the model to a temporary name")
    assert len(upload) == FLEET_SIZE and all(ln.startswith("skipping:") for ln in upload), out
    assert {d.name: state(d) for d in devices} == before  # nothing written, nothing sent


@pytest.mark.ansible
def test_mixed_with_edgesdk_and_an_ansible_rollback(project, lab, models):
    devices, _ = lab
    edgesdk.deploy_group(models["a"], "lab")  # edgesdk first, then Ansible on top
    rc, out, recap = playbook(project, "deploy.yml", "-e", f"model={models['b']}")
    assert rc == 0 and {r["changed"] for r in recap.values()} == {2}, out  # upload + switch
    r = runner.invoke(app, ["rollback", "--device", "pi-03", "--json"])  # edgesdk after Ansible
    assert r.exit_code == 0 and json.loads(r.stdout)["current"]["name"] == "a.tflite", r.output
    status = fleet_status()
    assert status["disagree"] == ["pi-03"] and status["majority_sha256"] == sha256_file(models["b"])
    rc, out, recap = playbook(project, "rollback.yml")
    assert rc == 2, out  # pi-03 has one version left: refused there, done everywhere else
    assert (
        recap["pi-03"]["failed"] == 1 and "Nothing to roll back to (1 version(s) deployed)" in out
    )
    assert all(r["changed"] == 1 for name, r in recap.items() if name != "pi-03"), out
    status = fleet_status()
    assert status["majority_sha256"] == sha256_file(models["a"]) and status["disagree"] == []
    for d in devices:
        assert (Path(d.workdir) / "current.tflite").read_bytes() == models["a"].read_bytes()
        history = json.loads((Path(d.workdir) / "deployments.json").read_text())["deployments"]
        assert [h["name"] for h in history] == ["a.tflite"], d.name


@pytest.mark.ansible
def test_down_and_untrusted_devices_do_not_stop_the_others(project, lab, models, tmp_path):
    from sshd import keygen

    devices, servers = lab
    servers[4].stop()  # pi-05 is down
    impostor = keygen(tmp_path / "impostor").with_suffix(".pub").read_text().split()[1]
    lines = [s.known_hosts_line() for s in servers]
    lines[1] = f"[{servers[1].host}]:{servers[1].port} ssh-ed25519 {impostor}\n"  # pi-02: changed
    del lines[2]  # pi-03: never trusted
    (config_home() / "known_hosts").write_text("".join(lines))
    lax = {"ANSIBLE_HOST_KEY_CHECKING": "False"}  # a lax ansible.cfg/environment does not win
    rc, out, recap = playbook(project, "deploy.yml", "-e", f"model={models['a']}", env=lax)
    assert rc == 4, out  # ansible-playbook: some hosts were unreachable
    refused = ("pi-02", "pi-03", "pi-05")
    assert all(recap[n]["unreachable"] == 1 and recap[n]["changed"] == 0 for n in refused), out
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out and "Host key verification failed" in out
    for d in devices:
        if d.name in refused:
            assert not Path(d.workdir).exists(), d.name
        else:
            assert recap[d.name]["changed"] == 3 and recap[d.name]["failed"] == 0, out
            assert (Path(d.workdir) / "current.tflite").read_bytes() == models["a"].read_bytes()
    (config_home() / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
    assert fleet_status()["unreachable"] == ["pi-05"]


@pytest.mark.ansible
def test_benchmark_playbook_brings_the_json_back(project, lab, models, tmp_path):
    devices, _ = lab
    edgesdk.deploy_group(models["a"], "lab")
    some = ("-l", "lab[0:3]")  # four devices (LiteRT and tflite-runtime) keep the CPU cost down
    rc, out, recap = playbook(project, "benchmark.yml", "-e", "edgesdk_runs=5", *some)
    assert rc == 0 and sorted(recap) == [d.name for d in devices[:4]], out
    results = Path(project["folder"]) / "results"
    for i, d in enumerate(devices[:4]):
        data = json.loads((results / f"{d.name}.json").read_text())
        assert data["device"] == d.name and data["model"] == "a.tflite" and data["n"] == 5
        assert data["p99_ms"] >= data["p50_ms"] > 0 and data["outputs_finite"] is True
        expected = "tflite_runtime" if device_python(i) != sys.executable else "ai_edge_litert"
        assert data["runtime"] == expected, (d.name, data["runtime"])
    r = runner.invoke(app, ["report", str(results), "-o", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output  # the JSON that came back is what `report` draws
    table = (tmp_path / "report" / "report.md").read_text()
    assert all(f"| {d.name} | a.tflite |" in table for d in devices[:4]), table
    # a model that is not deployed goes to the bench folder; current.tflite stays
    rc, out, _ = playbook(project, "benchmark.yml", "-e", f"model={models['b']}", "-l", "pi-01")
    assert rc == 0, out
    data = json.loads((results / "pi-01.json").read_text())
    assert data["n"] == 100 and data["model"] == str(models["b"])  # the role's default runs
    bench = Path(devices[0].workdir) / "bench" / "model.tflite"
    assert bench.read_bytes() == models["b"].read_bytes()
    assert (Path(devices[0].workdir) / "current.tflite").read_bytes() == models["a"].read_bytes()


def lookup(marker: Path) -> str:
    """A device field that runs ``touch MARKER`` if Ansible templates it (issue 23, item 2)."""
    return "{{ lookup('pipe','touch " + str(marker) + "') }}"


@pytest.mark.ansible
def test_hostile_device_fields_reach_ansible_as_data(lab, models, tmp_path):
    devices, _ = lab
    markers = tmp_path / "markers"
    markers.mkdir()
    fields = {  # one hostile field per device; pi-07 and pi-08 stay plain
        "pi-01": ("workdir", devices[0].workdir + "-" + lookup(markers / "workdir")),
        "pi-02": ("host", devices[1].host + lookup(markers / "host")),
        "pi-03": ("python", lookup(markers / "python")),
        "pi-04": ("user", lookup(markers / "user")),
        "pi-05": ("key", lookup(markers / "key")),
        "pi-06": ("target", lookup(markers / "target")),
    }
    for name, (field, value) in fields.items():
        Inventory().update(name, **{field: value})
    r = runner.invoke(app, ["fleet", "ansible", "--group", "lab", "-o", str(tmp_path / "pb")])
    assert r.exit_code == 0, r.output
    project = {
        "inventory": str(tmp_path / "pb" / "hosts.yml"),
        "folder": str(tmp_path / "pb"),
    }
    rc, out, recap = playbook(project, "deploy.yml", "-e", f"model={models['a']}")
    assert sorted(p.name for p in markers.iterdir()) == [], out  # nothing ran
    assert rc == 4 and sorted(recap) == [d.name for d in devices], out  # some unreachable
    # the values were taken literally: a folder named with the braces, a target nobody reads
    for name in ("pi-01", "pi-06", "pi-07", "pi-08"):
        assert recap[name]["changed"] == 3 and recap[name]["failed"] == 0, (name, out)
    workdir = Path(fields["pi-01"][1])
    assert (workdir / "current.tflite").read_bytes() == models["a"].read_bytes()
    # a host, user or key with braces cannot connect; an interpreter of that name does not exist
    for name in ("pi-02", "pi-04", "pi-05"):
        assert recap[name]["unreachable"] == 1 and recap[name]["changed"] == 0, (name, out)
    assert recap["pi-03"]["failed"] == 1 and recap["pi-03"]["changed"] == 0, out
    # and edgesdk reads the same literal folder: fleet status agrees with what Ansible did
    status = {d["device"]: d for d in fleet_status()["devices"]}
    assert status["pi-01"]["current"]["sha256"] == sha256_file(models["a"]), status["pi-01"]
    assert "not a valid host name" in status["pi-02"]["error"], status["pi-02"]  # one line
    # reading the kit's inventory back gives the same literal values
    back = {d.name: d for d in read_inventory(project["inventory"])}
    for name, (field, value) in fields.items():
        assert getattr(back[name], field) == value, (name, field)
    # what a device sends back (its history's model name) is data too
    name = lookup(markers / "history")
    edit_history(Path(devices[6].workdir), name=[name])
    rc, out, _ = playbook(project, "benchmark.yml", "-e", "edgesdk_runs=3", "-l", "pi-07")
    assert rc == 0, out
    result = json.loads((Path(project["folder"]) / "results" / "pi-07.json").read_text())
    assert result["model"] == name
    assert sorted(p.name for p in markers.iterdir()) == []

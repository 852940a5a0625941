"""A device's models and history under faults, on a REAL sshd: an unreadable history, two
deploys at once, a full or read-only disk (a real tmpfs), and `~` work folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import add_trusted_device
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.devices.deploy import sha256_file, status
from edgesdk.devices.inventory import Inventory
from edgesdk.devices.lock import DeviceLock
from edgesdk.devices.ssh import Session
from edgesdk.errors import DeviceError

runner = CliRunner()


def history(device: str = "pi") -> list[dict]:
    """The device's history as edgesdk reads it over SSH (a pending change resolved)."""
    with Session(Inventory().resolve(device)) as session:
        return [d.to_dict() for d in status(session)]


def state(workdir: Path) -> tuple[str | None, list[dict]]:
    """What current.tflite names and the history as edgesdk resolves it (on the device)."""
    current = workdir / "current.tflite"
    target = os.path.basename(os.readlink(current)) if current.is_symlink() else None
    return target, history()


def assert_consistent(workdir: Path) -> None:
    target, history = state(workdir)
    if not history:
        assert target is None
        return
    assert target == history[-1]["file"]
    assert sha256_file(workdir / "current.tflite") == history[-1]["sha256"]
    for entry in history:  # every kept version is there for a rollback
        assert sha256_file(workdir / "models" / entry["file"]) == entry["sha256"]
    leftovers = [p.name for p in workdir.rglob(".*") if p.name != ".edgesdk.lock"]
    assert leftovers == []


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs folders (root only: CI runs as root); unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mounted: list[Path] = []

    def mount(size: str, name: str = "disk") -> Path:
        path = tmp_path / name
        path.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
        )
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (1 << 16, 1 << 10, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def test_an_unreadable_history_stops_the_deploy_before_anything_is_deleted(trusted_device, models):
    workdir = Path(trusted_device.workdir)
    edgesdk.deploy(models["a"], "pi")
    edgesdk.deploy(models["b"], "pi")
    kept = sorted(p.name for p in (workdir / "models").iterdir())
    history = workdir / "deployments.json"
    history.unlink()
    history.mkdir()  # unreadable: a folder
    r = runner.invoke(app, ["deploy", str(models["big"]), "--device", "pi"])
    assert r.exit_code == 1 and "Cannot read" in r.stderr and "nothing was changed" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in (workdir / "models").iterdir()) == kept
    assert (workdir / "current.tflite").read_bytes() == models["b"].read_bytes()
    r = runner.invoke(app, ["rollback", "--device", "pi"])
    assert r.exit_code == 1 and "Cannot read" in r.stderr
    assert sorted(p.name for p in (workdir / "models").iterdir()) == kept


def test_a_crash_after_the_switch_leaves_a_history_that_agrees(trusted_device, models):
    """The commit point is the switch: a pending history is resolved by current.tflite."""
    workdir = Path(trusted_device.workdir)
    edgesdk.deploy(models["a"], "pi")
    doc = json.loads((workdir / "deployments.json").read_text())
    a = doc["deployments"][0]
    b = dict(a, sha256=sha256_file(models["b"]), name="b.tflite")
    b["file"] = b["sha256"][:16] + ".tflite"
    (workdir / "models" / b["file"]).write_bytes(models["b"].read_bytes())
    pending = {"deployments": [a], "pending": {"current": b["file"], "deployments": [a, b]}}
    (workdir / "deployments.json").write_text(json.dumps(pending))
    # killed before the switch: the committed history holds
    assert state(workdir)[1] == [a]
    assert_consistent(workdir)
    # killed after the switch: the pending one does
    os.unlink(workdir / "current.tflite")
    os.symlink(f"models/{b['file']}", workdir / "current.tflite")
    assert state(workdir)[1] == [a, b]
    assert_consistent(workdir)
    result = edgesdk.rollback("pi")
    assert result.current.name == "a.tflite" and result.previous.name == "b.tflite"
    assert_consistent(workdir)


def test_two_deploys_at_once_are_serialised_20_rounds(trusted_device, models):
    workdir = Path(trusted_device.workdir)
    for round_ in range(20):
        order = ("a", "b") if round_ % 2 else ("b", "a")
        errors: list[BaseException] = []
        results: dict[str, object] = {}

        def work(name: str, results=results, errors=errors) -> None:
            try:
                results[name] = edgesdk.deploy(models[name], "pi")
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in order]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == [], errors
        target, history = state(workdir)
        assert history[-1]["file"] == target
        assert (workdir / "current.tflite").read_bytes() in (
            models["a"].read_bytes(),
            models["b"].read_bytes(),
        )
        assert_consistent(workdir)


def test_a_held_lock_names_its_holder(trusted_device, models):
    with Session(trusted_device) as session, DeviceLock(session) as lock:
        assert lock.workdir == trusted_device.workdir
        with pytest.raises(DeviceError, match=r"pi is busy: edgesdk pid \d+ of .+ since .+UTC"):
            edgesdk.deploy(models["a"], "pi", lock_wait=0.5)
    assert edgesdk.deploy(models["a"], "pi", lock_wait=0.5).action == "uploaded"


def test_a_full_disk_is_named_and_leaves_nothing(ssh_home, sshd_server, models, tmpfs):
    disk = tmpfs("4m")
    add_trusted_device(sshd_server, str(disk))
    r = runner.invoke(app, ["deploy", str(models["big"]), "--device", "pi"])
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Not enough space on pi for big.tflite: needs" in r.stderr and "free in" in r.stderr
    assert [p.name for p in (disk / "models").iterdir()] == []
    assert_consistent(disk)


def test_a_disk_that_fills_during_the_upload_or_the_history_write(
    ssh_home, sshd_server, models, tmpfs, monkeypatch
):
    from edgesdk.devices.deploy import RemoteStore

    disk = tmpfs("12m")
    add_trusted_device(sshd_server, str(disk))
    edgesdk.deploy(models["a"], "pi")
    commit = RemoteStore.commit
    for when in ("upload", "history"):
        filler: list[Path] = []

        def progress(done: int, total: int, filler=filler, when=when) -> None:
            if not filler and when == "upload" and done > total // 3:
                filler.append(fill(disk))

        def fill_then_commit(
            self, *args, filler=filler, when=when, **kwargs
        ):  # the disk really fills, just then
            if when == "history":
                filler.append(fill(disk))
            return commit(self, *args, **kwargs)

        monkeypatch.setattr(RemoteStore, "commit", fill_then_commit)

        with pytest.raises(DeviceError, match="No space left on device|disk is full") as e:
            edgesdk.deploy(models["big"], "pi", progress=progress)
        assert "\n" not in str(e.value)
        assert ("unchanged" if when == "upload" else "nothing was changed") in str(e.value)
        assert (disk / "current.tflite").read_bytes() == models["a"].read_bytes()
        assert sorted(p.name for p in (disk / "models").iterdir()) == [
            sha256_file(models["a"])[:16] + ".tflite"
        ]
        filler[0].unlink()
        assert_consistent(disk)
    monkeypatch.setattr(RemoteStore, "commit", commit)
    assert edgesdk.deploy(models["big"], "pi").action == "uploaded"
    assert_consistent(disk)


def test_a_read_only_work_folder_is_one_line_everywhere(ssh_home, sshd_server, models, tmpfs):
    disk = tmpfs("16m")
    add_trusted_device(sshd_server, str(disk / "work"))
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    for argv in (
        ["deploy", str(models["a"]), "--device", "pi"],
        ["rollback", "--device", "pi"],
        ["benchmark", str(models["a"]), "--device", "pi", "--runs", "2", "--warmup", "0"],
    ):
        r = runner.invoke(app, argv)
        assert r.exit_code == 1, (argv, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and "Read-only file system" in r.stderr, (
            argv,
            r.stderr,
        )
    # a folder that became read-only after two deploys: rollback and deploy still one line
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    edgesdk.deploy(models["a"], "pi")
    edgesdk.deploy(models["b"], "pi")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    for argv in (["rollback", "--device", "pi"], ["deploy", str(models["big"]), "--device", "pi"]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Read-only file system" in r.stderr
    assert (disk / "work" / "current.tflite").read_bytes() == models["b"].read_bytes()


def test_a_tilde_work_folder_is_the_users_home_like_ansible(ssh_home, sshd_server, models):
    import pwd

    home = Path(pwd.getpwnam("root").pw_dir)  # the SSH user's home on the device
    name = f"edgesdk-tilde-{os.getpid()}"
    add_trusted_device(sshd_server, f"~/{name}")
    try:
        result = edgesdk.deploy(models["a"], "pi")
        assert result.path == str(home / name / "current.tflite")
        assert (home / name / "current.tflite").read_bytes() == models["a"].read_bytes()
        assert not (home / "~").exists()
        assert [d["name"] for d in history()] == ["a.tflite"]
    finally:
        import shutil

        shutil.rmtree(home / name, ignore_errors=True)


def test_the_fault_injection_script_passes_at_every_kill_point():
    """scripts/deploy_faults.py: SIGKILL before, during (uploads) and after every SFTP call and
    remote command of a deploy and a rollback; the device agrees with itself after each."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "deploy_faults.py"
    out = subprocess.run(
        [sys.executable, str(script), "--rounds", "1"], capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    summary = [line for line in out.stdout.splitlines() if line.endswith(" failures")]
    runs, killed = int(summary[-1].split()[0]), int(summary[-1].split()[2])
    assert summary[-1] == f"{runs} runs, {killed} killed at their step, 0 failures"
    assert runs >= 60 and killed >= 55
    assert "(sftp.put) during: killed=yes ok" in out.stdout

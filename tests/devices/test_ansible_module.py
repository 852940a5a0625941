"""The edgesdk_model Ansible module run as Ansible runs it on a device (a Python process with its
arguments in a JSON file): verified switch, kept versions, rollback, check mode, clean failures."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgesdk.devices.ansible_project import KIT

pytest.importorskip("ansible.module_utils.basic")

MODULE = KIT / "roles" / "edgesdk" / "library" / "edgesdk_model.py"


def run(tmp_path: Path, **args: object) -> dict:
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(path)], capture_output=True, text=True, timeout=60
    )
    result = json.loads(proc.stdout)
    assert (proc.returncode != 0) == bool(result.get("failed")), proc.stderr
    return result


def upload(workdir: Path, data: bytes) -> str:
    """What the copy task does: the model's bytes under a temporary name in models/."""
    (workdir / "models").mkdir(parents=True, exist_ok=True)
    tmp = workdir / "models" / f".upload-{hashlib.sha1(data).hexdigest()[:12]}"
    tmp.write_bytes(data)
    return str(tmp)


def deploy(tmp_path: Path, workdir: Path, data: bytes, name: str, check: bool = False) -> dict:
    sha = hashlib.sha256(data).hexdigest()
    state = run(tmp_path, workdir=str(workdir), state="query", sha256=sha)
    assert state["changed"] is False
    args = {"workdir": str(workdir), "state": "present", "sha256": sha, "name": name}
    if state["needs_upload"]:
        args["upload"] = upload(workdir, data)
    if check:
        args["_ansible_check_mode"] = True
    return run(tmp_path, **args)


def history(workdir: Path) -> list[dict]:
    return json.loads((workdir / "deployments.json").read_text())["deployments"]


def test_keeps_three_versions_switches_and_rolls_back(tmp_path):
    workdir = tmp_path / "wd"
    models = [bytes([i]) * (100 + i) for i in range(4)]
    actions = [deploy(tmp_path, workdir, m, f"m{i}.tflite")["action"] for i, m in enumerate(models)]
    assert actions == ["uploaded"] * 4
    files = sorted(p.name for p in (workdir / "models").iterdir())
    assert files == sorted(f"{hashlib.sha256(m).hexdigest()[:16]}.tflite" for m in models[1:])
    assert [h["name"] for h in history(workdir)] == ["m1.tflite", "m2.tflite", "m3.tflite"]
    assert os.readlink(workdir / "current.tflite") == f"models/{history(workdir)[-1]['file']}"
    assert (workdir / "current.tflite").read_bytes() == models[3]
    assert deploy(tmp_path, workdir, models[3], "m3.tflite")["action"] == "unchanged"
    back = run(tmp_path, workdir=str(workdir), state="rollback")
    assert back["changed"] and back["current"]["name"] == "m2.tflite"
    assert (workdir / "current.tflite").read_bytes() == models[2]
    # m3's file is still there: deploying it again switches without an upload
    again = deploy(tmp_path, workdir, models[3], "m3.tflite")
    assert again["action"] == "switched" and again["previous"]["name"] == "m2.tflite"
    assert not [p for p in (workdir / "models").iterdir() if p.name.startswith(".upload-")]


def test_sha256_mismatch_leaves_the_deployed_model(tmp_path):
    workdir = tmp_path / "wd"
    deploy(tmp_path, workdir, b"good model", "good.tflite")
    before = history(workdir)
    tmp = upload(workdir, b"bytes damaged on the way")
    result = run(
        tmp_path,
        workdir=str(workdir),
        state="present",
        sha256=hashlib.sha256(b"the model that was sent").hexdigest(),
        name="new.tflite",
        upload=tmp,
    )
    assert result["failed"] and "sha256 mismatch on the device" in result["msg"]
    assert "the deployed model is unchanged" in result["msg"] and not Path(tmp).exists()
    assert history(workdir) == before and (workdir / "current.tflite").read_bytes() == b"good model"


def test_check_mode_and_clean_failures(tmp_path):
    workdir = tmp_path / "wd"
    dry = deploy(tmp_path, workdir, b"model", "m.tflite", check=True)
    assert (
        dry["changed"] and dry["action"] == "uploaded" and not (workdir / "current.tflite").exists()
    )
    missing = str(workdir / "models" / ".upload-never-sent")  # --check: the copy did nothing
    sha = hashlib.sha256(b"model").hexdigest()
    args = {"state": "present", "sha256": sha, "name": "m.tflite", "upload": missing}
    dry = run(tmp_path, workdir=str(workdir), _ansible_check_mode=True, **args)
    assert (
        dry["changed"] and dry["action"] == "uploaded" and not (workdir / "current.tflite").exists()
    )
    real = run(tmp_path, workdir=str(workdir), **args)  # without --check it is an error
    assert real["failed"] and real["msg"].startswith("No uploaded file at")
    one = run(tmp_path, workdir=str(workdir), state="rollback")
    assert one["failed"] and one["msg"] == "Nothing to roll back to (0 version(s) deployed)"
    bad = run(tmp_path, workdir=str(workdir), state="query", sha256="abc")
    assert bad["failed"] and "expected 64 hex digits" in bad["msg"]
    (workdir / "deployments.json").write_text('{"deployments": [{"sha256": "x"}]}')
    corrupt = run(tmp_path, workdir=str(workdir), state="rollback")
    assert corrupt["failed"] and corrupt["msg"].startswith("Corrupt deployments.json")


def test_module_is_python_38_syntax():
    """It runs on the device's Python: nothing newer than 3.8 (the oldest ansible-core 2.19
    targets)."""
    ast.parse(MODULE.read_text(), feature_version=(3, 8))
    with pytest.raises(SyntaxError):  # the check can fail: a 3.10 match statement
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 8))

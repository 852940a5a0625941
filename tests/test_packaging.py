"""The built wheel, installed into a fresh virtual environment that cannot see the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run inside the fresh venv: import every module, check where it came from, check the verbs.
_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import edgesdk
modules = []
for info in pkgutil.walk_packages(edgesdk.__path__, "edgesdk."):
    if info.name != "edgesdk.devices.runner":  # the on-device script imports no edgesdk
        importlib.import_module(info.name)
    modules.append(info.name)
shadowed = [v for v in edgesdk._API if not callable(getattr(edgesdk, v))]
print(json.dumps({"file": edgesdk.__file__, "modules": modules, "shadowed": shadowed}))
"""


def source_modules() -> set[str]:
    """Every module of the package in the source tree, as dotted names."""
    names = set()
    for path in (ROOT / "edgesdk").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv holding only the built wheel; the project venv's dependencies through a .pth."""
    tmp = tmp_path_factory.mktemp("wheel")
    # build from a clean copy: a stale build/ folder in a checkout leaks old modules into wheels
    source = tmp / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "edgesdk-demo"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp / "dist").glob("edgesdk-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # dependencies only: a plain path line, so the editable finder of the project venv stays off
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no source tree
    subprocess.run(
        [venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        env=clean,
    )
    return venv


def _run(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd / "config")}
    env.pop("PYTHONPATH", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_holds_every_module_and_the_profiles(installed, tmp_path):
    wheel = next(installed.parent.glob("dist/edgesdk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(
        m
        for m in source_modules()
        if f"{m.replace('.', '/')}.py" not in names
        and f"{m.replace('.', '/')}/__init__.py" not in names
    )
    assert not missing, f"the wheel lacks {missing}"
    assert "edgesdk/core/profile_data/arduino-nano-33-ble.toml" in names
    templates = {"Makefile", "main.cc", "startup.c", "linker.ld.in", "tflm_lib.mk", "icount.c"}
    assert {f"edgesdk/firmware/templates/{t}" for t in templates} <= names


def test_installed_wheel_runs_the_cli(installed, tmp_path):
    r = _run(installed, str(installed / "bin/edgesdk"), "targets", "list", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = {t["name"] for t in json.loads(r.stdout)}
    assert {"arduino-nano-33-ble", "raspberry-pi-4", "esp32-s3"} <= names
    r = _run(installed, str(installed / "bin/edgesdk"), "device", "list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout


def test_installed_wheel_imports_every_module_and_keeps_the_verbs(installed, tmp_path):
    r = _run(installed, str(installed / "bin/python"), "-c", _IMPORT_ALL, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    found = json.loads(r.stdout.strip().splitlines()[-1])
    assert found["file"].startswith(str(installed)), found["file"]  # not the source tree
    assert set(found["modules"]) == source_modules() - {"edgesdk"}
    assert found["shadowed"] == []

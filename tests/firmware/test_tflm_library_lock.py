"""One TFLite Micro library build per cache key at a time, across processes: real processes,
the real make and arm-none-eabi-g++ on a few of the kit's sources, a fresh cache folder."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesdk.errors import FirmwareError

REPO = Path(__file__).resolve().parents[2]

# One process: wait for the start signal, build (source files from the kit, few of them) into
# the given cache, print what it got. make runs through a wrapper that counts the builds.
BUILDER = r"""
import dataclasses, hashlib, json, logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
from edgesdk.firmware.cores import core_for
from edgesdk.firmware.tflm.emulation import REPO_ROOT
from edgesdk.firmware.tflm.library import (BuildType, TflmSource, build_library, locate_source,
                                           open_source)
from edgesdk.firmware.toolchain import find_toolchain

cache, make, ready, go = (Path(a) for a in sys.argv[1:5])
toolchain = dataclasses.replace(find_toolchain(), make=make)
kit = open_source(locate_source(REPO_ROOT))
source = TflmSource(kit.root, "lock-test:" + kit.identity, kit.sources[:4])
core = core_for("cortex-m0plus", "none", "microbit", "cortex-m0")
ready.touch()
while not go.exists():
    time.sleep(0.005)
lib = build_library(source, core, toolchain, BuildType.RELEASE, cache=cache)
print(json.dumps({"key": lib.key, "path": str(lib.path), "reused": lib.reused,
                  "waited": getattr(lib, "waited_seconds", None),  # None: an edgesdk without it
                  "sha256": hashlib.sha256(lib.path.read_bytes()).hexdigest()}))
"""


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    from edgesdk.firmware.tflm.emulation import REPO_ROOT
    from edgesdk.firmware.tflm.library import locate_source, open_source
    from edgesdk.firmware.toolchain import find_toolchain

    try:
        find_toolchain()
        open_source(locate_source(REPO_ROOT))  # unpacked once, outside the tests' caches
    except FirmwareError as e:
        pytest.skip(f"firmware emulation unavailable: {e}")


def _make_wrapper(folder: Path, name: str = "make", delay: int = 0) -> tuple[Path, Path]:
    """A make that appends a line to builds.txt (one line per build), sleeps ``delay`` seconds
    (a build that is surely still running when the test acts), then runs the real make."""
    import shutil

    count = folder / "builds.txt"
    wrapper = folder / name
    sleep = f"sleep {delay}\n" if delay else ""
    wrapper.write_text(
        f'#!/bin/sh\necho "$$" >> {count}\n{sleep}exec {shutil.which("make")} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, count


def _start(tmp_path: Path, name: str, cache: Path, make: Path, go: Path, **kw):
    ready = tmp_path / f"{name}.ready"
    err = (tmp_path / f"{name}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILDER, str(cache), str(make), str(ready), str(go)],
        stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)}, **kw,
    )  # fmt: skip
    return proc, ready


def _wait_for(check, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _result(proc: subprocess.Popen, tmp_path: Path, name: str) -> dict:
    out, _ = proc.communicate(timeout=600)
    log = (tmp_path / f"{name}.log").read_text()
    assert proc.returncode == 0, log[-3000:]
    return {**json.loads(out.strip().splitlines()[-1]), "log": log}


def test_two_processes_that_need_the_same_library_build_it_once(tmp_path):
    """Before: both built it, each in its own .tmp- folder (two lines in builds.txt)."""
    cache = tmp_path / "cache"
    make, count = _make_wrapper(tmp_path)
    go = tmp_path / "go"
    started = [_start(tmp_path, name, cache, make, go) for name in ("a", "b")]
    for proc, ready in started:
        _wait_for(lambda ready=ready, proc=proc: ready.exists() or proc.poll() is not None,
                  "a builder to start")  # fmt: skip
    go.touch()  # both look at the empty cache at the same moment
    a, b = (_result(proc, tmp_path, name) for (proc, _), name in zip(started, "ab", strict=True))
    assert len(count.read_text().splitlines()) == 1, "make ran more than once"
    assert a["key"] == b["key"] and a["path"] == b["path"] and a["sha256"] == b["sha256"]
    builder, waiter = (a, b) if not a["reused"] else (b, a)
    assert not builder["reused"] and waiter["reused"] and waiter["waited"] > 0
    assert "waiting for it, then using its library" in waiter["log"]
    assert "built by another process" in waiter["log"]
    entries = sorted(p.name for p in (cache / "tflm").iterdir())
    assert entries == [a["key"], f"{a['key']}.lock"]  # no .tmp- folder left


def test_a_killed_builder_does_not_block_the_next_one(tmp_path):
    """The kernel drops the lock of a killed process; the waiter then builds, and removes the
    killed build's half-written folder."""
    cache = tmp_path / "cache"
    slow, count = _make_wrapper(tmp_path, "slow-make", delay=120)
    make, _ = _make_wrapper(tmp_path)
    go = tmp_path / "go"
    go.touch()
    first, _ = _start(tmp_path, "first", cache, slow, go, start_new_session=True)
    _wait_for(lambda: count.exists() or first.poll() is not None, "the first build to start")
    assert first.poll() is None, (tmp_path / "first.log").read_text()
    second, _ = _start(tmp_path, "second", cache, make, go)
    _wait_for(lambda: "waiting for it" in (tmp_path / "second.log").read_text(),
              "the second process to wait")  # fmt: skip
    os.killpg(first.pid, signal.SIGKILL)  # the first builder, its make and its compilers
    first.wait(timeout=60)
    result = _result(second, tmp_path, "second")
    assert not result["reused"] and result["waited"] > 0
    assert len(count.read_text().splitlines()) == 2  # the killed build, then the second's
    entries = sorted(p.name for p in (cache / "tflm").iterdir())
    assert entries == [result["key"], f"{result['key']}.lock"]
    assert hashlib.sha256(Path(result["path"]).read_bytes()).hexdigest() == result["sha256"]

"""A target's run state (what each finished stage read, resolved and wrote, with its
measurements), written atomically after every stage, and the lock that keeps two runs apart."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic
from edgesdk.errors import PipelineError

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
LOCK_FILE = ".edgesdk-run.lock"
SCHEMA_VERSION = 1

Record = dict[str, Any]  # one finished stage: fingerprint, outputs, metrics, seconds


def load_state(folder: Path) -> dict[str, Record]:
    """The finished stages recorded in ``folder`` (none when the file is missing or unreadable:
    a state that cannot be trusted re-runs everything)."""
    try:
        data = json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        return {}
    stages = data.get("stages")
    return stages if isinstance(stages, dict) else {}


def save_state(folder: Path, stages: dict[str, Record]) -> None:
    """Write the state atomically (a run killed mid-write leaves the previous one)."""
    data = {"kind": "pipeline-state", "schema_version": SCHEMA_VERSION, "stages": stages}
    write_atomic(folder / STATE_FILE, json.dumps(data, indent=2, sort_keys=True) + "\n")


def why_stale(record: Record | None, fingerprint: Record, outputs: dict[str, str | None]) -> str:
    """Why a stage must run again ("" when its record still holds), in a few words."""
    if record is None:
        return "no finished run recorded"
    old = record.get("fingerprint", {})
    for part in ("inputs", "options", "profile", "versions"):
        before, now = old.get(part), fingerprint[part]
        if before != now:
            if isinstance(before, dict) and isinstance(now, dict):
                keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
                return f"{part} changed: {', '.join(keys)}"
            return f"{part} changed"
    if record.get("outputs") != outputs:
        missing = sorted(k for k, v in outputs.items() if v is None)
        if missing:
            return f"output missing: {', '.join(missing)}"
        return "outputs changed since the run"
    return ""


@contextlib.contextmanager
def run_lock(out: Path, wait: float = 0.0) -> Iterator[Path]:
    """Hold the folder's run lock (an flock: released when the process ends, even killed),
    waiting up to ``wait`` seconds for another run to release it.

    Raises:
        PipelineError: another run still holds the lock after ``wait`` seconds (retryable).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PipelineError(
                        f"Another run is using {out} (it holds {path}; waited {wait:g} s for it)",
                        what=str(out),
                        retryable=True,
                    ) from None
                log.info("waiting for the run holding %s", path)
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing releases the lock

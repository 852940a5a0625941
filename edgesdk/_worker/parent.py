"""Runs a worker task in a child process and turns its failures into EdgeSdkErrors."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesdk._worker import protocol
from edgesdk._worker.tasks import TASKS, Message
from edgesdk.errors import EdgeSdkError, WorkerCrashedError

log = logging.getLogger(__name__)

_NOISE = (
    "WARNING: All log messages before absl",
    "oneDNN",
    "cpu_feature_guard",
    "rebuild TensorFlow",
)


def _tail(log_file: Path, lines: int = 40) -> str:
    try:
        text = log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _last_meaningful_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line and not any(n in line for n in _NOISE):
            return line[:300]
    return ""


def _poll_progress(
    proc: subprocess.Popen[bytes],
    progress_file: Path,
    on_progress: Callable[[protocol.ProgressEvent], None],
) -> None:
    """Pass each progress line the worker appends to ``on_progress`` until the worker ends."""
    offset = 0
    while True:
        done = proc.poll() is not None
        if progress_file.is_file():
            with progress_file.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            offset += end
            for line in chunk[:end].splitlines():
                on_progress(json.loads(line))
        if done:
            return
        time.sleep(0.2)


_LIVE: set[subprocess.Popen] = set()  # children running now (any thread)
_LOCK = threading.Lock()


def kill_children() -> int:
    """Kill every worker child still running (on SIGTERM/SIGINT); returns how many."""
    with _LOCK:
        live = list(_LIVE)
    for proc in live:
        try:
            proc.kill()
        except OSError:
            pass
    return len(live)


# Over 80 lines: the whole life of one child (job file, environment, start, progress,
# signals, result or crash) in one place, so no path can skip the cleanup.
def run_task(
    request: Message,
    jobdir: Path,
    what: str,
    env_extra: dict[str, str] | None = None,
    on_progress: Callable[[protocol.ProgressEvent], None] | None = None,
) -> Any:
    """Run the task of ``request`` in ``python -m edgesdk._worker.child`` and return its
    result (the task's result class, or its dict where the table gives none).

    Args:
        request: one of the request dataclasses of ``edgesdk._worker.tasks``.
        jobdir: a private folder for the job's files.
        what: what is being worked on, for error messages.
        env_extra: environment variables the worker needs (set before TensorFlow loads).
        on_progress: called with each event the worker appends to ``progress.jsonl``.

    Raises:
        EdgeSdkError: the error the task raised, re-created; WorkerCrashedError when the child
            crashed or died (its log in ``details["log"]``).
    """
    task = type(request).task
    spec = TASKS.get(task)
    label = spec.label if spec else task
    job = {"task": task, "args": request.to_dict()}
    (jobdir / protocol.JOB).write_text(json.dumps(job), encoding="utf-8")
    log_file = jobdir / protocol.LOG
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.update(env_extra or {})
    # the child's own temporary files live in the job folder, which the parent always removes
    # (a killed child cannot clean up after itself)
    (jobdir / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(jobdir / "tmp")
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", protocol.CHILD_MODULE, str(jobdir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        with _LOCK:
            _LIVE.add(proc)
        try:
            if on_progress is not None:
                _poll_progress(proc, jobdir / protocol.PROGRESS, on_progress)
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            with _LOCK:
                _LIVE.discard(proc)
    tail = _tail(log_file)
    log.debug("worker %s exited with %s; log tail:\n%s", task, proc.returncode, tail)
    result_file = jobdir / protocol.RESULT
    if result_file.is_file():
        payload = json.loads(result_file.read_text(encoding="utf-8"))
        if payload["ok"]:
            result = payload["result"]
            return spec.result.from_dict(result) if spec and spec.result else result
        error = payload["error"]
        if error["type"] == "internal":
            raise WorkerCrashedError(
                f"Internal error in the {label} while working on {what}: {error['message']}",
                what=what,
                exit_code=proc.returncode,
                details={"log": tail},
            )
        raise EdgeSdkError.from_dict(error)
    name = None
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        message = f"The {label} crashed ({name}) while working on {what}; nothing was written"
    else:
        detail = _last_meaningful_line(tail)
        message = f"The {label} for {what} exited with code {proc.returncode} and no result" + (
            f" (last message: {detail})" if detail else ""
        )
    raise WorkerCrashedError(
        message,
        signal=name,
        exit_code=proc.returncode,
        what=what,
        value=proc.returncode,
        details={"log": tail},
    )

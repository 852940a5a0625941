"""The device's lock: one tool at a time changes a work folder, and it names who holds it.

A small program on the device (its own Python, standard library only) expands the work folder
as the Ansible module does (``~`` and relative paths are the SSH user's home), creates it,
takes ``flock(2)`` on ``WORKDIR/.edgesdk.lock``, reports the free space and then holds the lock
until its stdin closes: when edgesdk ends, or its connection dies (a killed CLI), the lock is
released by the device's kernel, so it never goes stale.
"""

from __future__ import annotations

import getpass
import json
import os
import posixpath
import socket
import time
from typing import Any

from edgesdk.devices.layout import LOCK, MODELS
from edgesdk.devices.ssh import Session
from edgesdk.errors import DeviceError

# The work folder exactly as the Ansible module resolves it (os.path on the device).
_EXPAND = (
    "import os, sys\n"
    "w = os.path.expanduser(sys.argv[1])\n"
    "if not os.path.isabs(w):\n"
    "    w = os.path.join(os.path.expanduser('~'), w)\n"
    "w = os.path.normpath(w)\n"
)

_LOCKER = _EXPAND + (
    "import fcntl, json, time\n"
    "def say(obj):\n"
    "    sys.stdout.write(json.dumps(obj) + '\\n')\n"
    "    sys.stdout.flush()\n"
    "try:\n"
    f"    os.makedirs(os.path.join(w, {MODELS!r}), exist_ok=True)\n"
    f"    fd = os.open(os.path.join(w, {LOCK!r}), os.O_RDWR | os.O_CREAT, 0o644)\n"
    "except OSError as e:\n"
    "    say({'error': e.strerror or str(e), 'path': e.filename or w})\n"
    "    sys.exit(4)\n"
    "deadline = time.time() + float(sys.argv[3])\n"
    "while True:\n"
    "    try:\n"
    "        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    "        break\n"
    "    except OSError:\n"
    "        if time.time() >= deadline:\n"
    "            os.lseek(fd, 0, 0)\n"
    "            say({'busy': os.read(fd, 300).decode('utf-8', 'replace')})\n"
    "            sys.exit(3)\n"
    "        time.sleep(0.1)\n"
    "try:\n"
    "    os.ftruncate(fd, 0)\n"
    "    os.pwrite(fd, sys.argv[2].encode('utf-8'), 0)\n"
    "except OSError:\n"
    "    pass  # a full disk: the lock holds all the same, only its owner goes unnamed\n"
    "st = os.statvfs(w)\n"
    "say({'locked': w, 'free': st.f_bavail * st.f_frsize})\n"
    "sys.stdin.read()\n"
)


def owner() -> str:
    """Who takes the lock, as the device will show it to a second deploy."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return f"edgesdk pid {os.getpid()} of {user}@{socket.gethostname()} since {stamp}"


def remote_workdir(session: Session) -> str:
    """The device's absolute work folder (``~`` and relative paths from the user's home)."""
    device = session.device
    workdir = device.workdir
    if workdir.startswith("/"):
        return posixpath.normpath(workdir)  # as the device's os.path.normpath gives it
    code = _EXPAND + "print(w)"
    result = session.run([device.python, "-S", "-c", code, workdir], timeout=60, check=False)
    lines = result.text().strip().splitlines()
    if result.exit_code != 0 or not lines:
        tail = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise DeviceError(
            f"{device.python} does not run on {device.name} (exit {result.exit_code}): {tail}"
        )
    return posixpath.normpath(lines[-1])


class DeviceLock:
    """``with DeviceLock(session, wait) as lock:`` ``lock.workdir`` (absolute), ``lock.free``
    (bytes free there when the lock was taken).

    Raises:
        DeviceError: another tool holds the lock past ``wait`` s (named), or the work folder
            cannot be created.
    """

    def __init__(self, session: Session, wait: float = 60.0):
        self.session = session
        self.wait = wait
        self.workdir = ""
        self.free = 0
        self._proc: Any = None

    def __enter__(self) -> DeviceLock:
        device = self.session.device
        argv = [device.python, "-S", "-c", _LOCKER, device.workdir, owner(), str(self.wait)]
        proc = self.session.start(argv)
        line = proc.read_line(timeout=self.wait + 60)
        try:
            reply = json.loads(line.decode("utf-8")) if line else {}
        except ValueError:
            reply = {}
        if "locked" in reply:
            self._proc = proc
            self.workdir, self.free = str(reply["locked"]), int(reply["free"])
            return self
        result = proc.finish(timeout=30, check=False)
        if "busy" in reply:
            holder = reply["busy"].strip() or "a tool that did not name itself"
            raise DeviceError(
                f"{device.name} is busy: {holder} is changing its work folder "
                f"(waited {self.wait:.0f} s); try again when it has finished"
            )
        if "error" in reply:
            raise DeviceError(
                f"Cannot use the work folder {reply['path']} on {device.name}: "
                f"{reply['error']}; nothing was changed",
                retryable=False,
            )
        tail = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise DeviceError(
            f"{device.python} does not run on {device.name} (exit {result.exit_code}): {tail}"
        )

    def __exit__(self, *exc: Any) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.send(b"", close=True)
            proc.finish(timeout=30, check=False)
        except Exception:  # noqa: BLE001 - the connection is gone: so is the device's lock
            proc.abort()

"""Deploy models to a device: verified upload, atomic switch, kept versions, rollback.

The device layout and its crash-safe transaction are specified in ``devices/layout.py``; every
change runs under the device's lock (``DeviceLock``), so two deploys never interleave.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.devices import layout
from edgesdk.devices.layout import CURRENT, HISTORY, MODELS
from edgesdk.devices.lock import DeviceLock, remote_workdir
from edgesdk.devices.ssh import Session
from edgesdk.errors import DeviceError

log = logging.getLogger(__name__)

# room kept free beside the model: the history file, its temporary copy and the symlink
HEADROOM = 1 << 20

# sha256 of the file named by argv[1], or (so it can start before an upload ends) by stdin
_SHA256 = (
    "import hashlib, sys\n"
    "path = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.readline().rstrip('\\n')\n"
    "h = hashlib.sha256()\n"
    "with open(path, 'rb') as f:\n"
    "    for block in iter(lambda: f.read(1 << 20), b''):\n"
    "        h.update(block)\n"
    "print(h.hexdigest())\n"
)


# prints why WORKDIR (argv[1]) cannot be written (strerror), or nothing when it can
_PROBE_WRITE = (
    "import os, sys\n"
    "probe = os.path.join(sys.argv[1], '.edgesdk-probe-%d' % os.getpid())\n"
    "try:\n"
    "    os.makedirs(sys.argv[1], exist_ok=True)\n"
    "    with open(probe, 'wb') as f:\n"
    "        f.write(b'\\0' * 4096)\n"
    "        f.flush()\n"
    "        os.fsync(f.fileno())\n"
    "    os.remove(probe)\n"
    "except OSError as e:\n"
    "    try:\n"
    "        os.remove(probe)\n"
    "    except OSError:\n"
    "        pass\n"
    "    print(e.strerror or e)\n"
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def _why(e: BaseException) -> str:
    """An OSError's reason in words (paramiko's SFTP errors often carry only "Failure")."""
    if isinstance(e, EOFError) or not str(e).strip():
        return "the connection was lost"
    return getattr(e, "strerror", None) or str(e)


@dataclass(frozen=True)
class Deployment:
    """One deployed model version on a device."""

    sha256: str
    name: str
    size: int
    file: str
    deployed_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeployResult(JsonResult):
    """What ``deploy`` or ``rollback`` did."""

    device: str
    action: str  # "uploaded", "switched" (file was there), "unchanged", "rolled back"
    current: Deployment
    previous: Deployment | None
    bytes_sent: int
    seconds: float
    path: str

    @property
    def throughput_mb_s(self) -> float:
        return self.bytes_sent / 1e6 / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "action": self.action,
            "current": self.current.to_dict(),
            "previous": self.previous.to_dict() if self.previous else None,
            "bytes_sent": self.bytes_sent,
            "seconds": round(self.seconds, 3),
            "throughput_mb_s": round(self.throughput_mb_s, 2),
            "path": self.path,
        }


class RemoteStore:
    """The device's workdir, laid out as ``devices/layout.py`` specifies."""

    def __init__(self, session: Session, workdir: str | None = None):
        self.session = session
        self.sftp = session.sftp
        self.name = session.device.name
        self.workdir = workdir or remote_workdir(session)
        self.models = posixpath.join(self.workdir, MODELS)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.workdir, *parts)

    @contextmanager
    def errors(self, doing: str, changed: str = "nothing was changed") -> Iterator[None]:
        """SFTP failures as one DeviceError line: what was being done, why, what changed."""
        try:
            yield
        except (OSError, EOFError) as e:
            reason = _why(e)
            if reason == "Failure":  # OpenSSH's sftp-server says only that for EROFS, ENOSPC...
                reason = self.why_unwritable() or reason
            raise DeviceError(f"Cannot {doing} on {self.name}: {reason}; {changed}") from e

    def why_unwritable(self) -> str | None:
        """Why the work folder cannot be written, in the device's own words (None: it can)."""
        device = self.session.device
        try:
            out = self.session.run(
                [device.python, "-S", "-c", _PROBE_WRITE, self.workdir], timeout=60, check=False
            )
        except Exception:  # noqa: BLE001 - best effort: the connection may be gone
            return None
        return out.text().strip() or None

    def ensure_dirs(self) -> None:
        parts = self.models.split("/")
        with self.errors(f"create the work folder {self.models}"):
            for i in range(1, len(parts) + 1):
                path = "/".join(parts[:i])
                if path and not self.exists(path):
                    self.sftp.mkdir(path)

    def exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
            return True
        except OSError:
            return False

    def _read_document(self) -> Any:
        """deployments.json parsed; None when there is none. Any other read error stops the
        caller before anything is changed or deleted."""
        path = self.path(HISTORY)
        try:
            with self.sftp.open(path, "r") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        except (OSError, EOFError) as e:
            raise DeviceError(
                f"Cannot read {path} on {self.name} ({_why(e)}); nothing was changed or deleted: "
                "repair or move that file (it must be a JSON file edgesdk wrote)"
            ) from e
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise DeviceError(f"Corrupt {HISTORY} on {self.name}: {e}") from e

    def history(self) -> list[Deployment]:
        """The history that agrees with ``current.tflite`` (a crashed change is resolved)."""
        data = self._read_document()
        if data is None:
            return []
        try:
            entries = layout.resolve(data, self.current_target())
        except layout.LayoutError as e:
            raise DeviceError(f"Corrupt {HISTORY} on {self.name}: {e}") from e
        return [Deployment(**e) for e in entries]

    def write_history(
        self,
        entries: list[Deployment],
        pending: list[Deployment] | None = None,
        pending_current: str | None = None,
    ) -> None:
        """Replace deployments.json atomically; a failed write leaves no temporary file."""
        doc = layout.document(
            [e.to_dict() for e in entries],
            None if pending is None else [e.to_dict() for e in pending],
            pending_current,
        )
        payload = json.dumps(doc, indent=2).encode()
        tmp = self.path(f".{HISTORY}.{secrets.token_hex(4)}")
        try:
            with self.sftp.open(tmp, "w") as f:
                f.write(payload)
            self.sftp.posix_rename(tmp, self.path(HISTORY))
        except (OSError, EOFError):
            self.remove_quietly(tmp)
            raise

    def remove_quietly(self, path: str) -> None:
        try:
            self.sftp.remove(path)
        except (OSError, EOFError):
            log.debug("could not remove %s on %s", path, self.name)

    def _hasher(self, *path: str) -> list[str]:
        # -S: hashlib needs no site-packages, and the interpreter starts much faster
        return [self.session.device.python, "-S", "-c", _SHA256, *path]

    def remote_sha256(self, path: str) -> str:
        return self.session.run(self._hasher(path), timeout=300).text().strip()

    def start_hasher(self) -> Any:
        """A hashing process started now (its start-up overlaps the upload); send it a path."""
        return self.session.start(self._hasher())

    def point_current_to(self, file: str) -> None:
        """Atomically make ``current.tflite`` a link to ``models/<file>``."""
        tmp = self.path(f".{CURRENT}.{secrets.token_hex(4)}")
        try:
            self.sftp.symlink(posixpath.join(MODELS, file), tmp)
            self.sftp.posix_rename(tmp, self.path(CURRENT))
        except (OSError, EOFError):
            self.remove_quietly(tmp)
            raise

    def current_target(self) -> str | None:
        try:
            return posixpath.basename(self.sftp.readlink(self.path(CURRENT)))
        except OSError:
            return None

    def clean_leftovers(self) -> None:
        """Remove what a crashed run left (partial uploads, temporary history/link files).
        Only the lock holder calls this, so nothing of a running deploy is touched."""
        with self.errors(f"list {self.models}"):
            for entry in self.sftp.listdir(self.models):
                if entry.startswith(layout.UPLOAD_PREFIX):
                    self.remove_quietly(posixpath.join(self.models, entry))
            for entry in self.sftp.listdir(self.workdir):
                if entry.startswith(layout.TEMP_PREFIXES):
                    self.remove_quietly(self.path(entry))

    def delete_unkept(self, entries: list[Deployment]) -> None:
        """After a committed change: delete model files no kept entry names (best effort: a
        file left here is removed by the next change)."""
        try:
            listing = self.sftp.listdir(self.models)
        except (OSError, EOFError):
            return
        kept = [e.to_dict() for e in entries]
        for name in layout.removable(listing, kept, self.current_target()):
            self.remove_quietly(posixpath.join(self.models, name))

    def commit(
        self,
        before: list[Deployment],
        after: list[Deployment],
        file: str | None,
        prune: bool = True,
    ) -> None:
        """The crash-safe change of layout.py: pending history, switch, final history.

        Raises:
            DeviceError: the pending history or the switch failed (the device is as before).
        """
        with self.errors(f"write {self.path(HISTORY)}"):
            self.write_history(before, after, file)
        with self.errors(f"switch {self.path(CURRENT)}"):
            if file is None:
                try:
                    self.sftp.remove(self.path(CURRENT))
                except FileNotFoundError:
                    pass
            else:
                self.point_current_to(file)
        try:  # committed: a failure from here on is resolved by the next reader
            self.write_history(after)
        except (OSError, EOFError) as e:
            log.warning("%s: history left pending (%s); it agrees with %s", self.name, e, CURRENT)
        if prune:
            self.delete_unkept(after)


def _upload(store: RemoteStore, model: Path, sha: str, size: int, free: int, progress: Any) -> str:
    """Upload ``model`` to a temporary name and verify its sha256 there; returns that name.

    Raises:
        DeviceError: not enough space, upload failed or sha256 mismatch (nothing left behind).
    """
    session = store.session
    name = session.device.name
    if free < size + HEADROOM:
        raise DeviceError(
            f"Not enough space on {name} for {model.name}: needs {_mb(size + HEADROOM)}, "
            f"{_mb(free)} free in {store.workdir}; the deployed model is unchanged",
            retryable=False,
        )
    tmp = posixpath.join(store.models, f"{layout.UPLOAD_PREFIX}{secrets.token_hex(6)}")
    hasher = store.start_hasher()
    try:
        session.sftp.put(str(model), tmp, callback=progress, confirm=True)
    except (OSError, EOFError) as e:
        hasher.abort()
        reason = _why(e)
        free = _free_space(store)  # pipelined writes hide ENOSPC: paramiko sees a short file
        if free < HEADROOM and "connection" not in reason:
            reason = f"its disk is full: {_mb(free)} free in {store.workdir}"
        store.remove_quietly(tmp)
        raise DeviceError(
            f"Upload of {model.name} to {name} failed ({reason}); the deployed model is unchanged"
        ) from e
    hasher.send(tmp.encode("utf-8") + b"\n")
    remote = hasher.finish(timeout=300).text().strip()
    if remote != sha:
        store.remove_quietly(tmp)
        raise DeviceError(
            f"sha256 mismatch on {name} after upload (local {sha[:16]}, device {remote[:16]}); "
            "the deployed model is unchanged",
            retryable=False,
        )
    return tmp


def _free_space(store: RemoteStore) -> int:
    code = "import os, sys; s = os.statvfs(sys.argv[1]); print(s.f_bavail * s.f_frsize)"
    try:
        out = store.session.run([store.session.device.python, "-S", "-c", code, store.workdir])
        return int(out.text().strip())
    except Exception:  # noqa: BLE001 - unknown (the connection may be gone): not "full"
        return 1 << 62


def deploy(
    session: Session,
    model: Path,
    progress: Callable[[int, int], None] | None = None,
    lock_wait: float = 60.0,
) -> DeployResult:
    """Upload ``model`` to the device and make it current, verified by sha256.

    Runs under the device's lock (waiting up to ``lock_wait`` s for another deploy). The upload
    goes to a temporary name; only after the device confirms the sha256 is it renamed and
    ``current.tflite`` switched, so a failure leaves the old model in place.
    """
    start = time.perf_counter()
    data_sha = sha256_file(model)
    size = model.stat().st_size
    with DeviceLock(session, lock_wait) as lock:
        store = RemoteStore(session, lock.workdir)
        history = store.history()
        store.clean_leftovers()
        current_file = store.current_target()
        previous = history[-1] if history else None
        file = layout.model_file(data_sha)
        target = posixpath.join(store.models, file)
        if previous and previous.sha256 == data_sha and current_file == file:
            return DeployResult(
                session.device.name, "unchanged", previous, None, 0,
                time.perf_counter() - start, store.path(CURRENT),
            )  # fmt: skip
        sent, action, uploaded = 0, "switched", False
        if not (store.exists(target) and store.remote_sha256(target) == data_sha):
            tmp = _upload(store, model, data_sha, size, lock.free, progress)
            with store.errors(f"rename the upload to {target}", "the deployed model is unchanged"):
                try:
                    session.sftp.posix_rename(tmp, target)
                except (OSError, EOFError):
                    store.remove_quietly(tmp)
                    raise
            sent, action, uploaded = size, "uploaded", True
        entry = Deployment(data_sha, model.name, size, file, time.time())
        after = [Deployment(**e) for e in layout.kept([e.to_dict() for e in [*history, entry]])]
        try:
            store.commit(history, after, file)
        except DeviceError:
            if uploaded and all(e.file != file for e in history):
                store.remove_quietly(target)
            raise
    return DeployResult(
        session.device.name, action, entry, previous, sent,
        time.perf_counter() - start, store.path(CURRENT),
    )  # fmt: skip


def rollback(session: Session, lock_wait: float = 60.0) -> DeployResult:
    """Make the previous deployed version current again."""
    start = time.perf_counter()
    with DeviceLock(session, lock_wait) as lock:
        store = RemoteStore(session, lock.workdir)
        history = store.history()
        if len(history) < 2:
            raise DeviceError(
                f"Nothing to roll back to on {session.device.name} "
                f"({len(history)} version(s) deployed)",
                retryable=False,
            )
        bad, previous = history[-1], history[-2]
        if not store.exists(posixpath.join(store.models, previous.file)):
            raise DeviceError(
                f"The previous model {previous.file} is gone from {session.device.name}"
            )
        store.clean_leftovers()
        store.commit(history, history[:-1], previous.file, prune=False)
    return DeployResult(
        session.device.name, "rolled back", previous, bad, 0,
        time.perf_counter() - start, store.path(CURRENT),
    )  # fmt: skip


def clear(session: Session, lock_wait: float = 60.0) -> None:
    """Undo a device's first deployment: no current model, empty history (files stay until
    pruned)."""
    with DeviceLock(session, lock_wait) as lock:
        store = RemoteStore(session, lock.workdir)
        store.commit(store.history(), [], None, prune=False)


def status(session: Session) -> list[Deployment]:
    """The device's deployment history, oldest first (it agrees with ``current.tflite``)."""
    return RemoteStore(session).history()

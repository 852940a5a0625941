"""Deploy models to a device: verified upload, atomic switch, kept versions, rollback."""

from __future__ import annotations

import hashlib
import json
import posixpath
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.devices.ssh import Session
from edgesdk.errors import DeviceError

KEEP_VERSIONS = 3
CURRENT = "current.tflite"
HISTORY = "deployments.json"
MODELS = "models"

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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    """The device's workdir: ``models/<sha>.tflite``, ``current.tflite`` link, history file."""

    def __init__(self, session: Session):
        self.session = session
        self.sftp = session.sftp
        self.workdir = session.device.workdir
        self.models = posixpath.join(self.workdir, MODELS)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.workdir, *parts)

    def ensure_dirs(self) -> None:
        parts = self.models.split("/")
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

    def history(self) -> list[Deployment]:
        try:
            with self.sftp.open(self.path(HISTORY), "r") as f:
                data = json.loads(f.read().decode("utf-8"))
            return [Deployment(**d) for d in data["deployments"]]
        except OSError:
            return []
        except (ValueError, KeyError, TypeError) as e:
            raise DeviceError(f"Corrupt {HISTORY} on {self.session.device.name}: {e}") from e

    def write_history(self, entries: list[Deployment]) -> None:
        tmp = self.path(f".{HISTORY}.{secrets.token_hex(4)}")
        payload = json.dumps({"deployments": [e.to_dict() for e in entries]}, indent=2).encode()
        with self.sftp.open(tmp, "w") as f:
            f.write(payload)
        self.sftp.posix_rename(tmp, self.path(HISTORY))

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
        self.sftp.symlink(posixpath.join(MODELS, file), tmp)
        self.sftp.posix_rename(tmp, self.path(CURRENT))

    def current_target(self) -> str | None:
        try:
            return posixpath.basename(self.sftp.readlink(self.path(CURRENT)))
        except OSError:
            return None

    def clean_partial_uploads(self) -> None:
        for entry in self.sftp.listdir(self.models):
            if entry.startswith(".upload-"):
                self.sftp.remove(posixpath.join(self.models, entry))

    def prune(self, entries: list[Deployment]) -> list[Deployment]:
        """Keep the last KEEP_VERSIONS distinct versions; delete older files."""
        kept: list[Deployment] = []
        seen: set[str] = set()
        for e in reversed(entries):
            if e.sha256 not in seen and len(seen) < KEEP_VERSIONS:
                seen.add(e.sha256)
                kept.append(e)
        kept.reverse()
        keep_files = {e.file for e in kept}
        for entry in self.sftp.listdir(self.models):
            if entry.endswith(".tflite") and entry not in keep_files:
                self.sftp.remove(posixpath.join(self.models, entry))
        return kept


def deploy(
    session: Session, model: Path, progress: Callable[[int, int], None] | None = None
) -> DeployResult:
    """Upload ``model`` to the device and make it current, verified by sha256.

    The upload goes to a temporary name; only after the device confirms the sha256 is it
    renamed and ``current.tflite`` switched, so a failure leaves the old model in place.
    """
    start = time.perf_counter()
    data_sha = sha256_file(model)
    size = model.stat().st_size
    store = RemoteStore(session)
    store.ensure_dirs()
    store.clean_partial_uploads()
    history = store.history()
    current_file = store.current_target()
    previous = history[-1] if history else None
    file = f"{data_sha[:16]}.tflite"
    target = posixpath.join(store.models, file)
    if previous and previous.sha256 == data_sha and current_file == file:
        return DeployResult(
            session.device.name,
            "unchanged",
            previous,
            None,
            0,
            time.perf_counter() - start,
            store.path(CURRENT),
        )
    sent = 0
    action = "switched"
    if not (store.exists(target) and store.remote_sha256(target) == data_sha):
        tmp = posixpath.join(store.models, f".upload-{secrets.token_hex(6)}")
        hasher = store.start_hasher()
        try:
            session.sftp.put(str(model), tmp, callback=progress, confirm=True)
        except (OSError, EOFError) as e:
            hasher.abort()
            raise DeviceError(
                f"Upload to {session.device.name} failed ({e or type(e).__name__}); "
                "the deployed model is unchanged"
            ) from e
        hasher.send(tmp.encode("utf-8") + b"\n")
        remote = hasher.finish(timeout=300).text().strip()
        if remote != data_sha:
            session.sftp.remove(tmp)
            raise DeviceError(
                f"sha256 mismatch on {session.device.name} after upload (local {data_sha[:16]}, "
                f"device {remote[:16]}); the deployed model is unchanged",
                retryable=False,
            )
        session.sftp.posix_rename(tmp, target)
        sent, action = size, "uploaded"
    entry = Deployment(data_sha, model.name, size, file, time.time())
    store.point_current_to(file)
    store.write_history(store.prune([*history, entry]))
    return DeployResult(
        session.device.name,
        action,
        entry,
        previous,
        sent,
        time.perf_counter() - start,
        store.path(CURRENT),
    )


def rollback(session: Session) -> DeployResult:
    """Make the previous deployed version current again."""
    start = time.perf_counter()
    store = RemoteStore(session)
    history = store.history()
    if len(history) < 2:
        raise DeviceError(
            f"Nothing to roll back to on {session.device.name} ({len(history)} version(s) deployed)",
            retryable=False,
        )
    bad, previous = history[-1], history[-2]
    if not store.exists(posixpath.join(store.models, previous.file)):
        raise DeviceError(f"The previous model {previous.file} is gone from {session.device.name}")
    store.point_current_to(previous.file)
    store.write_history(history[:-1])
    return DeployResult(
        session.device.name,
        "rolled back",
        previous,
        bad,
        0,
        time.perf_counter() - start,
        store.path(CURRENT),
    )


def clear(session: Session) -> None:
    """Undo a device's first deployment: no current model, empty history (files stay until pruned)."""
    store = RemoteStore(session)
    try:
        session.sftp.remove(store.path(CURRENT))
    except OSError:
        pass
    store.write_history([])


def status(session: Session) -> list[Deployment]:
    """The device's deployment history, oldest first."""
    return RemoteStore(session).history()

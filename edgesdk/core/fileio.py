"""Atomic file output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgesdk.errors import OutputError


def _existing_ancestor(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return Path("/")


def check_writable(output: str | Path) -> Path:
    """Fail early when ``output`` cannot be written; creates nothing that stays behind.

    Raises:
        OutputError: the path is a directory, or its folder cannot be created or written.
    """
    out = Path(output).expanduser().absolute()
    if out.is_dir():
        raise OutputError(f"Output {out} is a directory (expected a file path)")
    base = _existing_ancestor(out.parent)
    if not base.is_dir():
        raise OutputError(f"Cannot write {out}: {base} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as e:
        raise OutputError(f"Output folder not writable: {base} ({e.strerror})") from e
    return out


def umask() -> int:
    """The process umask (read without changing it where Linux allows, so threads are safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder: 0o777 less the umask."""
    return 0o777 & ~umask()


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent folders.

    Raises:
        OutputError: the file cannot be written; nothing is left behind.
    """
    out = Path(path).expanduser().absolute()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    created: list[Path] = []
    try:
        for parent in reversed(out.parents):
            if not parent.exists():
                parent.mkdir()
                created.append(parent)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, file_mode())  # mkstemp makes 0600; outputs get the umask's mode
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        for folder in reversed(created):
            folder.rmdir()
        raise OutputError(f"Cannot write {out}: {e.strerror or e}") from e
    return out


def check_out_dir(out_dir: str | Path, force: bool = False) -> None:
    """Refuse a bundle folder that exists with files (unless ``force``) or cannot be written."""
    out = Path(out_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise OutputError(f"Output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        names = sorted(p.name for p in out.iterdir())[:5]
        raise OutputError(
            f"Output folder {out} already has files ({', '.join(names)}); use `force=True` to "
            "replace it"
        )
    check_writable(out / "probe")


def publish_dir(tmp: Path, out: Path) -> None:
    """Move the finished bundle into place; an existing folder is replaced only at the end."""
    tmp.chmod(dir_mode())  # mkdtemp makes 0700; outputs get the umask's mode
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_dir(out: Path, what: str) -> Iterator[Path]:
    """A temporary folder beside ``out`` that replaces ``out`` when the block ends without an
    error; on any error (or a signal) it is removed and ``out`` stays as it was.

    Raises:
        OutputError: the folder cannot be written (``what`` names it in the message).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        yield tmp
        publish_dir(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"Cannot write {what} to {out}: {e.strerror or e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

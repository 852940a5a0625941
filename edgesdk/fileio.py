"""Atomic file output: write to a temporary file in the same folder, then rename."""

from __future__ import annotations

import os
import tempfile
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

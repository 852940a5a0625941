"""What a native runtime writes to the C-level stderr (fd 2), captured around one call."""

from __future__ import annotations

import os
import tempfile
from typing import Any


def capture_stderr(func: Any) -> tuple[Any, str, Exception | None]:
    """Run ``func``; return its value, what it wrote to the C-level stderr (fd 2), its error."""
    saved = os.dup(2)
    value, error = None, None
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            value = func()
        except RuntimeError as e:
            error = e
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return value, tmp.read().decode("utf-8", "replace"), error

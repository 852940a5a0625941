"""The result base: every result object has ``to_dict()`` and the same atomic JSON ``save()``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic


class JsonResult:
    """Mixin for result dataclasses: ``save()`` writes ``to_dict()`` as JSON, atomically."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write ``to_dict()`` as indented JSON to ``path`` (atomically) and return the path."""
        return write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

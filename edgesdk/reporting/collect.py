"""Finding saved results: manifests and saved result JSON files under a folder, by kind."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KINDS = (
    "quantize",
    "export-c",
    "compress",
    "evaluate",
    "benchmark",
    "fleet",
    "emulate",
    "sweep",
    "pipeline-run",
)


@dataclass
class Collected:
    """Saved results by kind, each with the file it came from."""

    items: dict[str, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: {k: [] for k in KINDS}
    )
    manifests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _kind(data: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """What a saved JSON holds; manifests hold the result of their command."""
    if data.get("kind") == "manifest":
        return data.get("command"), data.get("result") or {}
    if data.get("kind") in KINDS:
        return data["kind"], data
    if {"arena", "files", "ops"} <= set(data):
        return "export-c", data
    if {"mode", "fidelity", "dtype_table"} <= set(data):
        return "quantize", data
    return None, data


def collect(folder: Path, skip: Path | None = None) -> Collected:
    """Read every edgesdk JSON result under ``folder`` (the same result only once)."""
    found = Collected()
    seen: set[str] = set()
    for path in sorted(folder.rglob("*.json")):
        if skip is not None and skip in path.parents:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        kind, result = _kind(data)
        if kind not in KINDS:
            continue
        rel = str(path.relative_to(folder))
        if data.get("kind") == "manifest":
            found.manifests.append((rel, data))
        key = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()
        found.sources.append(rel)
        if key in seen:
            continue
        seen.add(key)
        found.items[kind].append((rel, result))
    return found

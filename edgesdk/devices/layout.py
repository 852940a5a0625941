"""The device layout that `edgesdk deploy` and the Ansible module both follow, as one spec.

    WORKDIR/models/<sha256[:16]>.tflite   kept versions (the last KEEP_VERSIONS distinct ones)
    WORKDIR/models/.upload-<token>        an upload in flight (removed by the next lock holder)
    WORKDIR/current.tflite                relative symlink to models/<file>: what the device runs
    WORKDIR/deployments.json              {"deployments": [...], "pending": {...} or absent}
    WORKDIR/.edgesdk.lock                 flock(2) held by the one tool changing this folder

A change (deploy, rollback, clear) is a two-step transaction whose commit point is the rename
of ``current.tflite``: first ``deployments.json`` gains ``pending`` = the history *after* the
change plus the file ``current.tflite`` will name; then ``current.tflite`` is switched; then
the history is rewritten without ``pending``. A reader resolves a left-over ``pending`` by
looking at ``current.tflite``: if it names the pending file, the change happened and the
pending history is the history; otherwise it did not and the committed one is. So a crash at
any point leaves a history that agrees with ``current.tflite``.

The Ansible module (``ansible_kit/.../edgesdk_model.py``) is standard-library-only code that
runs on the device; it implements the same rules and a test holds both to this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

KEEP_VERSIONS = 3
CURRENT = "current.tflite"
HISTORY = "deployments.json"
MODELS = "models"
LOCK = ".edgesdk.lock"
UPLOAD_PREFIX = ".upload-"
# temporary names of the atomic writes: left over only by a crash, removed by the lock holder
TEMP_PREFIXES = (f".{HISTORY}.", f".{CURRENT}.")
FIELDS = ("sha256", "name", "size", "file", "deployed_at")
_SHA = re.compile(r"[0-9a-f]{64}")
_FILE = re.compile(r"[0-9a-f]{16}\.tflite")


class LayoutError(ValueError):
    """deployments.json does not follow the spec (the caller names the device)."""


def model_file(sha256: str) -> str:
    """The kept file name of a model: ``<sha256[:16]>.tflite``."""
    return f"{sha256[:16]}.tflite"


def check_entry(entry: Any) -> dict[str, Any]:
    """One history entry, checked field by field (a device's file is untrusted input)."""
    if not isinstance(entry, dict) or sorted(entry) != sorted(FIELDS):
        keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise LayoutError(f"an entry has {keys}, expected the fields {list(FIELDS)}")
    if not isinstance(entry["sha256"], str) or not _SHA.fullmatch(entry["sha256"]):
        raise LayoutError(f"sha256 {entry['sha256']!r} is not 64 lowercase hex digits")
    if not isinstance(entry["file"], str) or entry["file"] != model_file(entry["sha256"]):
        raise LayoutError(f"file {entry['file']!r} is not <sha256[:16]>.tflite")
    if not isinstance(entry["name"], str):
        raise LayoutError(f"name {entry['name']!r} is not a string")
    if not isinstance(entry["size"], int) or isinstance(entry["size"], bool) or entry["size"] < 0:
        raise LayoutError(f"size {entry['size']!r} is not a byte count")
    if not isinstance(entry["deployed_at"], (int, float)) or isinstance(entry["deployed_at"], bool):
        raise LayoutError(f"deployed_at {entry['deployed_at']!r} is not a time")
    return entry


def _entries(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise LayoutError(f"deployments is {type(value).__name__}, expected a list")
    return [check_entry(e) for e in value]


def resolve(data: Any, current: str | None) -> list[dict[str, Any]]:
    """The history that agrees with ``current`` (the file ``current.tflite`` names, or None).

    Raises:
        LayoutError: not the spec's shape.
    """
    if not isinstance(data, dict) or "deployments" not in data:
        raise LayoutError("no 'deployments' list")
    committed = _entries(data["deployments"])
    pending = data.get("pending")
    if pending is None:
        return committed
    if not isinstance(pending, dict) or sorted(pending) != ["current", "deployments"]:
        raise LayoutError("'pending' is not {current, deployments}")
    target = pending["current"]
    if target is not None and (not isinstance(target, str) or not _FILE.fullmatch(target)):
        raise LayoutError(f"pending current {target!r} is not <sha256[:16]>.tflite")
    return _entries(pending["deployments"]) if target == current else committed


def document(
    entries: Sequence[dict[str, Any]],
    pending: Sequence[dict[str, Any]] | None = None,
    pending_current: str | None = None,
) -> dict[str, Any]:
    """The JSON document; with ``pending``, the history once ``current.tflite`` names
    ``pending_current`` (None: once it is removed)."""
    data: dict[str, Any] = {"deployments": list(entries)}
    if pending is not None:
        data["pending"] = {"current": pending_current, "deployments": list(pending)}
    return data


def kept(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history after pruning: the entries of the last KEEP_VERSIONS distinct models."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e in reversed(entries):
        if e["sha256"] not in seen and len(seen) < KEEP_VERSIONS:
            seen.add(e["sha256"])
            out.append(e)
    out.reverse()
    return out


def removable(
    listing: Sequence[str], entries: Sequence[dict[str, Any]], current: str | None
) -> list[str]:
    """Files of ``models/`` that no kept entry and not ``current.tflite`` names."""
    keep = {e["file"] for e in entries} | ({current} if current else set())
    return [n for n in listing if n.endswith(".tflite") and n not in keep]

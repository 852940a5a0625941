"""Manifests beside every artifact: hashes of inputs and outputs, calibration, target, options,
versions, and the result, so that a result can be reproduced and audited."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic

SCHEMA_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"
PACKAGES = (
    "edgesdk",
    "tensorflow",
    "ai-edge-litert",
    "tflite-micro",
    "tensorflow-model-optimization",
    "keras",
    "tf-keras",
    "numpy",
    "mediapipe",
    "coremltools",
)


def sha256_path(path: str | Path) -> str:
    """sha256 of a file; for a folder, of its files' relative paths and hashes, sorted."""
    p = Path(path)
    if p.is_dir():
        digest = hashlib.sha256()
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            digest.update(f"{f.relative_to(p).as_posix()}\0{sha256_path(f)}\n".encode())
        return digest.hexdigest()
    digest = hashlib.sha256()
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (no heavy imports)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def describe(path: str | Path | None) -> dict[str, Any] | None:
    """Path, size and sha256 of an input or output (None stays None)."""
    if path is None:
        return None
    p = Path(path).expanduser().absolute()
    if not p.exists():
        return {"path": str(p), "sha256": None}
    size = (
        sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        if p.is_dir()
        else p.stat().st_size
    )
    return {"path": str(p), "bytes": size, "sha256": sha256_path(p)}


def manifest_path(artifact: str | Path) -> Path:
    """Where the manifest of ``artifact`` goes: beside it; inside it for a C bundle folder."""
    p = Path(artifact)
    return p.with_name(p.name + MANIFEST_SUFFIX)


def write_manifest(
    artifact: str | Path,
    command: str,
    inputs: dict[str, str | Path | None],
    result: dict[str, Any],
    options: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    where: str | Path | None = None,
) -> Path:
    """Write the manifest for ``artifact`` (atomically) and return its path."""
    data = {
        "kind": "manifest",
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "artifact": describe(artifact),
        "inputs": {k: describe(v) for k, v in inputs.items()},
        "calibration": calibration,
        "target": target,
        "options": options,
        "versions": versions(),
        "result": result,
    }
    return write_atomic(where or manifest_path(artifact), json.dumps(data, indent=2) + "\n")


def array_digest(arrays: dict[str, Any]) -> str:
    """sha256 over named arrays (name, dtype, shape and bytes, in name order)."""
    import numpy as np

    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{a.dtype.str}\0{a.shape}\n".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def record_export(
    folder: Path, out: Path, model: str | Path, result: Any, options: dict[str, Any], target: Any
) -> None:
    """``export.json`` (the result) and ``manifest.json`` of a C export, written into the
    staging ``folder`` of the bundle that will become ``out``."""
    import json

    (folder / "export.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    write_manifest(
        out,
        "export-c",
        {"model": model},
        result.to_dict(),
        options=options,
        target=target.to_dict(),
        where=folder / "manifest.json",
    )

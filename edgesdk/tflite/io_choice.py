"""The I/O a model is exported with for a target: int8 (float I/O rewritten away) or float32
(kept, on a core with an FPU), what that costs, and the record the export keeps of it."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ExportError
from edgesdk.tflite.interface import Edge, float_edges, rewrite_problems, to_int8_io
from edgesdk.tflite.interface_check import InterfaceCheck, check_rewrite
from edgesdk.tflite.model_info import FLOAT_TYPES, ModelInfo, TensorInfo, inspect_bytes

IO_CHOICES = ("int8", "float32")


@dataclass(frozen=True)
class InterfaceRecord:
    """What became of the model's I/O: rewritten to int8 (from which model), or kept."""

    io: str  # what was asked for
    rewritten: bool
    source_sha256: str  # the model as given
    edges: tuple[Edge, ...] = ()  # the removed (int8) or kept (float32) edge ops
    check: InterfaceCheck | None = None
    file: str | None = None  # the rewritten .tflite, in the bundle
    sha256: str | None = None  # of that file
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "io": self.io,
            "rewritten": self.rewritten,
            "source_sha256": self.source_sha256,
            "edges": [e.to_dict() for e in self.edges],
            "check": self.check.to_dict() if self.check else None,
            "file": self.file,
            "sha256": self.sha256,
            "note": self.note,
        }


def has_fpu(profile: TargetProfile) -> bool:
    """Whether the profile's core has a floating-point unit."""
    return profile.mcu is not None and profile.mcu.fpu not in ("", "none")


def _float_io(info: ModelInfo) -> list[TensorInfo]:
    sg = info.main
    return [sg.tensor(i) for i in (*sg.inputs, *sg.outputs) if sg.tensor(i).dtype in FLOAT_TYPES]


def float_io_reason(info: ModelInfo, profile: TargetProfile) -> str:
    """Why float I/O cannot run on an integer-only ``profile``, and the option that helps."""
    dtypes = "/".join(sorted({t.dtype for t in _float_io(info)}))
    head = f"{dtypes} model input/output; {profile.name} needs int8 I/O"
    if rewrite_problems(info):  # not int8 inside: only quantizing helps
        return f'{head} (quantize with `io="int8"`)'
    keep = ""
    if has_fpu(profile):
        keep = f' or `io="float32"` to keep float I/O (its {profile.mcu.core} has an FPU)'  # type: ignore[union-attr]
    return (
        f'{head}: the model is int8 inside; export with `io="int8"` to remove its '
        f"QUANTIZE/DEQUANTIZE edge ops{keep}"
    )


def _io_bytes(tensors: list[TensorInfo]) -> int:
    return sum(int(np.prod(t.shape)) * np.dtype(t.dtype).itemsize for t in tensors)


def _keep_float(info: ModelInfo, profile: TargetProfile, sha: str) -> InterfaceRecord:
    if not profile.quantization.float_ops_allowed and not has_fpu(profile):
        core = profile.mcu.core if profile.mcu else profile.cpu
        raise ExportError(
            f'Invalid `io="float32"` for {profile.name} (its {core} has no FPU; '
            'must be `io="int8"`)',
            what="io",
            value="float32",
            allowed=["int8"],
        )
    floats = _float_io(info)
    edges, _ = float_edges(info)
    if not floats:
        note = "the model has no float I/O: nothing kept"
    else:
        note = (
            f"float I/O kept: {len(edges)} QUANTIZE/DEQUANTIZE edge op(s) stay and run in float "
            f"on every inference; the float I/O buffers take {_io_bytes(floats)} bytes "
            f"({4 if 'float32' in {t.dtype for t in floats} else 2}x their int8 size)"
        )
    return InterfaceRecord("float32", False, sha, tuple(edges), note=note)


def prepare_io(
    data: bytes, info: ModelInfo, profile: TargetProfile, io: str | None, source: str
) -> tuple[bytes, ModelInfo, InterfaceRecord | None]:
    """The model to export for ``io``: rewritten to int8 I/O, or as it is.

    Raises:
        ExportError: an ``io`` other than int8/float32, float32 on a core without an FPU, a
            model whose float I/O cannot be rewritten.
    """
    if io is None:
        return data, info, None
    io = str(getattr(io, "value", io))  # an IoType member too
    if io not in IO_CHOICES:
        raise ExportError(
            f"Invalid `io` {io!r} (must be one of: {', '.join(IO_CHOICES)})",
            what="io",
            value=io,
            allowed=list(IO_CHOICES),
        )
    sha = hashlib.sha256(data).hexdigest()
    if io == "float32":
        return data, info, _keep_float(info, profile, sha)
    new, edges = to_int8_io(data, info, source)
    if not edges:
        dtypes = "/".join(sorted({info.main.tensor(i).dtype for i in info.main.inputs}))
        note = f"the model already has {dtypes} I/O: nothing rewritten"
        return data, info, InterfaceRecord("int8", False, sha, note=note)
    note = (
        f"float I/O rewritten to int8: {len(edges)} edge op(s) removed "
        f"(model sha256 {sha[:16]} -> {hashlib.sha256(new).hexdigest()[:16]})"
    )
    return new, inspect_bytes(new, source), InterfaceRecord("int8", True, sha, edges, note=note)


def verify_io(
    record: InterfaceRecord | None,
    original: bytes,
    rewritten: bytes,
    samples: list[list[np.ndarray]],
    source: str,
) -> InterfaceRecord | None:
    """The record with the rewritten model checked against the original on ``samples``.

    Raises:
        ExportError: the outputs differ.
    """
    if record is None or not record.rewritten:
        return record
    check = check_rewrite(original, rewritten, record.edges, samples, source)
    return dataclasses.replace(record, check=check)


def with_file(record: InterfaceRecord | None, name: str, data: bytes) -> InterfaceRecord | None:
    """The record naming the rewritten .tflite written into the bundle as ``name``."""
    if record is None or not record.rewritten:
        return record
    return dataclasses.replace(record, file=name, sha256=hashlib.sha256(data).hexdigest())

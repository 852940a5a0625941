"""What `inspect` adds for mobile: the model's metadata (labels, normalization) and, for a GPU
target, where each op runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.mobile.gpu import GpuReport
from edgesdk.mobile.metadata import MobileMetadata


@dataclass(frozen=True)
class MobileReport:
    """Metadata (None when the model has none) and the GPU placement (None unless asked)."""

    metadata: MobileMetadata | None
    gpu: GpuReport | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metadata": self.metadata.to_dict() if self.metadata else None,
            "gpu": self.gpu.to_dict() if self.gpu else None,
        }


def inspect_mobile(path: str | Path, gpu: bool = False) -> MobileReport:
    """Read a .tflite file's metadata and, with ``gpu``, check it against the GPU delegate.

    Raises:
        InspectionError: missing or not a .tflite file, or malformed metadata.
    """
    from edgesdk.mobile.gpu import check_gpu
    from edgesdk.mobile.metadata import read_metadata
    from edgesdk.tflite.model_info import inspect_bytes, read_tflite

    data = read_tflite(path)
    inspect_bytes(data, str(path))  # a clean error for a file that is not a model
    return MobileReport(read_metadata(data, str(path)), check_gpu(data) if gpu else None)

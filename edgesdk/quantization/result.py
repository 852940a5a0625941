"""Result objects of the stages, with to_dict()/from_dict()/save()."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.tflite.fidelity import OutputFidelity
from edgesdk.tflite.model_info import OpTypeRow


@dataclass(frozen=True)
class IoTensor:
    """A model input or output after conversion."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float | None
    zero_point: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "scale": self.scale,
            "zero_point": self.zero_point,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IoTensor:
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d["scale"], d["zero_point"])


@dataclass(frozen=True)
class SizeInfo:
    """Raw and gzip-compressed size of a model file."""

    raw_bytes: int
    gzip_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"raw_bytes": self.raw_bytes, "gzip_bytes": self.gzip_bytes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SizeInfo:
        return cls(d["raw_bytes"], d["gzip_bytes"])

    @classmethod
    def of(cls, data: bytes) -> SizeInfo:
        """The size of ``data`` and of its gzip (level 9)."""
        return cls(raw_bytes=len(data), gzip_bytes=len(gzip.compress(data, compresslevel=9)))

    @classmethod
    def of_path(cls, path: str | Path) -> SizeInfo:
        """A file's sizes, or the sums over the files of a folder (a SavedModel)."""
        p = Path(path)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        sizes = [cls.of(f.read_bytes()) for f in files]
        return cls(sum(s.raw_bytes for s in sizes), sum(s.gzip_bytes for s in sizes))


@dataclass(frozen=True)
class QuantizationResult(JsonResult):
    """What ``quantize`` made and how faithful it is."""

    model: str
    target: str
    mode: str
    io: str
    per_channel: bool
    strict: bool
    output: str | None
    float_size: SizeInfo
    size: SizeInfo
    op_counts: dict[str, int]
    dtype_table: tuple[OpTypeRow, ...]
    float_ops: tuple[str, ...]
    inputs: tuple[IoTensor, ...]
    outputs: tuple[IoTensor, ...]
    fidelity: tuple[OutputFidelity, ...]
    calibration_samples: int
    held_out_samples: int
    seconds: float
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    model_loader: str = "keras"  # keras, tf_keras (legacy Keras 2 file) or saved_model
    export: Any = None  # the ExportResult of the C bundle written with emit_c

    @property
    def compression_ratio(self) -> float:
        return self.float_size.raw_bytes / max(self.size.raw_bytes, 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_loader": self.model_loader,
            "target": self.target,
            "mode": self.mode,
            "io": self.io,
            "per_channel": self.per_channel,
            "strict": self.strict,
            "output": self.output,
            "float_size": self.float_size.to_dict(),
            "size": self.size.to_dict(),
            "compression_ratio": round(self.compression_ratio, 3),
            "op_counts": self.op_counts,
            "dtype_table": [r.to_dict() for r in self.dtype_table],
            "float_ops": list(self.float_ops),
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "fidelity": [f.to_dict() for f in self.fidelity],
            "calibration_samples": self.calibration_samples,
            "held_out_samples": self.held_out_samples,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "extra": self.extra,
            "export": self.export.to_dict() if self.export is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QuantizationResult:
        return cls(
            model=d["model"],
            target=d["target"],
            mode=d["mode"],
            io=d["io"],
            per_channel=d["per_channel"],
            strict=d["strict"],
            output=d["output"],
            float_size=SizeInfo.from_dict(d["float_size"]),
            size=SizeInfo.from_dict(d["size"]),
            op_counts=dict(d["op_counts"]),
            dtype_table=tuple(
                OpTypeRow(
                    op=r["op"],
                    count=r["count"],
                    activations=tuple(r["activations"]),
                    weights=tuple(r["weights"]),
                    outputs=tuple(r["outputs"]),
                    float_compute=r["float_compute"],
                )
                for r in d["dtype_table"]
            ),
            float_ops=tuple(d["float_ops"]),
            inputs=tuple(IoTensor.from_dict(t) for t in d["inputs"]),
            outputs=tuple(IoTensor.from_dict(t) for t in d["outputs"]),
            fidelity=tuple(OutputFidelity.from_dict(f) for f in d["fidelity"]),
            calibration_samples=d["calibration_samples"],
            held_out_samples=d["held_out_samples"],
            seconds=d["seconds"],
            notes=tuple(d.get("notes", ())),
            warnings=tuple(d.get("warnings", ())),
            extra=dict(d.get("extra", {})),
            model_loader=d.get("model_loader", "keras"),
        )

"""CompressionResult: what `compress` did, the sizes it reached and the accuracy it kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.quantization.result import SizeInfo

# The artifacts measured, in report order, with how they are labelled.
ARTIFACTS = {
    "float_model": "float model (Keras file)",
    "float_tflite": "float model .tflite (float32)",
    "float_int8_tflite": "float model, post-training int8 .tflite",
    "compressed_model": "compressed model",
    "compressed_int8_tflite": "compressed model, int8 .tflite",
}


@dataclass(frozen=True)
class LayerStat:
    """One layer's compressible weights: how many, how many are zero, how many distinct."""

    layer: str
    parameters: int
    zeros: int
    unique: int

    @property
    def sparsity(self) -> float:
        """Zeros in percent of the parameters."""
        return 100.0 * self.zeros / self.parameters if self.parameters else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "parameters": self.parameters,
            "zeros": self.zeros,
            "sparsity": round(self.sparsity, 3),
            "unique": self.unique,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerStat:
        return cls(d["layer"], d["parameters"], d["zeros"], d["unique"])


@dataclass(frozen=True)
class CompressionResult(JsonResult):
    """What ``compress`` made, with sizes (raw and gzip) and validation accuracy (a fraction).

    ``accuracy`` holds the ARTIFACTS' keys and, with a teacher, ``teacher``, ``distilled`` (the
    student right after distillation) and ``baseline`` (the same student trained on the labels
    alone; None when skipped). ``learning_rates`` is the Adam rate each stage trained with;
    ``warnings`` are findings the user should act on (e.g. distillation below the baseline).
    """

    model: str
    output: str
    output_kind: str
    techniques: tuple[str, ...]
    options: dict[str, Any]
    classes: int
    train_samples: int
    validation_samples: int
    parameters: int
    nonzero_parameters: int
    original_nonzero_parameters: int
    sizes: dict[str, SizeInfo]
    accuracy: dict[str, float | None]
    layers: tuple[LayerStat, ...]
    prune_steps: dict[str, int] | None
    teacher_parameters: int | None
    seconds: float
    notes: tuple[str, ...] = ()
    learning_rates: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def compression_ratio(self) -> float | None:
        """Float .tflite (raw) over the compressed int8 .tflite's gzip."""
        base = self.sizes.get("float_tflite")
        small = self.sizes.get("compressed_int8_tflite")
        if base is None or small is None:
            return None
        return base.raw_bytes / max(small.gzip_bytes, 1)

    @property
    def gzip_ratio(self) -> float | None:
        """gzip of the float .tflite over gzip of the compressed int8 .tflite."""
        base = self.sizes.get("float_tflite")
        small = self.sizes.get("compressed_int8_tflite")
        if base is None or small is None:
            return None
        return base.gzip_bytes / max(small.gzip_bytes, 1)

    def to_dict(self) -> dict[str, Any]:
        ratio, gz = self.compression_ratio, self.gzip_ratio
        return {
            "kind": "compress",
            "model": self.model,
            "output": self.output,
            "output_kind": self.output_kind,
            "techniques": list(self.techniques),
            "options": self.options,
            "classes": self.classes,
            "train_samples": self.train_samples,
            "validation_samples": self.validation_samples,
            "parameters": self.parameters,
            "nonzero_parameters": self.nonzero_parameters,
            "original_nonzero_parameters": self.original_nonzero_parameters,
            "sizes": {k: v.to_dict() for k, v in self.sizes.items()},
            "compression_ratio": round(ratio, 3) if ratio else None,
            "gzip_ratio": round(gz, 3) if gz else None,
            "accuracy": self.accuracy,
            "layers": [r.to_dict() for r in self.layers],
            "prune_steps": self.prune_steps,
            "teacher_parameters": self.teacher_parameters,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "learning_rates": self.learning_rates,
            "warnings": list(self.warnings),
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompressionResult:
        return cls(
            model=d["model"],
            output=d["output"],
            output_kind=d["output_kind"],
            techniques=tuple(d["techniques"]),
            options=d["options"],
            classes=d["classes"],
            train_samples=d["train_samples"],
            validation_samples=d["validation_samples"],
            parameters=d["parameters"],
            nonzero_parameters=d["nonzero_parameters"],
            original_nonzero_parameters=d["original_nonzero_parameters"],
            sizes={k: SizeInfo.from_dict(v) for k, v in d["sizes"].items()},
            accuracy=d["accuracy"],
            layers=tuple(LayerStat.from_dict(r) for r in d["layers"]),
            prune_steps=d["prune_steps"],
            teacher_parameters=d["teacher_parameters"],
            seconds=d["seconds"],
            notes=tuple(d.get("notes", ())),
            learning_rates=dict(d.get("learning_rates") or {}),
            warnings=tuple(d.get("warnings", ())),
            extra=d.get("extra", {}),
        )

"""Typed, immutable options shared by the stages (str Enums and frozen dataclasses)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from edgesdk.errors import ConfigError


class QuantMode(str, Enum):
    """How a model is quantized."""

    INT8 = "int8"
    INT16X8 = "int16x8"
    FLOAT16 = "float16"
    DYNAMIC = "dynamic"
    FLOAT32 = "float32"  # not quantized: the float model as .tflite (a float reference)

    @property
    def integer_only(self) -> bool:
        """True when every computation of the result can be integer."""
        return self in (QuantMode.INT8, QuantMode.INT16X8)

    @property
    def needs_calibration(self) -> bool:
        """True when the converter needs a representative dataset."""
        return self.integer_only


class IoType(str, Enum):
    """Data type of the model's inputs and outputs after conversion."""

    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    FLOAT32 = "float32"


class TargetKind(str, Enum):
    """What runs the model."""

    LINUX = "linux"
    MCU = "mcu"
    ACCELERATOR = "accelerator"
    MOBILE = "mobile"


ALLOWED_IO: dict[QuantMode, tuple[IoType, ...]] = {
    QuantMode.INT8: (IoType.INT8, IoType.UINT8, IoType.FLOAT32),
    QuantMode.INT16X8: (IoType.INT16, IoType.FLOAT32),
    QuantMode.FLOAT16: (IoType.FLOAT32,),
    QuantMode.DYNAMIC: (IoType.FLOAT32,),
    QuantMode.FLOAT32: (IoType.FLOAT32,),
}
"""The I/O types the TFLite converter accepts for each mode."""


def parse_enum(enum_cls: type[Enum], value: Any, what: str) -> Any:
    """Turn a string into a member of ``enum_cls`` or raise a ConfigError listing the choices."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise ConfigError(f"Invalid {what}={value!r} (must be one of: {allowed})") from None


@dataclass(frozen=True)
class Normalization:
    """How raw data (image pixels, uint8 arrays) becomes model input.

    Either ``x * scale + offset`` or, when ``mean`` and ``std`` are given, ``(x - mean) / std``
    (per channel when several values are given).
    """

    scale: float = 1.0 / 255.0
    offset: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ConfigError(
                "Invalid normalization: `mean` and `std` must be given together", what="mean"
            )
        if self.std is not None and any(s == 0 for s in self.std):
            raise ConfigError(f"Invalid std={list(self.std)} (must be non-zero)")
        if self.scale == 0:
            raise ConfigError("Invalid scale=0 (must be non-zero)")

    def describe(self) -> str:
        """A short human-readable formula."""
        if self.mean is not None:
            return f"(x - {list(self.mean)}) / {list(self.std or ())}"
        return f"x * {self.scale:.6g} + {self.offset:.6g}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalization:
        mean = data.get("mean")
        std = data.get("std")
        return cls(
            scale=float(data.get("scale", 1.0 / 255.0)),
            offset=float(data.get("offset", 0.0)),
            mean=tuple(mean) if mean is not None else None,
            std=tuple(std) if std is not None else None,
        )


@dataclass(frozen=True)
class QuantizeOptions:
    """How to quantize. ``None`` fields take the target profile's default.

    Attributes:
        mode: quantization mode.
        io: input/output data type.
        per_channel: per-channel (True) or per-tensor (False) weight quantization.
        samples: number of calibration samples.
        strict: fail (True) or warn (False) when float computation is left in the graph.
        eval_samples: at most this many held-out samples measure fidelity.
        seed: seed of the shuffle that splits calibration and held-out samples.
        normalization: how raw data is scaled (images always; arrays only if ``normalize``).
        normalize_arrays: apply ``normalization`` to array data too.
        input_shape: one sample's shape (no batch dimension) for a model that cannot tell it
            (a PyTorch function); None reads it from the model or from array data.
    """

    mode: QuantMode | None = None
    io: IoType | None = None
    per_channel: bool | None = None
    samples: int = 200
    strict: bool | None = None
    eval_samples: int = 200
    seed: int = 0
    normalization: Normalization = field(default_factory=Normalization)
    normalize_arrays: bool = False
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode is not None:
            object.__setattr__(self, "mode", parse_enum(QuantMode, self.mode, "mode"))
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if not shape or any(not isinstance(d, int) or d < 1 for d in shape):
                raise ConfigError(
                    f"Invalid input_shape={list(shape)} (must be positive whole numbers, one "
                    "sample without the batch dimension, e.g. 1,28,28)",
                    what="input_shape",
                )
            object.__setattr__(self, "input_shape", shape)
        if self.io is not None:
            object.__setattr__(self, "io", parse_enum(IoType, self.io, "io"))
        if self.samples < 1:
            raise ConfigError(f"Invalid samples={self.samples} (must be >= 1)")
        if self.eval_samples < 1:
            raise ConfigError(f"Invalid eval_samples={self.eval_samples} (must be >= 1)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value if self.mode else None,
            "io": self.io.value if self.io else None,
            "per_channel": self.per_channel,
            "samples": self.samples,
            "strict": self.strict,
            "eval_samples": self.eval_samples,
            "seed": self.seed,
            "normalization": self.normalization.to_dict(),
            "normalize_arrays": self.normalize_arrays,
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantizeOptions:
        values = dict(data)
        if values.get("input_shape") is not None:
            values["input_shape"] = tuple(values["input_shape"])
        values["normalization"] = Normalization.from_dict(values.get("normalization") or {})
        return cls(**values)


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (None for a free dimension) and dtype of a model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(
            name=data["name"], shape=tuple(data["shape"]), dtype=data.get("dtype", "float32")
        )

    def shape_text(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in self.shape) + ")"


class PruneSchedule(str, Enum):
    """How sparsity grows during pruning."""

    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"


# Adam learning rates when none is given, per training stage. Distillation and the label-only
# baseline beside it train a student that usually starts untrained: a from-scratch rate, the
# same for both so that they differ only in their loss. Pruning, clustering and QAT fine-tune
# trained weights: 1e-4 keeps what they learned. Measured on Fashion-MNIST, full data, 10
# epochs, batch 64, T 4, alpha 0.1, a 105,866-parameter CNN teacher (91.4%), an untrained
# 25,108-parameter CNN student, full test set, mean of seeds 0-4 (distilled / label-only):
# 1e-4 84.6% (one run) / -; 1e-3 89.0% / 89.7%; 2e-3 89.5% / 90.3%; 3e-3 90.0% / 90.4%;
# seed 0 only: 5e-3 89.8% / 90.8%, 1e-2 89.0% / 89.0%. On 1,000 images (the test in
# tests/compression/test_distill_baseline.py) 1e-3 and 2e-3 fell up to 2 pts below the
# label-only student where 3e-3 stayed 0.8-2 pts above it.
FROM_SCRATCH_RATE = 3e-3
FINE_TUNE_RATE = 1e-4
DEFAULT_LEARNING_RATES = {
    "distill": FROM_SCRATCH_RATE,
    "baseline": FROM_SCRATCH_RATE,
    "prune": FINE_TUNE_RATE,
    "cluster": FINE_TUNE_RATE,
    "qat": FINE_TUNE_RATE,
}


@dataclass(frozen=True)
class CompressOptions:
    """How to compress a Keras model (each technique is off unless set).

    Attributes:
        prune: target sparsity in [0, 1), or None for no pruning.
        schedule: how sparsity grows to ``prune``.
        cluster: number of weight clusters per layer (>= 2), or None.
        qat: quantization-aware training (the result keeps its learned int8 ranges).
        teacher: a teacher model file for knowledge distillation, or None.
        temperature: distillation temperature (> 0).
        alpha: weight of the true labels against the teacher's soft labels, in [0, 1].
        epochs: training epochs per technique.
        batch_size: training batch size.
        learning_rate: Adam learning rate of every stage, or None for each stage's default
            (``DEFAULT_LEARNING_RATES``: 3e-3 to distill a student, 1e-4 to fine-tune).
        skip_layers: layers left as they are by pruning, clustering and QAT.
        seed: seed of the shuffles and initialisations.
        normalization: how images are scaled.
        max_accuracy_drop: with ``prune``, an accuracy budget (a fraction: 0.01 is one point):
            per-layer sparsities are chosen by sensitivity and the int8 result is verified.
        baseline: with ``teacher``, also train the same student on the labels alone (same
            initial weights, data, epochs, batch size and seed; always at its own
            default learning rate) and compare the distilled student with it.
    """

    prune: float | None = None
    schedule: PruneSchedule = PruneSchedule.POLYNOMIAL
    cluster: int | None = None
    qat: bool = False
    teacher: str | None = None
    temperature: float = 4.0
    alpha: float = 0.1
    epochs: int = 2
    batch_size: int = 64
    learning_rate: float | None = None
    skip_layers: tuple[str, ...] = ()
    seed: int = 0
    normalization: Normalization = field(default_factory=Normalization)
    max_accuracy_drop: float | None = None
    baseline: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", parse_enum(PruneSchedule, self.schedule, "schedule"))
        if self.max_accuracy_drop is not None:
            if self.prune is None:
                raise ConfigError(
                    "An accuracy budget (`max_accuracy_drop`) chooses per-layer pruning: it needs "
                    "`prune` (a target sparsity)",
                    what="prune",
                )
            if not 0.0 <= self.max_accuracy_drop <= 1.0:
                raise ConfigError(
                    f"Invalid max_accuracy_drop={self.max_accuracy_drop} (must be a fraction in "
                    "[0, 1]: 0.01 is one point)"
                )
        object.__setattr__(self, "skip_layers", tuple(self.skip_layers))
        if self.prune is not None and not 0.0 <= self.prune < 1.0:
            raise ConfigError(f"Invalid prune={self.prune} (must be a sparsity in [0, 1))")
        if self.cluster is not None and self.cluster < 2:
            raise ConfigError(f"Invalid cluster={self.cluster} (must be >= 2 clusters)")
        if self.temperature <= 0:
            raise ConfigError(f"Invalid temperature={self.temperature} (must be > 0)")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"Invalid alpha={self.alpha} (must be in [0, 1])")
        if self.epochs < 1:
            raise ConfigError(f"Invalid epochs={self.epochs} (must be >= 1)")
        if self.batch_size < 1:
            raise ConfigError(f"Invalid batch_size={self.batch_size} (must be >= 1)")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(
                f"Invalid learning_rate={self.learning_rate} (must be > 0, or None for each "
                "stage's default)"
            )
        if not self.techniques:
            raise ConfigError(
                "Nothing to do: choose at least one of prune, cluster, qat or teacher"
            )

    @property
    def techniques(self) -> tuple[str, ...]:
        """The techniques asked for, in the order they run."""
        order = (
            ("distill", self.teacher is not None),
            ("prune", self.prune is not None),
            ("cluster", self.cluster is not None),
            ("qat", self.qat),
        )
        return tuple(name for name, on in order if on)

    def rate(self, stage: str) -> float:
        """The learning rate ``stage`` trains with: the one given, else the stage's default.

        The label-only baseline always trains at its own default: it is the reference of
        plain training that the distilled student is compared with.

        Raises:
            ConfigError: an unknown stage.
        """
        if stage not in DEFAULT_LEARNING_RATES:
            raise ConfigError(
                f"Invalid training stage {stage!r} (must be one of "
                f"{', '.join(DEFAULT_LEARNING_RATES)})"
            )
        if self.learning_rate is None or stage == "baseline":
            return DEFAULT_LEARNING_RATES[stage]
        return self.learning_rate

    @property
    def learning_rates(self) -> dict[str, float]:
        """The rate of each stage that runs, in order (the baseline's beside distillation)."""
        stages = list(self.techniques)
        if self.teacher is not None and self.baseline:
            stages.insert(1, "baseline")
        return {stage: self.rate(stage) for stage in stages}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["schedule"] = self.schedule.value
        data["skip_layers"] = list(self.skip_layers)
        data["normalization"] = self.normalization.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressOptions:
        values = dict(data)
        values["normalization"] = Normalization.from_dict(values.get("normalization") or {})
        values["skip_layers"] = tuple(values.get("skip_layers") or ())
        return cls(**values)

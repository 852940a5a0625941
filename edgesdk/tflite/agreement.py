"""What each reader of one .tflite sees (inputs, outputs, tensor shapes), compared before any
values are: LiteRT, TFLite Micro and the flatbuffer itself can read a damaged file differently
(LiteRT recomputes shapes from the ops, TFLite Micro takes the declared ones), and a
disagreement is reported as a damaged or inconsistent file, in one line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.errors import InconsistentModelError
from edgesdk.tflite.model_info import ModelInfo

_MAX_IO = 10_000  # a bound when probing how many inputs/outputs TFLite Micro has


@dataclass(frozen=True)
class IoView:
    """One input or output as one reader sees it."""

    shape: tuple[int, ...]
    dtype: str
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()

    def describe(self) -> str:
        text = f"{self.dtype} {list(self.shape)}"
        if len(self.scale) == 1 and self.zero_point:
            text += f" (scale {self.scale[0]:.9g}, zero point {self.zero_point[0]})"
        elif self.scale:
            text += f" ({len(self.scale)} scales)"
        return text

    def same(self, other: IoView) -> bool:
        return (
            self.shape == other.shape
            and self.dtype == other.dtype
            and np.array_equal(np.float32(self.scale), np.float32(other.scale))
            and self.zero_point == other.zero_point
        )


@dataclass(frozen=True)
class Reading:
    """A model's inputs and outputs as one reader (a runtime, the flatbuffer) sees them."""

    reader: str
    inputs: tuple[IoView, ...]
    outputs: tuple[IoView, ...]


def _view(shape: Any, dtype: Any, quant: dict[str, Any] | None) -> IoView:
    quant = quant or {}
    scales = tuple(float(s) for s in np.ravel(quant.get("scales", ())))
    zeros = tuple(int(z) for z in np.ravel(quant.get("zero_points", ())))
    return IoView(
        tuple(int(d) for d in np.ravel(shape)),
        np.dtype(dtype).name,
        scales,
        zeros if scales else (),
    )


def file_reading(info: ModelInfo) -> Reading:
    """The inputs and outputs the flatbuffer declares (what the generated C header says)."""
    inputs, outputs = info.io_tensors()

    def view(t: Any) -> IoView:
        return IoView(t.shape, t.dtype, t.scale, t.zero_point if t.scale else ())

    return Reading(
        "the flatbuffer", tuple(view(t) for t in inputs), tuple(view(t) for t in outputs)
    )


def litert_reading(interpreter: Any, reader: str = "LiteRT") -> Reading:
    """What a LiteRT interpreter (tensors allocated) reads."""

    def views(details: list[dict[str, Any]]) -> tuple[IoView, ...]:
        return tuple(
            _view(d["shape"], d["dtype"], d.get("quantization_parameters")) for d in details
        )

    return Reading(
        reader, views(interpreter.get_input_details()), views(interpreter.get_output_details())
    )


def micro_reading(interpreter: Any, reader: str = "TFLite Micro") -> Reading:
    """What a TFLite Micro interpreter reads (it has no count of its inputs and outputs: they
    are probed until it refuses an index; what it prints then is swallowed)."""
    from edgesdk.tflite.capture import capture_stderr

    def views(get: Any) -> tuple[IoView, ...]:
        found = []
        for index in range(_MAX_IO):
            value, _, error = capture_stderr(lambda i=index: _details(get, i))
            if error is not None or value is None:
                break
            found.append(_view(value["shape"], value["dtype"], value["quantization_parameters"]))
        return tuple(found)

    return Reading(
        reader, views(interpreter.get_input_details), views(interpreter.get_output_details)
    )


def _details(get: Any, index: int) -> dict[str, Any] | None:
    try:
        return get(index)
    except (IndexError, ValueError):
        return None


def check_agreement(what: str, readings: Sequence[Reading]) -> None:
    """Every reading against the first: input and output counts, shapes, dtypes, scales and
    zero points.

    Raises:
        InconsistentModelError: the first difference, naming both readers and what each read.
    """
    first = readings[0]
    for other in readings[1:]:
        for kind, a, b in (
            ("inputs", first.inputs, other.inputs),
            ("outputs", first.outputs, other.outputs),
        ):
            if len(a) != len(b):
                raise InconsistentModelError(
                    f"Model file {what} is damaged or inconsistent: {len(a)} {kind} to "
                    f"{first.reader}, {len(b)} to {other.reader}",
                    what=kind,
                    value={first.reader: len(a), other.reader: len(b)},
                )
            for i, (va, vb) in enumerate(zip(a, b, strict=True)):
                if not va.same(vb):
                    raise InconsistentModelError(
                        f"Model file {what} is damaged or inconsistent: {kind[:-1]} {i} is "
                        f"{va.describe()} to {first.reader}, {vb.describe()} to {other.reader}",
                        what=f"{kind[:-1]} {i}",
                        value={first.reader: va.describe(), other.reader: vb.describe()},
                    )


def check_declared_shapes(what: str, info: ModelInfo, interpreter: Any) -> None:
    """Every computed tensor of the main subgraph: the shape the file declares against the one
    LiteRT derives from its op (tensors allocated). TFLite Micro and the generated C trust the
    declared shapes, so a difference makes them compute something else than LiteRT.
    Data-dependent shapes (-1 past the batch dimension) are not compared.

    Raises:
        InconsistentModelError: the first tensor whose shapes differ.
    """
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    for t in info.main.tensors:
        d = details.get(t.index)
        if t.is_constant or d is None:
            continue
        signature = tuple(int(x) for x in np.ravel(d.get("shape_signature", ())))
        if any(x < 0 for x in signature[1:]):
            continue
        computed = tuple(int(x) for x in np.ravel(d["shape"]))
        if computed != tuple(t.shape):
            raise InconsistentModelError(
                f"Model file {what} is damaged or inconsistent: tensor {t.index} "
                f"({_printable(t.name)}) is "
                f"declared {list(t.shape)} but LiteRT computes {list(computed)} from its op",
                what=f"tensor {t.index}",
                value={"declared": list(t.shape), "LiteRT": list(computed)},
            )


def check_same_shapes(what: str, readers: dict[str, Sequence[np.ndarray]]) -> None:
    """Output arrays of several readers for the same samples: same count and shapes.

    Raises:
        InconsistentModelError: the first output whose shapes differ.
    """
    names = list(readers)
    first = readers[names[0]]
    for name in names[1:]:
        other = readers[name]
        if len(first) != len(other):
            raise InconsistentModelError(
                f"Model file {what} is damaged or inconsistent: {names[0]} gives {len(first)} "
                f"outputs, {name} {len(other)}",
                what="outputs",
            )
        for i, (a, b) in enumerate(zip(first, other, strict=True)):
            if np.shape(a) != np.shape(b):
                raise InconsistentModelError(
                    f"Model file {what} is damaged or inconsistent: {names[0]} gives output {i} "
                    f"of shape {list(np.shape(a))}, {name} {list(np.shape(b))}",
                    what=f"output {i}",
                )


def _printable(name: str, limit: int = 60) -> str:
    """A tensor name from the file as plain one-line text (escapes for control characters)."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)
    return text if len(text) <= limit else text[: limit - 3] + "..."

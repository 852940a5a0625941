"""The input rules mobile image-classifier clients impose (verified with MediaPipe 1.2.3 and
tflite-support 0.4.4): one [1, H, W, 3] RGB image input (MediaPipe refuses grayscale), uint8
or float32 with normalization metadata, never int8; one [1, classes] score output; one label
per class."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgesdk.errors import PackagingError
from edgesdk.tflite.model_info import ModelInfo

INT8_REFUSAL = '"Requested one of these types: uint8/float32, got INT8"'
GRAYSCALE_REFUSAL = '"Only RGB color space is supported for now"'


@dataclass(frozen=True)
class ClassifierShape:
    """The image classifier a .tflite model is, as mobile clients see it."""

    input_name: str
    height: int
    width: int
    channels: int
    input_dtype: str
    input_scale: float | None
    input_zero_point: int | None
    classes: int
    output_dtype: str
    score_type: str  # probability (softmax) or logit


def classifier_shape(info: ModelInfo, source: str) -> ClassifierShape:
    """Check that ``info`` is a one-image-input classifier and describe it.

    Raises:
        PackagingError: not an image classifier (the only task supported so far).
    """
    inputs, outputs = info.io_tensors()
    only = "only image classifiers can be packaged so far"
    if len(inputs) != 1 or len(outputs) != 1:
        raise PackagingError(
            f"Not an image classifier: {source} has {len(inputs)} inputs and {len(outputs)} "
            f"outputs (expected 1 image input and 1 score output; {only})",
            what="model",
        )
    image, scores = inputs[0], outputs[0]
    shape = image.shape
    if len(shape) != 4 or shape[0] not in (1, -1) or shape[3] not in (1, 3):
        raise PackagingError(
            f"Not an image classifier: input {image.name!r} of {source} has shape {list(shape)} "
            f"(expected [1, height, width, 1 or 3]; {only})",
            what="input shape",
            value=list(shape),
        )
    out = scores.shape
    if len(out) not in (1, 2) or (len(out) == 2 and out[0] not in (1, -1)) or out[-1] < 2:
        raise PackagingError(
            f"Not an image classifier: output {scores.name!r} of {source} has shape {list(out)} "
            f"(expected [1, classes]; {only})",
            what="output shape",
            value=list(out),
        )
    if shape[3] != 3:
        raise PackagingError(
            f"Input {image.name!r} of {source} has {shape[3]} channel: MediaPipe Tasks takes RGB "
            f"images only ({GRAYSCALE_REFUSAL}); build the model with a 3-channel input",
            what="input channels",
            value=int(shape[3]),
            allowed=3,
        )
    producer = info.main.producer(scores.index)
    while producer is not None and producer.name in ("QUANTIZE", "DEQUANTIZE", "RESHAPE"):
        producer = info.main.producer(producer.inputs[0])
    score_type = "probability" if producer is not None and producer.name == "SOFTMAX" else "logit"
    return ClassifierShape(
        input_name=image.name,
        height=int(shape[1]),
        width=int(shape[2]),
        channels=int(shape[3]),
        input_dtype=image.dtype,
        input_scale=image.scale[0] if image.scale else None,
        input_zero_point=image.zero_point[0] if image.zero_point else None,
        classes=int(out[-1]),
        output_dtype=scores.dtype,
        score_type=score_type,
    )


def check_input_type(shape: ClassifierShape, requantize_io: bool) -> None:
    """Refuse input types the clients refuse (int8 unless it will be requantized).

    Raises:
        PackagingError: int8 input without ``requantize_io``, or another unsupported type.
    """
    if shape.input_dtype == "int8" and not requantize_io:
        raise PackagingError(
            f"Input {shape.input_name!r} is int8: MediaPipe Tasks and the Task Library refuse "
            f'it ({INT8_REFUSAL}); quantize with `io="uint8"`, or package with `requantize_io=True`',
            what="input type",
            value="int8",
            allowed=["uint8", "float32"],
        )
    if shape.input_dtype not in ("int8", "uint8", "float32"):
        raise PackagingError(
            f"Input {shape.input_name!r} is {shape.input_dtype}: image classifiers on mobile "
            "take uint8 or float32 input",
            what="input type",
            value=shape.input_dtype,
            allowed=["uint8", "float32"],
        )


def per_channel(values: tuple[float, ...] | None, channels: int, what: str) -> tuple[float, ...]:
    """One value per channel (a single value is repeated).

    Raises:
        PackagingError: neither one value nor one per channel, or a zero std.
    """
    if values is None:
        return ()
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise PackagingError(
            f"Invalid {what}={list(values)} (must be 1 value or {channels}, one per channel)",
            what=what,
            value=list(values),
        )
    if what == "std" and any(v == 0 for v in values):
        raise PackagingError(f"Invalid std={list(values)} (must be non-zero)", what="std")
    return values


def read_labels(path: str | Path, classes: int) -> tuple[str, ...]:
    """One label per line (trailing blank lines ignored), as many as the model has classes.

    Raises:
        PackagingError: unreadable file, blank label, or a count other than ``classes``.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackagingError(f"No such labels file: {p}", what="labels") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PackagingError(f"Cannot read labels file {p}: {e}", what="labels") from e
    labels = [line.strip() for line in text.rstrip("\n\r ").splitlines()]
    if not labels or any(not label for label in labels):
        raise PackagingError(
            f"Invalid labels file {p}: blank label on line {labels.index('') + 1 if '' in labels else 1} "
            "(expected one class name per line)",
            what="labels",
        )
    if len(labels) != classes:
        raise PackagingError(
            f"Labels file {p} has {len(labels)} labels, the model's output has {classes} classes "
            "(expected one label per class, in output order)",
            what="labels",
            value=len(labels),
            allowed=classes,
        )
    return tuple(labels)

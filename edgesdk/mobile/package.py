"""Packaging a .tflite image classifier for mobile apps: input rules, I/O requantization,
metadata with packed labels, GPU-delegate placement, app snippets, manifest."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.options import TargetKind
from edgesdk.core.profiles import TargetProfile, builtin_names, load_profile
from edgesdk.core.results import JsonResult
from edgesdk.errors import ConfigError, PackagingError
from edgesdk.mobile import rules
from edgesdk.mobile.metadata import ClassifierMetadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageOptions:
    """How to package (``mean``/``std`` None: required for float input, read from the input's
    quantization for uint8 input)."""

    labels: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    name: str | None = None
    description: str = ""
    version: str = "1"
    author: str = ""
    license: str = ""
    requantize_io: bool = False
    snippets: bool = True

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ConfigError(
                "Invalid normalization: `mean` and `std` must be given together", what="mean"
            )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["mean"] = list(self.mean) if self.mean is not None else None
        data["std"] = list(self.std) if self.std is not None else None
        return data


@dataclass(frozen=True)
class PackageResult(JsonResult):
    """What was packaged and what the mobile clients will see."""

    model: str
    output: str
    target: str
    size_bytes: int
    input: dict[str, Any]
    classes: int
    output_dtype: str
    score_type: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels_count: int
    requantized_io: str
    metadata: dict[str, Any]
    gpu: dict[str, Any] | None
    snippets: tuple[str, ...]
    notes: tuple[str, ...] = ()
    layout: dict[str, Any] | None = None  # the input layout a converter changed (PyTorch NCHW)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "output": self.output,
            "target": self.target,
            "size_bytes": self.size_bytes,
            "input": self.input,
            "classes": self.classes,
            "output_dtype": self.output_dtype,
            "score_type": self.score_type,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "labels_count": self.labels_count,
            "requantized_io": self.requantized_io,
            "metadata": self.metadata,
            "gpu": self.gpu,
            "snippets": list(self.snippets),
            "notes": list(self.notes),
            "layout": self.layout,
        }


def mobile_profile(target: str | Path | TargetProfile) -> TargetProfile:
    """A mobile .tflite profile (android-arm64, android-gpu, ios-arm64 or a user's).

    Raises:
        ConfigError: the target is not a mobile .tflite target.
    """
    profile = target if isinstance(target, TargetProfile) else load_profile(target)
    if (
        profile.kind is not TargetKind.MOBILE
        or profile.mobile is None
        or (profile.mobile.model_format != "tflite")
    ):
        names = [n for n in builtin_names() if _is_tflite_mobile(n)]
        raise ConfigError(
            f"Invalid target {profile.name} for a mobile .tflite package (must be one of: "
            f"{', '.join(names)})",
            what="target",
            value=profile.name,
            allowed=names,
        )
    return profile


def _is_tflite_mobile(name: str) -> bool:
    p = load_profile(name)
    return p.mobile is not None and p.mobile.model_format == "tflite"


def _uniform(values: tuple[float, ...]) -> bool:
    return max(values) - min(values) <= 1e-6 * max(1.0, abs(max(values)))


def _uint8_params(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[float, int]:
    """The uint8 (scale, zero point) that turns a pixel into (pixel - mean) / std.

    Raises:
        PackagingError: per-channel values differ or the mean is not an integer in [0, 255].
    """
    zero = round(mean[0])
    if not (_uniform(mean) and _uniform(std)) or abs(mean[0] - zero) > 1e-3 or not 0 <= zero <= 255:
        raise PackagingError(
            f"A uint8 input cannot express (pixel - {list(mean)}) / {list(std)} (it needs one "
            "integer mean in [0, 255] and one std for all channels); package a float32-input model",
            what="normalization",
        )
    return 1.0 / std[0], zero


def _normalize_io(
    data: bytes, shape: rules.ClassifierShape, opts: PackageOptions
) -> tuple[bytes, tuple[float, ...], tuple[float, ...], str]:
    """Check (and, when asked, rewrite) the input against the normalization.

    Returns:
        The model bytes, mean, std and a note of what was rewritten ('' when nothing).
    """
    from edgesdk.mobile.requantize import int8_io_to_uint8, set_uint8_input_params

    c = shape.channels
    mean = rules.per_channel(opts.mean, c, "mean")
    std = rules.per_channel(opts.std, c, "std")
    if shape.input_dtype == "float32":
        if not mean:
            raise PackagingError(
                f"Float32 input {shape.input_name!r} needs its normalization (`mean` and `std`, "
                "e.g. `mean=0, std=255` for [0, 1]): MediaPipe and the Task Library refuse a "
                "float image input without normalization metadata",
                what="normalization",
            )
        return data, mean, std, ""
    if shape.input_dtype == "int8":  # requantize_io was asked (checked before)
        params = _uint8_params(mean, std) if mean else None
        data = int8_io_to_uint8(data, params)
        scale, zero = params or (shape.input_scale, shape.input_zero_point + 128)
        note = f"int8 I/O -> uint8 (input scale {scale:.6g}, zero point {zero})"
        return data, mean or (float(zero),) * c, std or (1.0 / scale,) * c, note
    scale, zero = shape.input_scale, shape.input_zero_point
    if scale is None or zero is None:
        raise PackagingError(
            f"uint8 input {shape.input_name!r} has no quantization parameters", what="input"
        )
    if not mean:
        return data, (float(zero),) * c, (1.0 / scale,) * c, ""
    want_scale, want_zero = _uint8_params(mean, std)
    if abs(scale * std[0] - 1.0) <= 1e-3 and zero == want_zero:
        return data, mean, std, ""
    if not opts.requantize_io:
        raise PackagingError(
            f"The uint8 input's quantization (scale {scale:.6g}, zero point {zero}) means "
            f"(pixel - {zero}) / {1 / scale:.6g}, not the given (pixel - {mean[0]:g}) / "
            f"{std[0]:g}: MediaPipe feeds raw pixels to a uint8 input; use `requantize_io=True` to "
            "set the input's scale",
            what="normalization",
        )
    data = set_uint8_input_params(data, want_scale, want_zero)
    note = f"uint8 input scale {scale:.6g}/zero point {zero} -> {want_scale:.6g}/{want_zero}"
    return data, mean, std, note


def package(
    model: str | Path,
    output: str | Path,
    target: str | Path | TargetProfile,
    options: PackageOptions,
) -> PackageResult:
    """See :func:`edgesdk.package`."""
    from edgesdk.core.fileio import check_writable, write_atomic
    from edgesdk.mobile.gpu import check_gpu
    from edgesdk.mobile.metadata import attach_metadata, build_classifier_metadata, read_metadata
    from edgesdk.tflite.layout_record import read_layout
    from edgesdk.tflite.model_info import inspect_bytes, read_tflite

    profile = mobile_profile(target)
    source = str(model)
    data = read_tflite(model)
    info = inspect_bytes(data, source)
    shape = rules.classifier_shape(info, source)
    rules.check_input_type(shape, options.requantize_io)
    labels = rules.read_labels(options.labels, shape.classes)
    out = check_writable(output)
    data, mean, std, requantized = _normalize_io(data, shape, options)
    layout = read_layout(data)
    meta = ClassifierMetadata(
        name=options.name or out.stem,
        labels=labels,
        mean=mean,
        std=std,
        description=options.description
        or f"Image classifier, {shape.width}x{shape.height}, {shape.classes} classes",
        version=options.version,
        author=options.author,
        license=options.license,
        color_space="RGB",
        score_type=shape.score_type,
        input_note=layout.line() if layout else "",
    )
    labels_text = ("\n".join(labels) + "\n").encode("utf-8")
    packaged = attach_metadata(
        data, build_classifier_metadata(meta), {meta.labels_file: labels_text}
    )
    final = rules.classifier_shape(inspect_bytes(packaged, str(out)), str(out))
    read_back = read_metadata(packaged, str(out))
    if read_back is None or read_back.labels != labels:  # pragma: no cover - a writer bug
        raise PackagingError(f"The metadata written to {out} does not read back")
    _check_loads(packaged, str(out))
    gpu = check_gpu(packaged) if profile.mobile.delegate == "gpu" else None
    notes = ["only image classifiers are packaged so far (detectors, segmenters, text: not yet)"]
    if layout is not None:
        notes.append(layout.line())
    if gpu is not None and not gpu.fully_delegated:
        notes.append(
            f"GPU delegate: {len(gpu.cpu_ops)} ops fall back to the CPU, "
            f"{len(gpu.partitions)} GPU partitions"
        )
        if any(op.op == "SHAPE" for op in gpu.cpu_ops):
            notes.append(
                "GPU delegate: SHAPE/STRIDED_SLICE/PACK come from a free batch size (e.g. Keras "
                "Flatten); build the model with keras.Input(..., batch_size=1) to keep it whole"
            )
    snippet_files = _snippets(out, final, meta, profile) if options.snippets else {}
    written = write_atomic(out, packaged)
    for path, text in snippet_files.items():
        write_atomic(path, text)
    result = PackageResult(
        model=source,
        output=str(written),
        target=profile.name,
        size_bytes=len(packaged),
        input={
            "name": final.input_name,
            "shape": [1, final.height, final.width, final.channels],
            "dtype": final.input_dtype,
            "scale": final.input_scale,
            "zero_point": final.input_zero_point,
        },
        classes=final.classes,
        output_dtype=final.output_dtype,
        score_type=final.score_type,
        mean=mean,
        std=std,
        labels_count=len(labels),
        requantized_io=requantized,
        metadata=read_back.to_dict(),
        gpu=gpu.to_dict() if gpu is not None else None,
        snippets=tuple(str(p) for p in snippet_files),
        notes=tuple(notes),
        layout=layout.to_dict() if layout else None,
    )
    _manifest(result, model, options, profile)
    return result


def _check_loads(model: bytes, source: str) -> None:
    """LiteRT must still load and run the packaged model (metadata and zip included)."""
    from edgesdk.tflite.runner import TfliteRunner

    try:
        TfliteRunner(model).interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as e:  # pragma: no cover - a writer bug
        raise PackagingError(f"LiteRT cannot load the packaged model {source}: {e}") from e


def _snippets(
    out: Path, shape: rules.ClassifierShape, meta: ClassifierMetadata, profile: TargetProfile
) -> dict[Path, str]:
    from edgesdk.mobile.snippets import SnippetFacts, kotlin, swift

    facts = SnippetFacts(
        model_file=out.name,
        height=shape.height,
        width=shape.width,
        classes=shape.classes,
        labels_file=meta.labels_file,
        first_labels=meta.labels[:5],
        input_dtype=shape.input_dtype,
        delegate=profile.mobile.delegate if profile.mobile else "xnnpack",
        assets_dir=profile.mobile.assets_dir if profile.mobile else "",
    )
    return {
        out.with_name(f"{out.stem}_MediaPipe.kt"): kotlin(facts),
        out.with_name(f"{out.stem}_MediaPipe.swift"): swift(facts),
    }


def _manifest(
    result: PackageResult, model: str | Path, options: PackageOptions, profile: TargetProfile
) -> None:
    from edgesdk.core.manifest import manifest_path, write_manifest

    previous = None
    same = Path(model).expanduser().absolute() == Path(result.output)
    if same and manifest_path(result.output).is_file():  # quantize --labels packages in place
        try:
            previous = json.loads(manifest_path(result.output).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
    write_manifest(
        result.output,
        "package",
        {"model": None if same else model, "labels": options.labels},
        {**result.to_dict(), "previous_manifest": previous},
        options=options.to_dict(),
        target=profile.to_dict(),
    )


def _mean_std(norm: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of a Normalization: ``x * scale + offset`` is ``(x - mean) / std``."""
    if norm.mean is not None:
        return tuple(norm.mean), tuple(norm.std)
    return (-norm.offset / norm.scale + 0.0,), (1.0 / norm.scale,)


def check_quantize_labels(profile: TargetProfile, labels: str | Path, options: Any) -> None:
    """Before quantizing with ``--labels``: a mobile target, a readable labels file, and for
    integer I/O a normalization a uint8 input can express (one mean, one std).

    Raises:
        ConfigError: not a mobile .tflite target.
        PackagingError: the labels file is missing, or the normalization is per channel.
    """
    from edgesdk.quantization.convert import resolve_options

    mobile_profile(profile)
    if not Path(labels).is_file():
        raise PackagingError(f"No such labels file: {labels}", what="labels")
    opts = resolve_options(options, profile)
    if opts.io is not None and opts.io.value != "float32":
        _uint8_params(*_mean_std(opts.normalization))


def package_quantized(result: Any, labels: str | Path, profile: TargetProfile, norm: Any) -> Any:
    """Package the .tflite a quantize run wrote, in place, with the normalization it was
    calibrated with; the QuantizationResult gets ``extra["package"]``."""
    mean, std = _mean_std(norm)
    options = PackageOptions(labels=str(labels), mean=mean, std=std, requantize_io=True)
    packaged = package(result.output, result.output, profile, options)
    return dataclasses.replace(result, extra={**result.extra, "package": packaged.to_dict()})

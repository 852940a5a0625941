"""The mobile verbs of the public API (re-exported by ``edgesdk.api``): packaging for
MediaPipe Tasks / the Task Library, Core ML export and mobile inspection; each delegates to
``edgesdk.mobile``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.core.profiles import TargetProfile, load_profile

if TYPE_CHECKING:  # for annotations only: the mobile stage pulls in numpy, models Keras
    import keras

    from edgesdk.mobile.coreml import CoreMLResult
    from edgesdk.mobile.inspection import MobileReport
    from edgesdk.mobile.package import PackageResult


def _profile(target: str | Path | TargetProfile) -> TargetProfile:
    return target if isinstance(target, TargetProfile) else load_profile(target)


def package(
    model: str | Path,
    output: str | Path,
    labels: str | Path,
    target: str | Path | TargetProfile = "android-arm64",
    mean: float | tuple[float, ...] | None = None,
    std: float | tuple[float, ...] | None = None,
    requantize_io: bool = False,
    **metadata: str | bool | None,
) -> PackageResult:
    """Make a .tflite image classifier what a mobile app loads as it is (MediaPipe Tasks,
    TFLite Task Library): metadata (name, description, version, author, license, input
    normalization, output score type) with the labels packed inside, plus Kotlin and Swift
    usage snippets beside it and, for ``android-gpu``, the GPU-delegate op placement.

    Args:
        model: a .tflite image classifier ([1, H, W, 1 or 3] input, [1, classes] output).
        output: the packaged .tflite to write.
        labels: a text file with one class name per line, in output order.
        target: a mobile profile: android-arm64, android-gpu, ios-arm64 (or a path).
        mean, std: input normalization ``(pixel - mean) / std``; required for float32 input.
        requantize_io: give an int8-I/O model uint8 I/O (clients refuse int8 input), or set a
            uint8 input's scale to match ``mean``/``std``.
        **metadata: name, description, version, author, license; ``snippets=False`` skips
            the Kotlin/Swift files.

    Returns:
        The PackageResult.

    Raises:
        PackagingError, ConfigError, InspectionError, OutputError.
    """
    from edgesdk.mobile.package import PackageOptions
    from edgesdk.mobile.package import package as _package

    def _tuple(v: float | tuple[float, ...] | list[float] | None) -> tuple[float, ...] | None:
        return (
            None
            if v is None
            else tuple(float(x) for x in (v if isinstance(v, (tuple, list)) else (v,)))
        )

    options = PackageOptions(
        labels=str(labels),
        mean=_tuple(mean),
        std=_tuple(std),
        requantize_io=requantize_io,
        **metadata,
    )
    return _package(model, output, target, options)


def export_coreml(
    model: str | Path | keras.Model,
    output: str | Path,
    target: str | Path | TargetProfile = "ios-coreml",
    labels: str | Path | None = None,
    mean: float | tuple[float, ...] = 0.0,
    std: float | tuple[float, ...] = 255.0,
) -> CoreMLResult:
    """Convert a Keras image classifier to a Core ML ``.mlpackage`` (ML Program) for iOS with
    an image input (``pixel / std - mean / std``) and the profile's compute precision, then
    validate the written spec (inputs, outputs, op list, weight precision). Core ML cannot run
    on Linux: numerical checks need macOS.

    Returns:
        The CoreMLResult.

    Raises:
        ConfigError, ModelError, ExportError, OutputError.
    """
    from edgesdk.mobile.coreml import export_coreml as _export

    return _export(model, output, _profile(target), labels, mean, std)


def inspect_mobile(
    path: str | Path, target: str | Path | TargetProfile | None = None
) -> MobileReport:
    """A .tflite file's mobile metadata (labels, normalization) and, when ``target`` is a GPU
    profile (android-gpu), which ops the GPU delegate runs and the partitions that makes."""
    from edgesdk.mobile.inspection import inspect_mobile as _inspect

    profile = _profile(target) if target is not None else None
    gpu = bool(profile and profile.mobile and profile.mobile.delegate == "gpu")
    return _inspect(path, gpu)

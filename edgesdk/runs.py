"""The composer of a run's steps: quantize, then export the C bundle and/or package for mobile.

Stages never chain each other or call the façade: ``edgesdk.api`` (and the demo) call this
module, which checks every step's request before the first one runs, resolves the options
once and builds the result once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.core.options import QuantizeOptions
from edgesdk.core.profiles import TargetProfile
from edgesdk.quantization.result import QuantizationResult

if TYPE_CHECKING:
    import keras
    import numpy as np


def quantize_run(
    model: str | Path | keras.Model,
    data: str | Path | np.ndarray | Mapping[str, np.ndarray] | None,
    output: str | Path,
    profile: TargetProfile,
    options: QuantizeOptions,
    max_accuracy_drop: float | None = None,
    eval_data: str | Path | None = None,
    emit_c: str | Path | None = None,
    labels: str | Path | None = None,
) -> QuantizationResult:
    """Quantize, then (on request) export the firmware C bundle and package for mobile.

    Raises:
        ConfigError, ModelError, DatasetError, ConversionError, OutputError, ExportError,
        PackagingError: the first step that fails; a later step's request is checked before
            the conversion starts (a non-empty bundle folder, a missing labels file).
    """
    from edgesdk.core.fileio import check_out_dir
    from edgesdk.quantization.job import quantize

    if labels is not None:
        from edgesdk.mobile.package import check_quantize_labels

        check_quantize_labels(profile, labels, options)
    if emit_c is not None:  # a non-empty bundle folder fails before any conversion
        check_out_dir(emit_c)
    result = quantize(model, data, output, profile, options, max_accuracy_drop, eval_data)
    if emit_c is not None:
        from edgesdk.firmware.engines import ExportRequest, export

        bundle = export(ExportRequest(result.output, profile, emit_c))
        result = dataclasses.replace(result, export=bundle)
    if labels is not None:
        from edgesdk.mobile.package import package_quantized

        result = package_quantized(result, labels, profile, options.normalization)
    return result

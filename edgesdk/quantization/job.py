"""The quantize job on the host: check the request, run the worker, write the .tflite and its
manifest (what follows a quantization is chained by ``edgesdk.runs``)."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgesdk._worker import protocol
from edgesdk._worker.tasks import QuantizeRequest, QuantizeSearchRequest
from edgesdk.core.options import QuantizeOptions, QuantMode
from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ConfigError, DatasetError, ModelError
from edgesdk.quantization.result import QuantizationResult

log = logging.getLogger(__name__)


def data_spec(data: Any, jobdir: Path) -> str | None:
    """A data SPEC string; in-memory arrays are saved to an .npz in ``jobdir``."""
    import numpy as np

    if data is None:
        return None
    if isinstance(data, (str, Path)):
        from edgesdk.inputs.samples import check_spec

        spec = str(data)
        check_spec(spec)
        return spec
    if isinstance(data, np.ndarray):
        arrays = {"x": data}
    elif isinstance(data, Mapping):
        arrays = {str(k): np.asarray(v) for k, v in data.items()}
    else:
        raise DatasetError(
            f"Unsupported data of type {type(data).__name__} (expected a path, a module:function "
            "string, a numpy array or a dict of arrays by input name)",
            what="data",
            value=type(data).__name__,
        )
    path = jobdir / protocol.DATA
    np.savez(path, **arrays)
    return str(path)


def check_budget(max_accuracy_drop: float | None, eval_data: Any) -> None:
    """Both halves of an accuracy budget, or neither; the drop in points within [0, 100]."""
    if (max_accuracy_drop is None) != (eval_data is None):
        raise ConfigError(
            "An accuracy budget needs both `max_accuracy_drop` and labelled `eval_data`",
            what="max_accuracy_drop",
        )
    if max_accuracy_drop is not None and not 0 <= max_accuracy_drop <= 1:
        raise ConfigError(
            f"Invalid max_accuracy_drop={max_accuracy_drop} (must be a fraction of accuracy "
            "in [0, 1]: 0.01 is one point)",
            what="max_accuracy_drop",
            value=max_accuracy_drop,
            allowed="[0, 1]",
        )


def _check_framework(model: Any, opts: QuantizeOptions, max_accuracy_drop: float | None) -> None:
    """A PyTorch model: the options the PT2E route can make, and no accuracy budget."""
    if not isinstance(model, (str, Path)):
        return
    from edgesdk.inputs.frontends import frontend_for

    if frontend_for(model).framework != "torch":
        return
    from edgesdk.quantization.torch_convert import check_torch_options

    check_torch_options(opts)
    if max_accuracy_drop is not None:
        raise ConfigError(
            "An accuracy budget (`max_accuracy_drop`) is not applicable to PyTorch models: its "
            "recipes (per-tensor, 16x8, float fallback) rebuild a TensorFlow converter",
            what="max_accuracy_drop",
        )


def _model_path(model: Any, jobdir: Path) -> tuple[str, str]:
    """(path the worker loads, how to name the model in messages)."""
    from edgesdk.inputs.frontends import locate, recognise
    from edgesdk.quantization.convert import save_keras_model

    if isinstance(model, (str, Path)):
        recognise(model)
        return locate(model), str(model)
    if any(c.__module__.startswith("torch.") for c in type(model).__mro__):
        raise ModelError(
            f"An in-memory PyTorch model ({type(model).__name__}) cannot be handed to the "
            "converter process: save it with torch.export.save as .pt2, or pass "
            "'module:function' returning it"
        )
    name = f"in-memory model {getattr(model, 'name', '')}".strip()
    return str(save_keras_model(model, jobdir)), name


def quantize(
    model: Any,
    data: Any,
    output: str | Path,
    profile: TargetProfile,
    options: QuantizeOptions,
    max_accuracy_drop: float | None = None,
    eval_data: str | Path | None = None,
) -> QuantizationResult:
    """Quantize ``model`` and write ``output`` (see :func:`edgesdk.quantize`)."""
    from edgesdk._worker.parent import run_task
    from edgesdk.core.fileio import check_writable, write_atomic
    from edgesdk.quantization.convert import resolve_options

    start = time.perf_counter()
    check_budget(max_accuracy_drop, eval_data)
    opts = resolve_options(options, profile)
    if max_accuracy_drop is not None and opts.mode is QuantMode.FLOAT32:
        raise ConfigError(
            "An accuracy budget (`max_accuracy_drop`) chooses among quantization recipes: it "
            "does not apply to `mode=float32` (not quantized)",
            what="max_accuracy_drop",
        )
    _check_framework(model, opts, max_accuracy_drop)
    out = check_writable(output)
    with tempfile.TemporaryDirectory(prefix="edgesdk-") as tmp:
        jobdir = Path(tmp)
        model_path, what = _model_path(model, jobdir)
        spec = data_spec(data, jobdir)
        common = {
            "model": model_path,
            "data": spec,
            "profile": profile.to_dict(with_source=False),
            "profile_source": profile.source,
        }
        request: QuantizeRequest | QuantizeSearchRequest
        if max_accuracy_drop is None:
            request = QuantizeRequest(**common, options=opts.to_dict())
        else:
            from edgesdk.inputs.samples import check_spec

            check_spec(str(eval_data))
            if spec is None:
                raise ConfigError(
                    "An accuracy budget needs representative data (`data`)", what="data"
                )
            request = QuantizeSearchRequest(
                **common,
                options=options.to_dict(),
                eval_data=str(eval_data),
                max_drop=float(max_accuracy_drop),
            )
        result = QuantizationResult.from_dict(run_task(request, jobdir, what))
        written = write_atomic(out, (jobdir / protocol.MODEL).read_bytes())
        result = dataclasses.replace(
            result, model=what, output=str(written), seconds=time.perf_counter() - start
        )
        _manifest(result, model_path, spec, eval_data, opts, max_accuracy_drop, profile)
    for warning in result.warnings:
        log.warning("%s", warning)
    return result


def _manifest(
    result: QuantizationResult,
    model_path: str,
    spec: str | None,
    eval_data: str | Path | None,
    opts: QuantizeOptions,
    max_accuracy_drop: float | None,
    profile: TargetProfile,
) -> None:
    from edgesdk.core.manifest import write_manifest

    write_manifest(
        result.output,
        "quantize",
        {
            "model": model_path,
            "data": spec if spec and Path(spec).exists() else None,
            "eval_data": eval_data,
        },
        result.to_dict(),
        options={
            **opts.to_dict(),
            "max_accuracy_drop": max_accuracy_drop,
            "eval_data": str(eval_data) if eval_data is not None else None,
        },
        target=profile.to_dict(),
        calibration=result.extra.get("calibration"),
    )

"""The stages a pipeline runs, as a table: what each reads (hashed for the cache), the options
it resolves, the library call it makes (the same as its command's) and what it measures."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.firmware.engines import DEFAULT_ENGINE, Engine
from edgesdk.pipeline.compress_stage import COMPRESS
from edgesdk.pipeline.context import (
    BUNDLE,
    EMULATION,
    EVALUATION,
    MOBILE,
    TFLITE,
    Stage,
    StageContext,
    StageOutcome,
    model_function,
    source_file,
    source_model,
)
from edgesdk.pipeline.device_stages import BENCHMARK_STAGE, DEPLOY
from edgesdk.pipeline.output_stages import EXPORT_COREML, REPORT_STAGE
from edgesdk.pipeline.spec import OptionValue, StageSpec

if TYPE_CHECKING:
    from edgesdk.core.options import QuantizeOptions
    from edgesdk.core.profiles import TargetProfile
    from edgesdk.mobile.package import PackageOptions


def _str(value: OptionValue | None) -> str | None:
    return None if value is None else str(value)


# quantize --------------------------------------------------------------------------------------
_QUANTIZE_OPTIONS = (
    "mode",
    "io",
    "per_channel",
    "samples",
    "strict",
    "eval_samples",
    "seed",
    "normalize_arrays",
)


def _quantize_data(ctx: StageContext) -> Path | None:
    data = ctx.stage.option("data")
    return Path(str(data)) if data is not None else ctx.pipeline.data


def _quantize_inputs(ctx: StageContext) -> dict[str, Path | None]:
    eval_data = ctx.stage.option("eval_data")
    return {
        "model": source_file(ctx),
        "data": _quantize_data(ctx),
        "eval_data": Path(str(eval_data)) if eval_data is not None else None,
    }


def _quantize_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    options = {k: v for k, v in ctx.stage.options if k not in ("data", "eval_data")}
    return {**options, **model_function(ctx)}


def _quantize_options_object(stage: StageSpec) -> QuantizeOptions:
    from edgesdk.core.options import QuantizeOptions

    chosen = {k: v for k, v in stage.options if k in _QUANTIZE_OPTIONS}
    return QuantizeOptions(**chosen)  # type: ignore[arg-type]


def _quantize_check(stage: StageSpec, profile: TargetProfile) -> None:
    from edgesdk.quantization.job import check_budget

    _quantize_options_object(stage)
    check_budget(stage.option("max_accuracy_drop"), stage.option("eval_data"))  # type: ignore[arg-type]


def _quantize_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.quantization.job import quantize

    opts = ctx.stage.options_dict()
    options = _quantize_options_object(ctx.stage)
    drop = opts.get("max_accuracy_drop")
    result = quantize(
        source_model(ctx),
        _quantize_data(ctx),
        ctx.folder / TFLITE,
        ctx.profile,
        options,
        float(drop) if drop is not None else None,
        _str(opts.get("eval_data")),
    )
    metrics = {"size_bytes": float(result.size.raw_bytes)}
    agreements = [f.top1_agreement for f in result.fidelity if f.top1_agreement is not None]
    if agreements:
        metrics["agreement"] = float(min(agreements))
    return StageOutcome({"tflite": ctx.folder / TFLITE}, metrics)


# export-c --------------------------------------------------------------------------------------
def _export_inputs(ctx: StageContext) -> dict[str, Path | None]:
    data = ctx.stage.option("data")
    return {"tflite": ctx.folder / TFLITE, "data": Path(str(data)) if data is not None else None}


def _export_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    options: dict[str, OptionValue | None] = {"engine": DEFAULT_ENGINE.value, "test_vectors": 0}
    if ctx.lists("emulate"):  # the firmware checks itself against test vectors
        options["test_vectors"] = 4
    options.update((k, v) for k, v in ctx.stage.options if k != "data")
    return options


def _export_check(stage: StageSpec, profile: TargetProfile) -> None:
    from edgesdk.errors import ConfigError
    from edgesdk.firmware.engines import check_options

    check_options(str(stage.option("engine", DEFAULT_ENGINE.value)), stage.option, ConfigError)


def _export_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.firmware.engines import ExportRequest, export

    bundle = ctx.folder / BUNDLE
    if bundle.exists():  # this pipeline's own earlier bundle: replaced, never merged
        shutil.rmtree(bundle)
    o = _export_options(ctx)
    request = ExportRequest(
        ctx.folder / TFLITE,
        ctx.profile,
        bundle,
        name=_str(o.get("name")),
        test_vectors=int(o.get("test_vectors") or 0),
        verify=bool(o.get("verify", True)),
        firmware=bool(o.get("firmware", False)),
        data_spec=_str(ctx.stage.option("data")),
        integer_only=bool(o.get("integer_only", False)),
        kernels=_str(o.get("kernels")),
        arena=_str(o.get("arena")),
        io=_str(o.get("io")),
    )
    export(request, str(o["engine"]))
    return StageOutcome({"bundle": bundle})


# emulate ---------------------------------------------------------------------------------------
def _emulate_inputs(ctx: StageContext) -> dict[str, Path | None]:
    return {"bundle": ctx.folder / BUNDLE}


def _emulate_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    return {"timeout": 120.0, **ctx.stage.options_dict()}


def _emulate_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.firmware.engines import EmulateRequest, emulate

    o = _emulate_options(ctx)
    request = EmulateRequest(
        ctx.folder / BUNDLE,
        ctx.profile,
        _str(o.get("tflm_src")),
        float(o["timeout"] or 120.0),
        None,
        _str(o.get("board")),
        _str(o.get("kernels")),
    )
    result = emulate(request)
    result.save(ctx.folder / EMULATION)
    data = result.to_dict()
    budget = data["budget"]
    metrics = {
        "flash_bytes": float(budget["flash_used"]),
        "ram_bytes": float(budget["ram_used"]),
        "bit_exact": 1.0 if data["bit_exact"] else 0.0,
    }
    if data["instructions"]:
        metrics["instructions"] = float(max(data["instructions"]))
    latency = data.get("estimated_latency_ms")
    if latency is None and data["instructions"] and data.get("clock_mhz"):
        latency = max(data["instructions"]) * data["cpi"] / (data["clock_mhz"] * 1e3)
    if latency is not None:
        metrics["estimated_latency_ms"] = float(latency)
    return StageOutcome({"emulation": ctx.folder / EMULATION}, metrics)


# package ---------------------------------------------------------------------------------------
def _package_inputs(ctx: StageContext) -> dict[str, Path | None]:
    return {"tflite": ctx.folder / TFLITE, "labels": Path(str(ctx.stage.option("labels")))}


def _package_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    return {k: v for k, v in ctx.stage.options if k != "labels"}


def _package_options_object(stage: StageSpec) -> PackageOptions:
    from edgesdk.mobile.package import PackageOptions

    o = stage.options_dict()
    mean, std = o.pop("mean", None), o.pop("std", None)
    return PackageOptions(
        mean=None if mean is None else (float(mean),),
        std=None if std is None else (float(std),),
        **{k: v for k, v in o.items()},  # type: ignore[arg-type]
    )


def _package_check(stage: StageSpec, profile: TargetProfile) -> None:
    _package_options_object(stage)


def _package_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.mobile.package import package

    folder = ctx.folder / MOBILE
    if folder.exists():  # this pipeline's own earlier package: replaced, never merged
        shutil.rmtree(folder)
    package(ctx.folder / TFLITE, folder / TFLITE, ctx.profile, _package_options_object(ctx.stage))
    return StageOutcome({"package": folder})


# evaluate --------------------------------------------------------------------------------------
def _evaluate_inputs(ctx: StageContext) -> dict[str, Path | None]:
    return {
        "model": ctx.pipeline.model,  # the original float model: the drop of every stage
        "tflite": ctx.folder / TFLITE,
        "data": Path(str(ctx.stage.option("data"))),
    }


def _evaluate_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    defaults: dict[str, OptionValue] = {"tflm": False, "limit": 10_000, "normalize_arrays": False}
    function = (
        {"model_function": ctx.pipeline.model_function} if ctx.pipeline.model_function else {}
    )
    return {**defaults, **{k: v for k, v in ctx.stage.options if k != "data"}, **function}


def _evaluate_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.evaluation.compare import evaluate

    o = _evaluate_options(ctx)
    result = evaluate(
        ctx.pipeline.model_source(),
        [ctx.folder / TFLITE],
        str(ctx.stage.option("data")),
        tflm=bool(o["tflm"]),
        limit=int(o["limit"] or 1),
        normalize_arrays=bool(o["normalize_arrays"]),
    )
    result.save(ctx.folder / EVALUATION)
    reference, *runs = result.runs
    metrics: dict[str, float] = {}
    accuracies = [r.top1 for r in runs if r.top1 is not None]
    if reference.top1 is not None and accuracies:
        metrics["accuracy"] = float(min(accuracies))
        metrics["accuracy_drop"] = float(reference.top1 - min(accuracies))
    return StageOutcome({"evaluation": ctx.folder / EVALUATION}, metrics)


def _firmware_tools(ctx: StageContext) -> dict[str, str | None]:
    """The tools outside Python a firmware run depends on: the Arm compiler, qemu, and the
    TFLite Micro source the library is built from."""
    import os

    from edgesdk.firmware.toolchain import find_toolchain

    chain = find_toolchain()
    found: dict[str, str | None] = {
        "arm-none-eabi-gcc": chain.gcc_version,
        "qemu-system-arm": chain.qemu_version,
    }
    export = next((s for s in ctx.target.stages if s.name == "export-c"), None)
    engine = (
        DEFAULT_ENGINE.value if export is None else export.option("engine", DEFAULT_ENGINE.value)
    )
    if engine == Engine.TFLM.value:  # built against a TFLite Micro source
        src = ctx.stage.option("tflm_src") or os.environ.get("EDGESDK_TFLM_SRC")
        found["tflm-source"] = None if src is None else str(src)
    return found


STAGES: dict[str, Stage] = {
    "quantize": Stage(_quantize_inputs, _quantize_options, _quantize_run, _quantize_check),
    "export-c": Stage(_export_inputs, _export_options, _export_run, _export_check),
    "emulate": Stage(_emulate_inputs, _emulate_options, _emulate_run, tools=_firmware_tools),
    "package": Stage(_package_inputs, _package_options, _package_run, _package_check),
    "evaluate": Stage(_evaluate_inputs, _evaluate_options, _evaluate_run),
    "deploy": DEPLOY,
    "benchmark": BENCHMARK_STAGE,
    "compress": COMPRESS,
    "export-coreml": EXPORT_COREML,
    "report": REPORT_STAGE,
}

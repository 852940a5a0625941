"""The stages a pipeline runs, as a table: what each reads (hashed for the cache), the options
it resolves, the library call it makes (the same as its command's) and what it measures."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.firmware.engines import DEFAULT_ENGINE, Engine
from edgesdk.pipeline.spec import OptionValue, PipelineSpec, StageSpec, TargetSpec

if TYPE_CHECKING:
    from edgesdk.core.options import QuantizeOptions
    from edgesdk.core.profiles import TargetProfile
    from edgesdk.devices.benchmark import BenchmarkOptions
    from edgesdk.devices.ssh import Session
    from edgesdk.mobile.package import PackageOptions

TFLITE = "model.tflite"
BUNDLE = "bundle"
EMULATION = "emulate.json"
EVALUATION = "evaluate.json"
MOBILE = "mobile"
DEPLOYMENT = "deploy.json"
BENCHMARK = "benchmark.json"


@dataclass(frozen=True)
class StageContext:
    """What a stage of one target sees: the pipeline, the target, its profile and folder."""

    pipeline: PipelineSpec
    target: TargetSpec
    profile: TargetProfile
    folder: Path
    stage: StageSpec

    def lists(self, stage: str) -> bool:
        return stage in self.target.stage_names()


@dataclass(frozen=True)
class StageOutcome:
    """What one stage wrote and measured (the measurements gates are checked against)."""

    outputs: dict[str, Path]
    metrics: dict[str, float] = field(default_factory=dict)


def _no_check(stage: StageSpec) -> None:
    """Options whose values the loader has checked in full."""


@dataclass(frozen=True)
class Stage:
    """One row of the table: inputs and options (the cache key), the run itself, and a check
    of the option values made before any stage of the pipeline runs."""

    inputs: Callable[[StageContext], dict[str, Path | None]]
    options: Callable[[StageContext], dict[str, OptionValue | None]]
    run: Callable[[StageContext], StageOutcome]
    check: Callable[[StageSpec], None] = _no_check
    tools: Callable[[StageContext], dict[str, str | None]] = lambda ctx: {}


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
        "model": ctx.pipeline.model,
        "data": _quantize_data(ctx),
        "eval_data": Path(str(eval_data)) if eval_data is not None else None,
    }


def _quantize_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    return {k: v for k, v in ctx.stage.options if k not in ("data", "eval_data")}


def _quantize_options_object(stage: StageSpec) -> QuantizeOptions:
    from edgesdk.core.options import QuantizeOptions

    chosen = {k: v for k, v in stage.options if k in _QUANTIZE_OPTIONS}
    return QuantizeOptions(**chosen)  # type: ignore[arg-type]


def _quantize_check(stage: StageSpec) -> None:
    from edgesdk.quantization.job import check_budget

    _quantize_options_object(stage)
    check_budget(stage.option("max_accuracy_drop"), stage.option("eval_data"))  # type: ignore[arg-type]


def _quantize_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.quantization.job import quantize

    opts = ctx.stage.options_dict()
    options = _quantize_options_object(ctx.stage)
    drop = opts.get("max_accuracy_drop")
    result = quantize(
        ctx.pipeline.model,
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


def _export_check(stage: StageSpec) -> None:
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


def _package_check(stage: StageSpec) -> None:
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
        "model": ctx.pipeline.model,
        "tflite": ctx.folder / TFLITE,
        "data": Path(str(ctx.stage.option("data"))),
    }


def _evaluate_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    defaults: dict[str, OptionValue] = {"tflm": False, "limit": 10_000, "normalize_arrays": False}
    return {**defaults, **{k: v for k, v in ctx.stage.options if k != "data"}}


def _evaluate_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.evaluation.compare import evaluate

    o = _evaluate_options(ctx)
    result = evaluate(
        ctx.pipeline.model,
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


# deploy and benchmark ---------------------------------------------------------------------------
def _device_options(
    ctx: StageContext, defaults: dict[str, OptionValue]
) -> dict[str, OptionValue | None]:
    """The stage's options, and where its device is (a device moved in the inventory is a
    new device: the stage runs again)."""
    options: dict[str, OptionValue | None] = {**defaults, **ctx.stage.options_dict()}
    name = options.get("device")
    if name is not None:
        from edgesdk.devices.inventory import Inventory

        d = Inventory().resolve(str(name))
        options["device_address"] = f"{d.user or ''}@{d.host}:{d.port or ''}/{d.workdir}"
    return options


def _device_check(stage: StageSpec) -> None:
    name = stage.option("device")
    if name is not None:
        from edgesdk.devices.inventory import Inventory

        Inventory().resolve(str(name))  # an unknown device is one line, before any stage


def _deploy_inputs(ctx: StageContext) -> dict[str, Path | None]:
    return {"tflite": ctx.folder / TFLITE}


def _deploy_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    return _device_options(ctx, {"lock_wait": 60.0})


def _session(device: str) -> Session:
    from edgesdk.devices.inventory import Inventory
    from edgesdk.devices.ssh import Session

    return Session(Inventory().resolve(device))


def _deploy_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.devices.deploy import deploy
    from edgesdk.tflite.model_info import check_tflite_file

    o = _deploy_options(ctx)
    check_tflite_file(ctx.folder / TFLITE)
    with _session(str(o["device"])) as session:
        result = deploy(session, ctx.folder / TFLITE, None, float(o["lock_wait"] or 0.0))
    result.save(ctx.folder / DEPLOYMENT)
    return StageOutcome({"deployment": ctx.folder / DEPLOYMENT})


_BENCHMARK_DEFAULTS: dict[str, OptionValue] = {"threads": 0, "runs": 100, "warmup": 10,
                                               "runtime": "auto", "timeout": 600.0}  # fmt: skip


def _benchmark_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    return _device_options(ctx, _BENCHMARK_DEFAULTS)


def _benchmark_options_object(o: dict[str, OptionValue | None]) -> BenchmarkOptions:
    from edgesdk.devices.benchmark import BenchmarkOptions

    return BenchmarkOptions(
        threads=int(o["threads"] or 0),
        runs=int(o["runs"] or 1),
        warmup=int(o["warmup"] or 0),
        timeout=float(o["timeout"] or 600.0),
        runtime=str(o["runtime"]),
    )


def _benchmark_check(stage: StageSpec) -> None:
    _device_check(stage)
    _benchmark_options_object({**_BENCHMARK_DEFAULTS, **stage.options_dict()})


def _benchmark_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.devices.benchmark import run_local, run_remote
    from edgesdk.tflite.model_info import check_tflite_file

    o = _benchmark_options(ctx)
    options = _benchmark_options_object(o)
    model = ctx.folder / TFLITE
    check_tflite_file(model)
    if o.get("device") is None:
        result = run_local(model, options)
    else:
        with _session(str(o["device"])) as session:
            result = run_remote(session, model, options)
    result.save(ctx.folder / BENCHMARK)
    p90 = result.stats.get("p90_ms")
    metrics = {"p90_latency_ms": float(p90)} if p90 is not None else {}
    return StageOutcome({"benchmark": ctx.folder / BENCHMARK}, metrics)


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
    "deploy": Stage(_deploy_inputs, _deploy_options, _deploy_run, _device_check),
    "benchmark": Stage(_deploy_inputs, _benchmark_options, _benchmark_run, _benchmark_check),
}

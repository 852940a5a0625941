"""What a pipeline stage sees and returns, the row of the stage table, and the file names the
stages of one target share in its folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.pipeline.spec import OptionValue, PipelineSpec, StageSpec, TargetSpec

if TYPE_CHECKING:
    from edgesdk.core.profiles import TargetProfile

TFLITE = "model.tflite"
BUNDLE = "bundle"
EMULATION = "emulate.json"
EVALUATION = "evaluate.json"
MOBILE = "mobile"
DEPLOYMENT = "deploy.json"
BENCHMARK = "benchmark.json"
COMPRESSED = "compressed"  # + the model's suffix; a SavedModel folder with `qat`
COREML = "model.mlpackage"
COREML_RESULT = "export-coreml.json"
REPORT = "report"


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

    def spec_of(self, stage: str) -> StageSpec | None:
        return next((s for s in self.target.stages if s.name == stage), None)


@dataclass(frozen=True)
class StageOutcome:
    """What one stage wrote and measured (the measurements gates are checked against)."""

    outputs: dict[str, Path]
    metrics: dict[str, float] = field(default_factory=dict)


def _no_check(stage: StageSpec, profile: TargetProfile) -> None:
    """Options whose values the loader has checked in full."""


@dataclass(frozen=True)
class Stage:
    """One row of the table: inputs and options (the cache key), the run itself, and a check
    of the option values (against the target's profile) made before any stage runs."""

    inputs: Callable[[StageContext], dict[str, Path | None]]
    options: Callable[[StageContext], dict[str, OptionValue | None]]
    run: Callable[[StageContext], StageOutcome]
    check: Callable[[StageSpec, TargetProfile], None] = _no_check
    tools: Callable[[StageContext], dict[str, str | None]] = lambda ctx: {}


def compressed_path(ctx: StageContext) -> Path:
    """Where the target's compress stage writes its model (a SavedModel folder with `qat`)."""
    compress = ctx.spec_of("compress")
    if compress is not None and compress.option("qat"):
        return ctx.folder / f"{COMPRESSED}_qat"
    suffix = ".h5" if ctx.pipeline.model.suffix.lower() == ".h5" else ".keras"
    return ctx.folder / f"{COMPRESSED}{suffix}"


def source_model(ctx: StageContext) -> str | Path:
    """The float model the stages after compress take: the compressed one when the target
    lists compress, else the pipeline's model (a function source as the library takes it)."""
    return compressed_path(ctx) if ctx.lists("compress") else ctx.pipeline.model_source()


def source_file(ctx: StageContext) -> Path:
    """The file :func:`source_model` comes from (what the cache hashes)."""
    return compressed_path(ctx) if ctx.lists("compress") else ctx.pipeline.model


def model_function(ctx: StageContext) -> dict[str, OptionValue | None]:
    """For a function source, the function as written (another function of the same file is
    another model): an option of the stages that take the model."""
    if ctx.lists("compress") or ctx.pipeline.model_function is None:
        return {}
    return {"model_function": ctx.pipeline.model_function}

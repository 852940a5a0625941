"""The compress stage: the same library call as `edgesdk compress`, its model written into the
target's folder for quantize (and export-coreml) to take."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.pipeline.context import Stage, StageContext, StageOutcome, compressed_path
from edgesdk.pipeline.spec import OptionValue, StageSpec

if TYPE_CHECKING:
    from edgesdk.core.options import CompressOptions
    from edgesdk.core.profiles import TargetProfile

_PATHS = ("data", "validation", "teacher")  # hashed as inputs, not options
_NOT_OPTIONS = (*_PATHS, "int8", "scale", "offset")  # the call's arguments, not CompressOptions


def _path(stage: StageSpec, key: str) -> Path | None:
    value = stage.option(key)
    return None if value is None else Path(str(value))


def _options_object(stage: StageSpec) -> CompressOptions:
    from edgesdk.core.options import CompressOptions, Normalization

    o = stage.options_dict()
    chosen = {k: v for k, v in o.items() if k not in _NOT_OPTIONS}
    normalization = Normalization(
        scale=float(o.get("scale", 1.0 / 255.0)), offset=float(o.get("offset", 0.0))
    )
    teacher = o.get("teacher")
    return CompressOptions(
        **chosen,  # type: ignore[arg-type]
        teacher=None if teacher is None else str(teacher),
        normalization=normalization,
    )


def _inputs(ctx: StageContext) -> dict[str, Path | None]:
    return {"model": ctx.pipeline.model, **{k: _path(ctx.stage, k) for k in _PATHS}}


def _options(ctx: StageContext) -> dict[str, OptionValue | None]:
    options: dict[str, OptionValue | None] = {"int8": True}
    options.update((k, v) for k, v in ctx.stage.options if k not in _PATHS)
    return options


def _check(stage: StageSpec, profile: TargetProfile) -> None:
    from edgesdk.errors import ConfigError

    options = _options_object(stage)
    if options.max_accuracy_drop is not None and stage.option("int8") is False:
        raise ConfigError(
            "An accuracy budget (`max_accuracy_drop`) is verified on the int8 result: it needs "
            "`int8` (leave it out or set it to true)",
            what="int8",
        )


def _run(ctx: StageContext) -> StageOutcome:
    from edgesdk.compression.host import compress

    out = compressed_path(ctx)
    if out.is_dir():  # this pipeline's own earlier QAT folder: replaced, never merged
        shutil.rmtree(out)
    validation = _path(ctx.stage, "validation")
    result = compress(
        ctx.pipeline.model,
        str(ctx.stage.option("data")),
        out,
        _options_object(ctx.stage),
        validation,
        ctx.target.profile,
        bool(ctx.stage.option("int8", True)),
        force=True,
    )
    metrics = {}
    after = result.accuracy.get("compressed_model")
    before = result.accuracy.get("float_model")
    if after is not None:
        metrics["compressed_accuracy"] = float(after)
        if before is not None:
            metrics["compress_accuracy_drop"] = float(before - after)
    return StageOutcome({"model": out}, metrics)


COMPRESS = Stage(_inputs, _options, _run, _check)

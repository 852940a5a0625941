"""The stages that turn a target's results into something to hand over: export-coreml (the
same call as `edgesdk export-coreml`) and report (as `edgesdk report` on the target's folder)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.pipeline.context import (
    COREML,
    COREML_RESULT,
    REPORT,
    Stage,
    StageContext,
    StageOutcome,
    source_model,
)
from edgesdk.pipeline.spec import OptionValue, StageSpec
from edgesdk.pipeline.state import LOCK_FILE, STATE_FILE

if TYPE_CHECKING:
    from edgesdk.core.profiles import TargetProfile


# export-coreml ---------------------------------------------------------------------------------
def _coreml_inputs(ctx: StageContext) -> dict[str, Path | None]:
    labels = ctx.stage.option("labels")
    return {"model": source_model(ctx), "labels": None if labels is None else Path(str(labels))}


def _coreml_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    defaults: dict[str, OptionValue] = {"mean": 0.0, "std": 255.0}
    return {**defaults, **{k: v for k, v in ctx.stage.options if k != "labels"}}


def _coreml_check(stage: StageSpec, profile: TargetProfile) -> None:
    from edgesdk.errors import ConfigError

    if profile.mobile is None or profile.mobile.model_format != "mlpackage":
        raise ConfigError(
            f"Invalid profile {profile.name} for stage export-coreml (must be a Core ML profile "
            "such as ios-coreml)",
            what="profile",
            value=profile.name,
        )
    if stage.option("std") == 0:
        raise ConfigError("Invalid std=0 (must be non-zero)", what="std")


def _coreml_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.mobile.coreml import export_coreml

    out = ctx.folder / COREML
    if out.exists():  # this pipeline's own earlier package: replaced, never merged
        shutil.rmtree(out)
    o = _coreml_options(ctx)
    labels = ctx.stage.option("labels")
    result = export_coreml(
        source_model(ctx),
        out,
        ctx.profile,
        None if labels is None else str(labels),
        float(o["mean"] or 0.0),
        float(o["std"] or 255.0),
    )
    result.save(ctx.folder / COREML_RESULT)
    return StageOutcome({"mlpackage": out, "result": ctx.folder / COREML_RESULT})


# report ----------------------------------------------------------------------------------------
_NOT_RESULTS = (REPORT, STATE_FILE, LOCK_FILE)


def _report_inputs(ctx: StageContext) -> dict[str, Path | None]:
    """Everything the target's earlier stages left in its folder (the report's own output and
    the run's bookkeeping aside)."""
    if not ctx.folder.is_dir():
        return {}
    return {
        p.name: p
        for p in sorted(ctx.folder.iterdir())
        if p.name not in _NOT_RESULTS and not p.name.startswith(".")
    }


def _report_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    return {}


def _report_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.reporting.build import make_report

    out = ctx.folder / REPORT
    if out.exists():  # this pipeline's own earlier report: replaced (no stale plots)
        shutil.rmtree(out)
    make_report(ctx.folder, out)
    return StageOutcome({"report": out})


EXPORT_COREML = Stage(_coreml_inputs, _coreml_options, _coreml_run, _coreml_check)
REPORT_STAGE = Stage(_report_inputs, _report_options, _report_run)

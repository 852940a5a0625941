"""The device stages: deploy (to one device, or to a device group as `edgesdk deploy
--group` does) and benchmark (on a device or on this machine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgesdk.pipeline.context import (
    BENCHMARK,
    DEPLOYMENT,
    TFLITE,
    Stage,
    StageContext,
    StageOutcome,
)
from edgesdk.pipeline.spec import OptionValue, StageSpec

if TYPE_CHECKING:
    from pathlib import Path

    from edgesdk.core.profiles import TargetProfile
    from edgesdk.devices.benchmark import BenchmarkOptions
    from edgesdk.devices.fleet import FleetOptions
    from edgesdk.devices.inventory import Device
    from edgesdk.devices.ssh import Session


def _address(d: Device) -> str:
    return f"{d.user or ''}@{d.host}:{d.port or ''}/{d.workdir}"


def _device_options(
    ctx: StageContext, defaults: dict[str, OptionValue]
) -> dict[str, OptionValue | None]:
    """The stage's options, and where its device is, or each device of its group (a device
    moved in the inventory, or a group that gained or lost one, is new: the stage runs again)."""
    from edgesdk.devices.inventory import Inventory

    options: dict[str, OptionValue | None] = {**defaults, **ctx.stage.options_dict()}
    name, group = options.get("device"), options.get("group")
    if name is not None:
        options["device_address"] = _address(Inventory().resolve(str(name)))
    if group is not None:
        for d in Inventory().group(str(group)):
            options[f"member {d.name}"] = _address(d)
    return options


def _device_check(stage: StageSpec, profile: TargetProfile) -> None:
    name = stage.option("device")
    if name is not None:
        from edgesdk.devices.inventory import Inventory

        Inventory().resolve(str(name))  # an unknown device is one line, before any stage


def _deploy_inputs(ctx: StageContext) -> dict[str, Path | None]:
    return {"tflite": ctx.folder / TFLITE}


_GROUP_DEFAULTS: dict[str, OptionValue] = {"canary": 0, "rollback_on_failure": False,
                                           "parallel": 4, "retries": 2, "backoff": 0.5,
                                           "fail_fast": False, "connect_timeout": 10.0}  # fmt: skip
_FLEET_OPTIONS = ("parallel", "retries", "backoff", "fail_fast", "connect_timeout")
GROUP_ONLY = tuple(_GROUP_DEFAULTS)


def _deploy_options(ctx: StageContext) -> dict[str, OptionValue | None]:
    if ctx.stage.option("group") is not None:
        return _device_options(ctx, _GROUP_DEFAULTS)
    return _device_options(ctx, {"lock_wait": 60.0})


def _fleet_options(o: dict[str, OptionValue | None]) -> FleetOptions:
    from edgesdk.devices.fleet import FleetOptions

    return FleetOptions(**{k: o[k] for k in _FLEET_OPTIONS})  # type: ignore[arg-type]


def _deploy_check(stage: StageSpec, profile: TargetProfile) -> None:
    from edgesdk.devices.inventory import Inventory
    from edgesdk.errors import ConfigError

    device, group = stage.option("device"), stage.option("group")  # one: the loader
    wrong = [k for k in GROUP_ONLY if stage.option(k) is not None] if device else []
    if group is not None and stage.option("lock_wait") is not None:
        wrong = ["lock_wait"]
    if wrong:
        takes = "`group`" if device else "`device`"
        raise ConfigError(f"`{wrong[0]}` needs {takes}", what=wrong[0])
    _device_check(stage, profile)
    if group is not None:
        members = Inventory().group(str(group))  # an empty group is one line, before any stage
        o = {**_GROUP_DEFAULTS, **stage.options_dict()}
        _fleet_options(o)
        canary = int(o["canary"] or 0)
        if canary > len(members):
            raise ConfigError(
                f"Invalid canary={canary} (must be 0-{len(members)} for group {group!r})",
                what="canary",
                value=str(canary),
            )


def _session(device: str) -> Session:
    from edgesdk.devices.inventory import Inventory
    from edgesdk.devices.ssh import Session

    return Session(Inventory().resolve(device))


def _deploy_group(ctx: StageContext, o: dict[str, OptionValue | None]) -> StageOutcome:
    from edgesdk.devices.fleet import deploy_group
    from edgesdk.devices.inventory import Inventory
    from edgesdk.errors import DeviceError

    result = deploy_group(
        ctx.folder / TFLITE,
        Inventory().group(str(o["group"])),
        _fleet_options(o),
        int(o["canary"] or 0),
        bool(o["rollback_on_failure"]),
    )
    result.save(ctx.folder / DEPLOYMENT)  # kept for the report; the stage is not recorded
    if result.failed:
        first = result.failed[0]
        raise DeviceError(
            f"Deploy to group {o['group']!r} failed on {len(result.failed)} of "
            f"{len(result.outcomes)} devices (first: {first.device}: {first.error})",
            what="group",
            value=str(o["group"]),
        )
    return StageOutcome({"deployment": ctx.folder / DEPLOYMENT})


def _deploy_run(ctx: StageContext) -> StageOutcome:
    from edgesdk.devices.deploy import deploy
    from edgesdk.tflite.model_info import check_tflite_file

    o = _deploy_options(ctx)
    check_tflite_file(ctx.folder / TFLITE)
    if o.get("group") is not None:
        return _deploy_group(ctx, o)
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


def _benchmark_check(stage: StageSpec, profile: TargetProfile) -> None:
    _device_check(stage, profile)
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


DEPLOY = Stage(_deploy_inputs, _deploy_options, _deploy_run, _deploy_check)
BENCHMARK_STAGE = Stage(_deploy_inputs, _benchmark_options, _benchmark_run, _benchmark_check)

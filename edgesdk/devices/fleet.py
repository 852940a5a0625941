"""Fleets: deploy, benchmark and status across device groups with bounded concurrency."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.devices.inventory import Device
from edgesdk.errors import BenchmarkError, DeviceError, EdgeSdkError

DEFAULT_PARALLEL = 4
Update = Callable[[str, str], None]


@dataclass(frozen=True)
class FleetOptions:
    """How to work across a group."""

    parallel: int = DEFAULT_PARALLEL
    retries: int = 2
    backoff: float = 0.5
    fail_fast: bool = False
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.parallel < 1 or self.retries < 0 or self.backoff < 0:
            raise DeviceError(
                f"Invalid parallel={self.parallel}, retries={self.retries}, backoff={self.backoff} "
                "(parallel >= 1, retries >= 0, backoff >= 0)"
            )


@dataclass
class Outcome:
    """What happened on one device."""

    device: str
    ok: bool
    phase: str
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "ok": self.ok,
            "phase": self.phase,
            "error": self.error,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            **self.detail,
        }


@dataclass(frozen=True)
class FleetResult(JsonResult):
    """Per-device outcomes of one fleet action and a summary."""

    action: str
    outcomes: tuple[Outcome, ...]
    stopped: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def status(self) -> str:
        ok = sum(o.ok for o in self.outcomes)
        return "all" if ok == len(self.outcomes) else ("none" if ok == 0 else "some")

    @property
    def exit_code(self) -> int:
        """0: every device succeeded; 3: some did; 4: none did."""
        return {"all": 0, "some": 3, "none": 4}[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "fleet",
            "action": self.action,
            "status": self.status,
            "stopped": self.stopped,
            "devices": [o.to_dict() for o in self.outcomes],
            **self.summary,
        }


def run_parallel(
    devices: list[Device],
    work: Callable[[Any], dict[str, Any]],
    options: FleetOptions,
    phase: str,
    on_update: Update | None = None,
    passphrase_prompt: Any = None,
) -> list[Outcome]:
    """Run ``work(session)`` on every device, ``options.parallel`` at a time, one connection each.

    Transient errors are retried with exponential backoff; with ``fail_fast`` a failure keeps
    the devices not yet started from starting.
    """
    from edgesdk.devices.ssh import Session

    stop = threading.Event()
    notify = on_update or (lambda name, state: None)

    def one(device: Device) -> Outcome:
        start = time.perf_counter()
        if stop.is_set():
            notify(device.name, "skipped")
            return Outcome(
                device.name, False, "skipped", error="not started: an earlier device failed"
            )
        attempt = 0
        while True:
            attempt += 1
            notify(device.name, f"{phase} (try {attempt})" if attempt > 1 else phase)
            try:
                with Session(device, options.connect_timeout, passphrase_prompt) as session:
                    detail = work(session)
                notify(device.name, "done")
                return Outcome(
                    device.name, True, phase, detail, None, attempt, time.perf_counter() - start
                )
            except EdgeSdkError as e:
                if attempt <= options.retries and e.retryable:
                    notify(device.name, f"retrying: {e}")
                    time.sleep(options.backoff * 2 ** (attempt - 1))
                    continue
                if options.fail_fast:
                    stop.set()
                notify(device.name, f"failed: {e}")
                detail = dict(e.details.get("done", {}))  # what was done before the failure
                return Outcome(
                    device.name, False, phase, detail, str(e), attempt, time.perf_counter() - start
                )

    with ThreadPoolExecutor(max_workers=min(options.parallel, max(len(devices), 1))) as pool:
        return list(pool.map(one, devices))


def _smoke(session: Any, model: Path) -> dict[str, Any]:
    """The model loads on the device and gives finite outputs on a sample input."""
    from edgesdk.devices.benchmark import BenchmarkOptions, run_remote

    try:
        stats = run_remote(session, model, BenchmarkOptions(runs=1, warmup=0, timeout=120)).stats
    except BenchmarkError as e:
        raise DeviceError(
            f"smoke inference failed on {session.device.name}: {e}", retryable=False
        ) from e
    if not stats["outputs_finite"]:
        raise DeviceError(
            f"smoke inference on {session.device.name} gave NaN/inf outputs", retryable=False
        )
    return {"smoke_runtime": stats["runtime"], "smoke_ms": round(stats["first_inference_ms"], 3)}


def _revert(
    devices: dict[str, Device],
    outcomes: list[Outcome],
    options: FleetOptions,
    on_update: Update | None,
    passphrase_prompt: Any,
) -> list[str]:
    """Return every device that changed in this run to the model it had before."""
    from edgesdk.devices import deploy as dep

    changed = [o for o in outcomes if o.detail.get("action") in ("uploaded", "switched")]

    def back(session: Any) -> dict[str, Any]:
        outcome = next(o for o in changed if o.device == session.device.name)
        if outcome.detail.get("previous"):
            dep.rollback(session)
        else:
            dep.clear(session)
        return {}

    reverted = run_parallel(
        [devices[o.device] for o in changed],
        back,
        options,
        "rollback",
        on_update,
        passphrase_prompt,
    )
    for o in changed:
        o.detail["rolled_back"] = any(r.ok for r in reverted if r.device == o.device)
    return [r.device for r in reverted if r.ok]


def deploy_group(
    model: Path,
    devices: list[Device],
    options: FleetOptions,
    canary: int = 0,
    rollback_on_failure: bool = False,
    on_update: Update | None = None,
    passphrase_prompt: Any = None,
) -> FleetResult:
    """Deploy ``model`` to a group; canaries first (with a smoke inference), then the rest."""
    from edgesdk.devices import deploy as dep

    if canary < 0 or canary > len(devices):
        raise DeviceError(f"Invalid canary={canary} (must be 0-{len(devices)} for this group)")

    def install(session: Any) -> dict[str, Any]:
        return dep.deploy(session, model).to_dict()

    def install_and_smoke(session: Any) -> dict[str, Any]:
        detail = install(session)
        try:
            detail.update(_smoke(session, model))
        except DeviceError as e:
            e.details["done"] = detail
            raise
        return detail

    by_name = {d.name: d for d in devices}
    canaries, rest = devices[:canary], devices[canary:]
    outcomes = run_parallel(
        canaries, install_and_smoke, options, "canary", on_update, passphrase_prompt
    )
    stopped = None
    if any(not o.ok for o in outcomes):
        stopped = "a canary failed; the other devices were not touched"
        outcomes += [
            Outcome(d.name, False, "skipped", error="not started: canary failed") for d in rest
        ]
        for d in rest:
            if on_update:
                on_update(d.name, "skipped")
    else:
        outcomes += run_parallel(rest, install, options, "deploy", on_update, passphrase_prompt)
    reverted: list[str] = []
    if rollback_on_failure and any(not o.ok for o in outcomes):
        reverted = _revert(by_name, outcomes, options, on_update, passphrase_prompt)
    return FleetResult("deploy", tuple(outcomes), stopped, {"rolled_back": reverted})


def benchmark_group(
    model: Path,
    devices: list[Device],
    options: FleetOptions,
    bench: Any,
    outlier_factor: float = 1.5,
    on_update: Update | None = None,
    passphrase_prompt: Any = None,
) -> FleetResult:
    """Benchmark on every device of a group; report spread, outliers and throttling."""
    from edgesdk.devices.benchmark import run_remote

    def work(session: Any) -> dict[str, Any]:
        result = run_remote(session, model, bench)
        return {
            **{
                k: result.stats.get(k)
                for k in (
                    "runtime",
                    "p50_ms",
                    "p90_ms",
                    "p99_ms",
                    "min_ms",
                    "mean_ms",
                    "n",
                    "emulated",
                )
            },
            "latencies_ms": result.stats.get("latencies_ms", []),
            "warnings": list(result.warnings),
        }

    outcomes = run_parallel(devices, work, options, "benchmark", on_update, passphrase_prompt)
    ok = [o for o in outcomes if o.ok]
    summary: dict[str, Any] = {"outlier_factor": outlier_factor}
    if ok:
        p50 = {o.device: o.detail["p50_ms"] for o in ok}
        median = statistics.median(p50.values())
        summary.update(
            {
                "median_p50_ms": median,
                "spread": max(p50.values()) / min(p50.values()) if min(p50.values()) > 0 else None,
                "outliers": sorted(d for d, v in p50.items() if v > outlier_factor * median),
                "throttled": sorted(
                    o.device for o in ok if any("throttl" in w for w in o.detail["warnings"])
                ),
                # their latencies are the emulator's: never compare them with a device's
                "emulated": sorted(o.device for o in ok if o.detail.get("emulated")),
            }
        )
    return FleetResult("benchmark", tuple(outcomes), None, summary)


def status_group(
    devices: list[Device],
    options: FleetOptions,
    on_update: Update | None = None,
    passphrase_prompt: Any = None,
) -> FleetResult:
    """Which model each device runs, which are unreachable, which disagree with the majority."""
    from edgesdk.devices import deploy as dep

    def work(session: Any) -> dict[str, Any]:
        history = dep.status(session)
        current = history[-1].to_dict() if history else None
        return {"current": current}

    outcomes = run_parallel(devices, work, options, "status", on_update, passphrase_prompt)
    shas = Counter(
        o.detail["current"]["sha256"] if o.detail.get("current") else None for o in outcomes if o.ok
    )
    majority = shas.most_common(1)[0][0] if shas else None
    for o in outcomes:
        if o.ok:
            sha = o.detail["current"]["sha256"] if o.detail.get("current") else None
            o.detail["agrees"] = sha == majority
    summary = {
        "majority_sha256": majority,
        "unreachable": sorted(o.device for o in outcomes if not o.ok),
        "disagree": sorted(o.device for o in outcomes if o.ok and not o.detail["agrees"]),
    }
    return FleetResult("status", tuple(outcomes), None, summary)

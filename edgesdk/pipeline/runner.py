"""Run a pipeline: each target's stages in order, a stage skipped when what it reads, its
options, the profile and the tool versions are those of its recorded run; then the gates."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic
from edgesdk.core.results import JsonResult
from edgesdk.errors import ConfigError, EdgeSdkError
from edgesdk.pipeline.gates import GateCheck, check_gates
from edgesdk.pipeline.spec import PipelineSpec, TargetSpec, load_pipeline
from edgesdk.pipeline.stages import STAGES, StageContext
from edgesdk.pipeline.state import load_state, run_lock, save_state, why_stale

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
DEFAULT_LOCK_WAIT = 600.0  # seconds a run waits for another one in the same folder
HISTORY_DIR = "history"


@dataclass(frozen=True)
class StageRun:
    """One stage of one target: ``status`` is "running" (about to start), "ran" or "cached";
    ``reason`` says why it ran or why the recorded run still holds."""

    target: str
    name: str
    status: str
    reason: str
    seconds: float = 0.0
    metrics: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "stage": self.name,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True)
class TargetRun:
    """One target's stages and gates."""

    name: str
    profile: str
    folder: str
    stages: tuple[StageRun, ...]
    gates: tuple[GateCheck, ...]

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "profile": self.profile,
            "folder": self.folder,
            "passed": self.passed,
            "stages": [s.to_dict() for s in self.stages],
            "gates": [g.to_dict() for g in self.gates],
        }


@dataclass(frozen=True)
class PipelineResult(JsonResult):
    """A whole run: per target, per stage and per gate; ``passed`` only if every gate passes."""

    source: str
    out: str
    started: str
    seconds: float
    targets: tuple[TargetRun, ...]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets)

    @property
    def stages(self) -> tuple[StageRun, ...]:
        return tuple(s for t in self.targets for s in t.stages)

    @property
    def gates(self) -> tuple[GateCheck, ...]:
        return tuple(g for t in self.targets for g in t.gates)

    def failed_gates(self) -> tuple[GateCheck, ...]:
        return tuple(g for g in self.gates if not g.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "pipeline-run",
            "source": self.source,
            "out": self.out,
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "passed": self.passed,
            "targets": [t.to_dict() for t in self.targets],
        }


Progress = Callable[[StageRun], None]


def _sha(path: Path | None) -> str | None:
    from edgesdk.core.manifest import sha256_path

    return sha256_path(path) if path is not None and path.exists() else None


def _selected(target: TargetSpec, stage: str | None) -> tuple[str, ...]:
    names = target.stage_names()
    if stage is None:
        return names
    if stage not in names:
        raise ConfigError(
            f"Target {target.name} has no stage {stage!r} (its stages: {', '.join(names)})",
            what="stage",
            value=stage,
            allowed=list(names),
        )
    return names[: names.index(stage) + 1]


def _run_target(
    spec: PipelineSpec, target: TargetSpec, stage: str | None, force: bool, progress: Progress
) -> TargetRun:
    from edgesdk.core.manifest import versions
    from edgesdk.core.profiles import load_profile

    profile = load_profile(target.profile)
    folder = spec.out / target.name
    folder.mkdir(parents=True, exist_ok=True)
    state = load_state(folder)
    tools = versions()
    runs: list[StageRun] = []
    metrics: dict[str, float] = {}
    selected = _selected(target, stage)
    for stage_spec in target.stages:
        if stage_spec.name not in selected:
            break
        row = STAGES[stage_spec.name]
        ctx = StageContext(spec, target, profile, folder, stage_spec)
        fingerprint = {
            "inputs": {k: _sha(v) for k, v in row.inputs(ctx).items()},
            "options": row.options(ctx),
            "profile": profile.to_dict(with_source=False),
            "versions": {**tools, **row.tools(ctx)},
        }
        fingerprint = json.loads(json.dumps(fingerprint))  # as the state file keeps it
        record = state.get(stage_spec.name)
        recorded = (record or {}).get("output_paths", {})
        outputs_now = {k: _sha(folder / p) for k, p in recorded.items()}  # a copy stays cached
        reason = "forced" if force else why_stale(record, fingerprint, outputs_now)
        if not reason and record is not None:
            metrics.update(record.get("metrics", {}))
            why = "inputs, options, profile and tool versions unchanged"
            run = StageRun(target.name, stage_spec.name, "cached", why, 0.0, _items(record))
            runs.append(run)
            progress(run)
            continue
        progress(StageRun(target.name, stage_spec.name, "running", reason))
        state.pop(stage_spec.name, None)  # a run killed from here on redoes this stage
        save_state(folder, state)
        start = time.perf_counter()
        outcome = row.run(ctx)
        seconds = time.perf_counter() - start
        state[stage_spec.name] = {
            "fingerprint": fingerprint,
            "output_paths": {
                k: p.relative_to(folder).as_posix() for k, p in outcome.outputs.items()
            },
            "outputs": {k: _sha(p) for k, p in outcome.outputs.items()},
            "metrics": outcome.metrics,
            "seconds": seconds,
            "finished": _now(),
        }
        save_state(folder, state)
        metrics.update(outcome.metrics)
        run = StageRun(
            target.name,
            stage_spec.name,
            "ran",
            reason,
            seconds,
            tuple(sorted(outcome.metrics.items())),
        )
        runs.append(run)
        progress(run)
    gates = check_gates(target, metrics, selected)
    return TargetRun(target.name, target.profile, str(folder), tuple(runs), gates)


def _items(record: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in record.get("metrics", {}).items()))


def _history_path(folder: Path) -> Path:
    """A new file name in ``history/`` (runs a microsecond apart, or in another process, never
    share one)."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    n = 0
    while (path := folder / f"run-{stamp}-{os.getpid()}-{n}.json").exists():
        n += 1
    return path


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def run_pipeline(
    pipeline: str | Path | PipelineSpec,
    target: str | None = None,
    stage: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> PipelineResult:
    """Run a pipeline (see :func:`edgesdk.run`); writes ``run.json`` and a copy in ``history/``.

    Raises:
        ConfigError: a bad pipeline file, an unknown target or stage, a negative ``lock_wait``.
        PipelineError: another run still holds the output folder after ``lock_wait`` seconds.
        EdgeSdkError: the first stage that fails (finished stages stay recorded).
    """
    if lock_wait < 0:
        raise ConfigError(f"Invalid lock_wait={lock_wait} (must be >= 0 seconds)", what="lock_wait")
    spec = pipeline if isinstance(pipeline, PipelineSpec) else load_pipeline(pipeline)
    targets = (spec.target(target),) if target is not None else spec.targets
    if stage is not None:
        for t in targets:
            if stage not in t.stage_names():
                _selected(t, stage)  # raises, naming the target's stages
    from edgesdk.core.profiles import load_profile

    for t in targets:  # every option value, before anything runs or is written
        profile = load_profile(t.profile)
        for stage_spec in t.stages:
            try:
                STAGES[stage_spec.name].check(stage_spec, profile)
            except EdgeSdkError as e:
                raise ConfigError(
                    f"targets.{t.name}.{stage_spec.name}: {e}", what=e.what, value=e.value,
                    allowed=e.allowed,
                ) from e  # fmt: skip
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")
    start = time.perf_counter()
    with run_lock(spec.out, lock_wait):
        done = tuple(
            _run_target(spec, t, stage, force, progress or (lambda _run: None)) for t in targets
        )
        result = PipelineResult(
            str(spec.source), str(spec.out), started, time.perf_counter() - start, done
        )
        text = json.dumps(result.to_dict(), indent=2) + "\n"
        write_atomic(spec.out / RUN_FILE, text)
        write_atomic(_history_path(spec.out / HISTORY_DIR), text)
    for gate in result.failed_gates():
        log.warning("%s", gate.message())
    return result

"""Parse and check ``edgesdk.toml``: the model, its data, targets with their stages, options and
gates; every mistake is one line naming what is allowed."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from edgesdk.errors import ConfigError
from edgesdk.pipeline.sources import resolve_model

SCHEMA_VERSION = 1
DEFAULT_FILE = "edgesdk.toml"

OptionValue = str | int | float | bool | tuple[str, ...]
"""The value of one stage option (paths are strings, resolved against the file's folder)."""

# every stage a pipeline may name, in the only order they can run
STAGE_ORDER = (
    "compress",
    "quantize",
    "export-c",
    "package",
    "export-coreml",
    "emulate",
    "evaluate",
    "deploy",
    "benchmark",
    "report",
)
# the stages `run` runs today, and the stage each needs earlier in the list
NEEDS: dict[str, tuple[str, ...]] = {
    "compress": (),
    "quantize": (),
    "export-coreml": (),
    "report": (),
    "export-c": ("quantize",),
    "emulate": ("export-c",),
    "package": ("quantize",),
    "evaluate": ("quantize",),
    "deploy": ("quantize",),
    "benchmark": ("quantize",),
}

# when listed, these stages come first (compress: what follows takes its model) or last
# (report: it renders what the others wrote)
FIRST, LAST = "compress", "report"

# stage -> option -> type; the names are the API options of the stage's verb
_PATH = "path"
_STRINGS = "strings"
STAGE_OPTIONS: dict[str, dict[str, type | str]] = {
    "compress": {
        "data": _PATH,
        "validation": _PATH,
        "teacher": _PATH,
        "int8": bool,
        "prune": float,
        "schedule": str,
        "cluster": int,
        "qat": bool,
        "temperature": float,
        "alpha": float,
        "epochs": int,
        "batch_size": int,
        "learning_rate": float,
        "skip_layers": _STRINGS,
        "seed": int,
        "scale": float,
        "offset": float,
        "max_accuracy_drop": float,
        "baseline": bool,
    },
    "quantize": {
        "data": _PATH,
        "eval_data": _PATH,
        "max_accuracy_drop": float,
        "mode": str,
        "io": str,
        "per_channel": bool,
        "samples": int,
        "strict": bool,
        "eval_samples": int,
        "seed": int,
        "normalize_arrays": bool,
    },
    "export-c": {
        "name": str,
        "test_vectors": int,
        "verify": bool,
        "firmware": bool,
        "data": _PATH,
        "engine": str,
        "integer_only": bool,
        "kernels": str,
        "arena": str,
        "io": str,
    },
    "emulate": {"timeout": float, "board": str, "kernels": str, "tflm_src": _PATH},
    "package": {
        "labels": _PATH,
        "mean": float,
        "std": float,
        "requantize_io": bool,
        "name": str,
        "description": str,
        "version": str,
        "author": str,
        "license": str,
        "snippets": bool,
    },
    "evaluate": {"data": _PATH, "tflm": bool, "limit": int, "normalize_arrays": bool},
    "export-coreml": {"labels": _PATH, "mean": float, "std": float},
    "deploy": {
        "device": str,
        "lock_wait": float,
        "group": str,
        "canary": int,
        "rollback_on_failure": bool,
        "parallel": int,
        "retries": int,
        "backoff": float,
        "fail_fast": bool,
        "connect_timeout": float,
    },
    "benchmark": {
        "device": str,
        "threads": int,
        "runs": int,
        "warmup": int,
        "runtime": str,
        "timeout": float,
    },
    "report": {},
}
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {
    "compress": ("data",),
    "package": ("labels",),
    "evaluate": ("data",),
}
ONE_OF: dict[str, tuple[str, str]] = {"deploy": ("device", "group")}  # exactly one of the two

# gate -> (the stage that measures it, "max" or "min" limit, what it is)
GATES: dict[str, tuple[str, str, str]] = {
    "size_bytes": ("quantize", "max", ".tflite size in bytes"),
    "agreement": ("quantize", "min", "top-1 agreement with the float model (0..1)"),
    "flash_bytes": ("emulate", "max", "linked firmware flash in bytes"),
    "ram_bytes": ("emulate", "max", "linked firmware RAM in bytes"),
    "instructions": ("emulate", "max", "instructions per inference (measured)"),
    "estimated_latency_ms": ("emulate", "max", "latency estimated from instructions, ms"),
    "bit_exact": ("emulate", "min", "1 when the firmware's outputs equal the host's, else 0"),
    "accuracy_drop": (
        "evaluate",
        "max",
        "top-1 accuracy of the float model minus the .tflite's (a fraction; worst runtime)",
    ),
    "p90_latency_ms": ("benchmark", "max", "p90 latency, ms (the device's, or this machine's)"),
}
IMPLIED_GATES: dict[str, float] = {"bit_exact": 1.0}  # checked whenever their stage runs

_TOP_KEYS = ("schema_version", "model", "data", "out", "targets")
_TARGET_KEYS = ("profile", "stages", "gates")


@dataclass(frozen=True)
class StageSpec:
    """One stage of a target: its name and its options (API option names)."""

    name: str
    options: tuple[tuple[str, OptionValue], ...] = ()

    def option(self, key: str, default: OptionValue | None = None) -> OptionValue | None:
        return dict(self.options).get(key, default)

    def options_dict(self) -> dict[str, OptionValue]:
        return dict(self.options)


@dataclass(frozen=True)
class TargetSpec:
    """One target: a profile (built-in name or path), its stages in order, its gates."""

    name: str
    profile: str
    stages: tuple[StageSpec, ...]
    gates: tuple[tuple[str, float], ...] = ()

    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)


@dataclass(frozen=True)
class PipelineSpec:
    """A whole ``edgesdk.toml``: paths are absolute (resolved against the file's folder)."""

    source: Path
    model: Path  # the model's file; for a function source, the file the function is in
    data: Path | None
    out: Path
    targets: tuple[TargetSpec, ...]
    model_function: str | None = None  # ``file.py:function`` or ``module:function``, as written

    def model_source(self) -> str | Path:
        """The model as the library takes it (a function source with its file absolute)."""
        if self.model_function is None:
            return self.model
        module, _, function = self.model_function.rpartition(":")
        return f"{self.model}:{function}" if module.endswith(".py") else self.model_function

    def target(self, name: str) -> TargetSpec:
        for t in self.targets:
            if t.name == name:
                return t
        valid = ", ".join(t.name for t in self.targets)
        raise ConfigError(
            f"Unknown target {name!r} in {self.source} (valid targets: {valid})",
            what="target",
            value=name,
            allowed=[t.name for t in self.targets],
        )


def _unknown(data: dict[str, object], valid: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(
            f"Unknown key {unknown[0]!r} in {where} (valid keys: {', '.join(sorted(valid))})",
            what=unknown[0],
            allowed=sorted(valid),
        )


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"Invalid {where}={value!r} (must be a non-empty string)", what=where)
    return value


def _option(value: object, kind: type | str, where: str, base: Path) -> OptionValue:
    if kind == _PATH:
        return str(base / _string(value, where))
    if kind == _STRINGS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(
                f"Invalid {where}={value!r} (must be a list of non-empty strings)", what=where
            )
        return tuple(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"Invalid {where}={value!r} (must be true or false)", what=where)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(
                f"Invalid {where}={value!r} (must be a non-negative integer)", what=where
            )
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(
                f"Invalid {where}={value!r} (must be a non-negative number)", what=where
            )
        return float(value)
    return _string(value, where)


def _stages(name: str, raw: object, table: dict[str, object], base: Path) -> tuple[StageSpec, ...]:
    where = f"targets.{name}.stages"
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise ConfigError(f"Invalid {where}={raw!r} (must be a list of stage names)", what=where)
    for stage in raw:
        if stage not in STAGE_ORDER:
            raise ConfigError(
                f"Unknown stage {stage!r} in {where} (valid stages: {', '.join(STAGE_ORDER)})",
                what=where,
                value=stage,
                allowed=list(STAGE_ORDER),
            )
        if stage not in NEEDS:
            raise ConfigError(
                f"Stage {stage!r} in {where} is not run by pipelines yet (supported: "
                f"{', '.join(NEEDS)})",
                what=where,
                value=stage,
                allowed=list(NEEDS),
            )
    if len(set(raw)) != len(raw):
        dup = next(s for s in raw if raw.count(s) > 1)
        raise ConfigError(f"Invalid {where}: stage {dup!r} is listed twice", what=where, value=dup)
    for stage, at, word in ((FIRST, 0, "first"), (LAST, len(raw) - 1, "last")):
        if stage in raw and raw.index(stage) != at:
            raise ConfigError(
                f"Impossible stage order in {where}: {stage!r} must come {word}",
                what=where,
                value=stage,
            )
    for i, stage in enumerate(raw):
        for need in NEEDS[stage]:
            if need not in raw:
                raise ConfigError(
                    f"Impossible stage order in {where}: {stage!r} needs {need!r}, which is not "
                    "listed",
                    what=where,
                    value=stage,
                )
            if raw.index(need) > i:
                raise ConfigError(
                    f"Impossible stage order in {where}: {stage!r} comes before {need!r}, which "
                    "it needs",
                    what=where,
                    value=stage,
                )
    stages = []
    for stage in raw:
        options = table.get(stage, {})
        if not isinstance(options, dict):
            raise ConfigError(f"Invalid targets.{name}.{stage} (must be a table)", what=stage)
        valid = STAGE_OPTIONS[stage]
        _unknown(options, tuple(valid), f"targets.{name}.{stage}")
        for key in REQUIRED_OPTIONS.get(stage, ()):
            if key not in options:
                raise ConfigError(
                    f"Missing key {key!r} in targets.{name}.{stage} (stage {stage!r} needs it)",
                    what=key,
                )
        if stage in ONE_OF:
            a, b = ONE_OF[stage]
            if (a in options) == (b in options):
                found = "both" if a in options else "neither"
                raise ConfigError(
                    f"Stage {stage!r} in targets.{name} takes exactly one of the keys {a!r} and "
                    f"{b!r} (found {found})",
                    what=a,
                )
        values = tuple(
            (k, _option(v, valid[k], f"targets.{name}.{stage}.{k}", base))
            for k, v in sorted(options.items())
        )
        stages.append(StageSpec(stage, values))
    return tuple(stages)


def _gates(name: str, raw: object, stages: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    where = f"targets.{name}.gates"
    if not isinstance(raw, dict):
        raise ConfigError(f"Invalid {where} (must be a table)", what=where)
    _unknown(raw, tuple(GATES), where)
    gates = []
    for gate, limit in sorted(raw.items()):
        stage = GATES[gate][0]
        if stage not in stages:
            raise ConfigError(
                f"Gate {gate!r} in {where} is measured by stage {stage!r}, which "
                f"targets.{name}.stages does not list",
                what=gate,
                value=stage,
            )
        gates.append((gate, float(_option(limit, float, f"{where}.{gate}", Path()))))
    return tuple(gates)


_TARGET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def _target(name: str, table: object, base: Path) -> TargetSpec:
    if not _TARGET_NAME.fullmatch(name):  # it names the target's folder
        raise ConfigError(
            f"Invalid target name {name!r} (must be 1-64 letters, digits, '_', '-' or '.', "
            "not starting with '.' or '-')",
            what="targets",
            value=name,
        )
    if not isinstance(table, dict):
        raise ConfigError(f"Invalid targets.{name} (must be a table)", what=name)
    stage_tables = {k: v for k, v in table.items() if k in STAGE_ORDER}
    _unknown(
        {k: v for k, v in table.items() if k not in stage_tables},
        _TARGET_KEYS + tuple(NEEDS),
        f"targets.{name}",
    )
    if "profile" not in table:
        raise ConfigError(f"Missing key 'profile' in targets.{name}", what="profile")
    if "stages" not in table:
        raise ConfigError(f"Missing key 'stages' in targets.{name}", what="stages")
    profile = _string(table["profile"], f"targets.{name}.profile")
    if profile.endswith(".toml"):
        profile = str(base / profile)
    stages = _stages(name, table["stages"], table, base)
    extra = sorted(set(stage_tables) - {s.name for s in stages})
    if extra:
        raise ConfigError(
            f"Options for stage {extra[0]!r} in targets.{name}, which targets.{name}.stages "
            "does not list",
            what=extra[0],
        )
    gates = _gates(name, table.get("gates", {}), tuple(s.name for s in stages))
    return TargetSpec(name, profile, stages, gates)


def parse_pipeline(text: str, source: Path) -> PipelineSpec:
    """Check a pipeline file's text; paths resolve against ``source``'s folder.

    Raises:
        ConfigError: bad TOML, an unknown or missing key, a wrong type, an unknown or
            unsupported stage, an impossible stage order, a gate no listed stage measures,
            a missing model or data file.
    """
    base = source.parent
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Invalid TOML in {source}: {e}", what=str(source)) from e
    _unknown(data, _TOP_KEYS, str(source))
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"Invalid schema_version={version!r} in {source} (must be {SCHEMA_VERSION})",
            what="schema_version",
        )
    if "model" not in data:
        raise ConfigError(f"Missing key 'model' in {source}", what="model")
    model, function = resolve_model(_string(data["model"], "model"), base, source)
    data_path = base / _string(data["data"], "data") if "data" in data else None
    if data_path is not None and not data_path.exists():
        raise ConfigError(f"Data {data_path} named in {source} does not exist", what="data")
    out = base / _string(data.get("out", "edgesdk-run"), "out")
    targets = data.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise ConfigError(
            f"Missing [targets.<name>] tables in {source} (at least one target)", what="targets"
        )
    specs = tuple(_target(name, table, base) for name, table in targets.items())
    return PipelineSpec(source, model, data_path, out.absolute(), specs, function)


def load_pipeline(path: str | Path = DEFAULT_FILE) -> PipelineSpec:
    """Read and check a pipeline file (see :func:`parse_pipeline`).

    Raises:
        ConfigError: the file is missing or unreadable, or as :func:`parse_pipeline`.
    """
    source = Path(path).expanduser().absolute()
    try:
        text = source.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"Cannot read pipeline file {source}: {e}", what=str(source)) from e
    return parse_pipeline(text, source)

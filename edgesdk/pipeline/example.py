"""The commented example ``edgesdk.toml`` that ``init`` writes for a model and a target."""

from __future__ import annotations

import os
from pathlib import Path

from edgesdk.errors import OutputError
from edgesdk.pipeline.spec import GATES, parse_pipeline

_HEADER = """\
# edgesdk pipeline: `edgesdk run` runs each target's stages in order and skips a stage whose
# inputs (sha256), options, target profile and tool versions are unchanged since its last run.
# Paths are relative to this file. Unknown keys are errors that list the valid ones.
schema_version = 1
model = {model}
{data_line}
out = "edgesdk-run"            # one folder per target inside, with run.json and history/

[targets.{name}]
profile = {profile}    # a built-in profile name or a profile .toml path
stages = [{stages}]

# [targets.{name}.compress]     # add "compress" first in stages: quantize takes its model
# data = "train.npz"            # labelled training data (x, y)
# prune = 0.5
# epochs = 2
# max_accuracy_drop = 0.01      # with prune: per-layer sparsities within this budget
# (add "report" last in stages: `edgesdk report` of the target's folder)

[targets.{name}.quantize]       # options of the quantize command (blank: the profile's defaults)
samples = 200
# mode = "int8"
# per_channel = true
# eval_data = "eval.npz"        # with max_accuracy_drop: search within an accuracy budget
# max_accuracy_drop = 0.01

# [targets.{name}.evaluate]     # add "evaluate" to stages: top-1 on labelled data (accuracy_drop)
# data = "test.npz"
"""

_PHONE = """
# [targets.{name}.package]      # add "package" to stages: metadata and labels for the app
# labels = "labels.txt"
"""

_DEVICE = """
# [targets.{name}.deploy]       # add "deploy" to stages: a device added with edgesdk device add
# device = "pi"                 # or: group = "lab" (every device of the group)
# [targets.{name}.benchmark]    # add "benchmark" to stages: p90 latency (p90_latency_ms)
# device = "pi"                 # leave out to measure on this machine
# runs = 100
"""

_FIRMWARE = """
[targets.{name}.export-c]       # options of the export-c command
engine = "tflm"                 # or "standalone": plain C99 kernels, no interpreter
test_vectors = 4                # the emulated firmware checks itself against them
# kernels = "cmsis-nn"          # or "reference"; standalone: "dsp" or "portable"

[targets.{name}.emulate]        # options of the emulate command (qemu Cortex-M, no device needed)
timeout = 120.0
"""

_GATES = """
[targets.{name}.gates]          # checked after every run: exit 1 names each failed gate
{gates}
"""


def example_text(
    model: str,
    target: str,
    data: str | None,
    mcu: bool,
    limits: dict[str, float] | None = None,
    phone: bool = False,
) -> str:
    """The example pipeline's text (``model`` and ``data`` as written into the file); gates in
    ``limits`` are set, the others shown commented out."""
    limits = limits or {}
    name = target.removesuffix(".toml").replace(".", "-").rsplit("/", 1)[-1] or "target"
    stages = '"quantize", "export-c", "emulate"' if mcu else '"quantize"'
    data_line = (
        f"data = {_q(data)}" if data else '# data = "calibration.npz"  # representative data'
    )
    text = _HEADER.format(
        model=_q(model), data_line=data_line, name=_q_key(name), profile=_q(target), stages=stages
    )
    if phone:
        text += _PHONE.format(name=_q_key(name))
    text += (_FIRMWARE if mcu else _DEVICE).format(name=_q_key(name))
    lines = []
    for gate, (stage, bound, what) in GATES.items():
        if stage == "emulate" and not mcu:
            continue
        word = "at most" if bound == "max" else "at least"
        if gate in limits:
            lines.append(f"{f'{gate} = {limits[gate]:g}':<30}# {word}: {what}")
        else:
            limit = {"agreement": "0.95", "bit_exact": "1"}.get(gate, "0")
            lines.append(f"{f'# {gate} = {limit}':<30}# {word}: {what}")
    return text + _GATES.format(name=_q_key(name), gates="\n".join(lines))


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _q_key(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() else _q(name)


def write_example(
    model: str | Path, target: str, path: str | Path, data: str | Path | None, force: bool
) -> Path:
    """Write the example for ``model`` and ``target`` to ``path``, checked first by the loader.

    Raises:
        ConfigError: an unknown profile, a missing model or data file.
        OutputError: ``path`` exists and ``force`` is not set.
    """
    from edgesdk.core.fileio import write_atomic
    from edgesdk.core.profiles import load_profile

    out = Path(path).expanduser().absolute()
    if out.exists() and not force:
        raise OutputError(f"{out} exists; use `force=True` to replace it", what=str(out))
    profile = load_profile(target)
    target_ref = (
        os.path.relpath(Path(target).absolute(), out.parent) if target.endswith(".toml") else target
    )

    def rel(p: str | Path) -> str:
        return os.path.relpath(Path(p).expanduser().absolute(), out.parent)

    mcu = profile.mcu is not None
    limits: dict[str, float] = {}
    if mcu:  # the profile's own budgets, as a start
        if profile.memory.flash_budget_bytes is not None:
            limits["flash_bytes"] = float(profile.memory.flash_budget_bytes)
        limits["ram_bytes"] = float(profile.memory.ram_budget_bytes)
    data_ref = rel(data) if data is not None else None
    phone = profile.mobile is not None
    text = example_text(rel(model), target_ref, data_ref, mcu, limits, phone=phone)
    parse_pipeline(text, out)  # what init writes, run reads
    return write_atomic(out, text)

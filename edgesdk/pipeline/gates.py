"""Gates: a target's measurements against its limits, each one pass or fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgesdk.pipeline.spec import GATES, IMPLIED_GATES, TargetSpec


@dataclass(frozen=True)
class GateCheck:
    """One gate of one target: the measured value, the limit and whether it passes.

    ``value`` is None when the stage that measures it did not run this time (``--stage``
    stopped earlier) or measured nothing; such a gate is not checked and does not pass.
    """

    target: str
    name: str
    value: float | None
    limit: float
    bound: str  # "max": value <= limit; "min": value >= limit
    stage: str
    checked: bool
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "gate": self.name,
            "value": self.value,
            "limit": self.limit,
            "bound": self.bound,
            "stage": self.stage,
            "checked": self.checked,
            "passed": self.passed,
        }

    def message(self) -> str:
        """One line for a gate that failed or could not be checked."""
        if not self.checked:
            return (
                f"gate {self.name} of target {self.target} not checked: stage {self.stage} did "
                "not run or measured nothing"
            )
        word = "above" if self.bound == "max" else "below"
        return (
            f"gate {self.name} of target {self.target} failed: {number(self.value)} is {word} "
            f"the limit {number(self.limit)}"
        )


def number(value: float | None) -> str:
    """A gate's figure as people read it: whole numbers with thousands separators."""
    if value is None:
        return "-"
    return f"{int(value):,}" if value == int(value) else f"{value:.4g}"


def check_gates(
    target: TargetSpec, metrics: dict[str, float], ran: tuple[str, ...]
) -> tuple[GateCheck, ...]:
    """Check the target's gates whose stage is in ``ran`` (the implied ones of those stages
    too); a gate of a stage that was not asked for this time is left out."""
    limits = {name: limit for name, limit in target.gates if GATES[name][0] in ran}
    for name, limit in IMPLIED_GATES.items():
        if GATES[name][0] in ran:
            limits.setdefault(name, limit)
    checks = []
    for name, limit in sorted(limits.items()):
        stage, bound, _ = GATES[name]
        value = metrics.get(name)
        if value is None:
            checks.append(GateCheck(target.name, name, None, limit, bound, stage, False, False))
            continue
        passed = value <= limit if bound == "max" else value >= limit
        checks.append(GateCheck(target.name, name, value, limit, bound, stage, True, passed))
    return tuple(checks)

"""The accuracy-budget ladder as data: named recipes, cheapest first, each one change to the
target's int8 configuration. The search (``budget.py``) is a loop over ``LADDER``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Change(str, Enum):
    """What a recipe changes in the target's int8 configuration."""

    NONE = "none"  # the target's own configuration
    OTHER_GRANULARITY = "other_granularity"  # per-channel <-> per-tensor weights
    MORE_CALIBRATION = "more_calibration"  # MORE_CALIBRATION x the calibration samples
    INT16X8 = "int16x8"  # 16-bit activations, 8-bit weights
    FLOAT_LAYERS = "float_layers"  # the N layers with the worst int8 error kept in float


class Needs(str, Enum):
    """What a recipe needs of the target and the data; without it the recipe is skipped."""

    MORE_DATA = "more_data"  # more representative samples than the calibration used
    INT16X8 = "int16x8"  # a non-MCU target whose profile allows int16x8
    FLOAT_OPS = "float_ops"  # a non-MCU target whose profile allows float ops
    DEBUGGER = "debugger"  # QuantizationDebugger's per-layer metrics (to rank the layers)


@dataclass(frozen=True)
class Recipe:
    """One rung of the ladder: a change, its cost level, and what it needs.

    The search stops after the first cost level at which some candidate fits the budget, so
    recipes of the same cost are always tried together.
    """

    key: str
    change: Change
    cost: int
    needs: tuple[Needs, ...] = ()
    float_layers: int = 0


MORE_CALIBRATION = 4  # the "more calibration" recipe uses this many times more samples
MAX_FLOAT_LAYERS = 3

LADDER: tuple[Recipe, ...] = (
    Recipe("target", Change.NONE, cost=1),
    Recipe("other-granularity", Change.OTHER_GRANULARITY, cost=1),
    Recipe("more-calibration", Change.MORE_CALIBRATION, cost=2, needs=(Needs.MORE_DATA,)),
    Recipe("int16x8", Change.INT16X8, cost=3, needs=(Needs.INT16X8,)),
    *(
        Recipe(
            f"float-{k}",
            Change.FLOAT_LAYERS,
            cost=3 + k,
            needs=(Needs.FLOAT_OPS, Needs.DEBUGGER),
            float_layers=k,
        )
        for k in range(1, MAX_FLOAT_LAYERS + 1)
    ),
)

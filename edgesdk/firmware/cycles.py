"""Cycle ESTIMATES from executed-instruction classes and the cores' published cycle tables.

The icount qemu plugin (templates/icount.c) counts every executed instruction by class (a
measurement: exact, identical run to run). qemu models no timing, so cycles are estimated here:
each class costs what the core's Technical Reference Manual lists for it, at zero wait states,
without operand-dependency stalls, flash wait states, bus contention or caches. Where the manual
gives a range (the pipeline refill P of 1 to 3 cycles after a taken branch on the Cortex-M3/M4,
2 to 12 cycles for a divide), ``low`` and ``high`` take its ends and ``cycles`` a middle value.
Every figure here is an estimate and is labelled so wherever it is shown.

Cross-check against one published figure (the only Cortex-M4 one found for a model built
here): MLPerf Tiny v0.5, closed division, reference submission (mlcommons/tiny_results_v0.5,
results/Nucleo-L4R5ZI/kws): the DS-CNN keyword spotter on an STM32L4R5 (Cortex-M4F, 120 MHz,
TFLite Micro 2.3.1 with its CMSIS-NN kernels, mbed-os) ran 100 inferences in 18.192 s, 181.9 ms
or 21.8 M cycles each. The MLPerf-shaped DS-CNN look-alike (benchmarks/firmware_emulation.py)
with TFLite Micro 90b983c + CMSIS-NN 4ab83cc executes 9,229,666 instructions; this table gives
11.48 M cycles (11.24 to 13.12 M), 95.7 ms at 120 MHz: 1.9x below the board. Expected in
direction (five flash wait states at 120 MHz behind ST's ART cache, a 2020 CMSIS-NN, the
harness), not calibrated away: the estimate is a zero-wait-state figure, optimistic by
construction, for comparing engines and kernels on one core, not a board's latency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The plugin's disjoint classes (they sum to the instruction count) and its extra counters, in
# the order it prints them (templates/icount.c: counter_names).
CLASSES: tuple[str, ...] = (
    "load",
    "store",
    "load_multiple",
    "store_multiple",
    "mul",
    "mul_long",
    "dsp_mac",
    "dsp_simd",
    "divide",
    "branch",
    "fp",
    "fp_mac",
    "fp_div",
    "fp_load",
    "fp_store",
    "other",
)
EXTRAS: tuple[str, ...] = (
    "ldm_regs",  # registers (words) moved by LDM/POP/LDRD/VLDM
    "stm_regs",  # registers (words) moved by STM/PUSH/STRD/VSTM
    "ls_pipelined",  # single loads/stores right after another (M3/M4 pipeline them)
    "pc_loads",  # POP {..pc}, LDM with pc, LDR pc: a load that branches
    "branches_taken",  # branch-class instructions that did not fall through
    "calls",  # BL, BLX
)
COUNTERS: tuple[str, ...] = CLASSES + EXTRAS

LABEL = "ESTIMATE (TRM cycle table x measured instruction classes)"


@dataclass(frozen=True)
class CycleTable:
    """Cycles per class for one core, as (low, mid, high); extras add cycles per event. A class
    the table does not list (one the core lacks) costs 1, an extra it does not list 0."""

    core: str
    source: str  # the manual and table the figures come from
    per_class: dict[str, tuple[float, float, float]]
    per_extra: dict[str, tuple[float, float, float]]
    notes: str

    def estimate(self, counts: dict[str, int]) -> dict[str, Any]:
        """Cycles for one set of class counts: low, middle and high, and the middle by class."""
        low = mid = high = 0.0
        by_class: dict[str, int] = {}
        costs = [(name, self.per_class.get(name, _ONE)) for name in CLASSES]
        costs += [(name, self.per_extra.get(name, _NONE)) for name in EXTRAS]
        for name, (lo, md, hi) in costs:
            n = counts.get(name, 0)
            low, mid, high = low + n * lo, mid + n * md, high + n * hi
            if n and md:
                by_class[name] = round(n * md)
        return {
            "cycles": round(mid),
            "low": round(low),
            "high": round(high),
            "by_class": by_class,
        }


_NONE = (0.0, 0.0, 0.0)
_ONE = (1.0, 1.0, 1.0)
_TWO = (2.0, 2.0, 2.0)

# Cortex-M3/M4: taken branch 1 + P, P = 1..3 (the refill): the extra per taken branch is P
_P = (1.0, 2.0, 3.0)
_M4 = CycleTable(
    core="cortex-m4",
    source=(
        "Arm Cortex-M4 Processor Technical Reference Manual r0p1 (Arm 100166, formerly DDI "
        "0439), Table 3-1 'Processor instruction set summary' (zero wait states), and its FPU "
        "chapter's instruction cycle table (VMLA/VFMA 3, VDIV/VSQRT 14, VLDR/VSTR 2)"
    ),
    per_class={
        "load": _TWO,  # LDR 2; a load/store right after another pipelines to 1 (ls_pipelined)
        "store": _TWO,
        "load_multiple": _ONE,  # 1 + N (N in ldm_regs)
        "store_multiple": _ONE,
        "mul": _ONE,
        "mul_long": _ONE,  # SMULL/UMULL/SMLAL/UMLAL: 1
        "dsp_mac": _ONE,  # SMLAD, SMLABB, SMMUL, ...: 1
        "dsp_simd": _ONE,
        "divide": (2.0, 7.0, 12.0),  # SDIV/UDIV 2 to 12, by operand values
        "branch": _ONE,  # 1 not taken; taken adds P (branches_taken)
        "fp": _ONE,
        "fp_mac": (3.0, 3.0, 3.0),
        "fp_div": (14.0, 14.0, 14.0),
        "fp_load": _TWO,
        "fp_store": _TWO,
        "other": _ONE,
    },
    per_extra={
        "ldm_regs": _ONE,
        "stm_regs": _ONE,
        "ls_pipelined": (-1.0, -1.0, 0.0),  # high: no pipelining at all
        "pc_loads": _P,  # POP {pc} 1 + N + P, LDR pc 2 + P
        "branches_taken": _P,
        "calls": (0.0, 0.0, 0.0),
    },
    notes=(
        "taken branch 1 + P with P = 1..3 (middle 2); divide 2..12 (middle 7); a load/store "
        "right after another load/store counts 1 cycle (the TRM's pipelining note; high: 2); "
        "IT-skipped instructions count as executed; no wait states, stalls or caches"
    ),
)

_M3 = CycleTable(
    core="cortex-m3",
    source=(
        "Arm Cortex-M3 Technical Reference Manual r2p0 (DDI 0337H), Table 3-1 'Cortex-M3 "
        "instruction set summary' (zero wait states)"
    ),
    per_class={
        **_M4.per_class,
        "mul": (1.0, 1.5, 2.0),  # MUL 1, MLA/MLS 2 (one class)
        "mul_long": (3.0, 5.0, 7.0),  # SMULL/UMULL 3..5, SMLAL/UMLAL 4..7 (early termination)
    },
    per_extra=_M4.per_extra,
    notes=_M4.notes + "; MUL 1 and MLA 2 share a class (middle 1.5); long multiplies 3..7",
)

_M0 = CycleTable(
    core="cortex-m0",
    source=(
        "Arm Cortex-M0 Technical Reference Manual r0p0 (DDI 0432C), Table 3-1 'Cortex-M0 "
        "instruction summary' (zero wait states)"
    ),
    per_class={
        "load": _TWO,
        "store": _TWO,
        "load_multiple": _ONE,  # LDM/POP 1 + N
        "store_multiple": _ONE,  # STM/PUSH 1 + N
        "mul": (1.0, 1.0, 32.0),  # MULS 1 (fast multiplier) or 32 (small one)
        "branch": _ONE,  # B<c> not taken 1
        "other": _ONE,
    },
    per_extra={
        "ldm_regs": _ONE,
        "stm_regs": _ONE,
        "pc_loads": (3.0, 3.0, 3.0),  # POP {..pc} 4 + N
        "branches_taken": _TWO,  # B, B<c> taken, BX, BLX: 3
        "calls": _ONE,  # BL 4
    },
    notes="MULS 1 (the fast multiplier; high: the 32-cycle one); no wait states",
)

_M0PLUS = CycleTable(
    core="cortex-m0plus",
    source=(
        "Arm Cortex-M0+ Technical Reference Manual r0p1 (DDI 0484C), Table 3-1 'Cortex-M0+ "
        "instruction summary' (zero wait states)"
    ),
    per_class=_M0.per_class,
    per_extra={
        "ldm_regs": _ONE,
        "stm_regs": _ONE,
        "pc_loads": (2.0, 2.0, 2.0),  # POP {..pc} 3 + N
        "branches_taken": _ONE,  # B, B<c> taken, BX, BLX: 2
        "calls": _ONE,  # BL 3
    },
    notes=(
        "MULS 1 (the fast multiplier; high: the 32-cycle one); loads 2 (1 only through the "
        "single-cycle I/O port, not counted); no wait states"
    ),
)

# by the code's core (cores.Core.name); cortex-m3 for an ARMv7-M core without DSP
TABLES: dict[str, CycleTable] = {
    "cortex-m0": _M0,
    "cortex-m0plus": _M0PLUS,
    "cortex-m3": _M3,
    "cortex-m4f": _M4,
    "cortex-m4": _M4,
}
NO_TABLE: dict[str, str] = {
    "cortex-m7": (
        "no cycle estimate: the Cortex-M7 TRM publishes no per-instruction cycle table (dual "
        "issue, caches); only the flat-CPI estimate is given"
    ),
}


def estimate(
    classes: list[dict[str, int]] | tuple[dict[str, int], ...], core: str
) -> dict[str, Any] | None:
    """The cycle ESTIMATE per inference from per-inference class counts, with its source, or
    None for a core without a published cycle table (NO_TABLE) or without counts."""
    table = TABLES.get(core)
    if table is None or not classes:
        return None
    return {
        "label": LABEL,
        "table": table.core,
        "source": table.source,
        "assumptions": table.notes,
        "per_inference": [table.estimate(c) for c in classes],
    }


def split(counters: dict[str, int]) -> dict[str, int]:
    """The class and extra counters of one inference, in the plugin's order."""
    return {name: counters.get(name, 0) for name in COUNTERS}


def cycles_for(counts: dict[str, int], table: str) -> dict[str, Any]:
    """One set of class counts priced by the named core's table (for comparisons and the
    benchmark): cycles (middle), low, high, by class. Raises KeyError for an unknown table."""
    return TABLES[table].estimate(counts)


def latency_ms(cycles_estimate: dict[str, Any] | None, clock_mhz: int | None) -> float | None:
    """The slowest inference's estimated cycles / clock, in ms: an ESTIMATE, or None."""
    if not cycles_estimate or not cycles_estimate.get("per_inference") or not clock_mhz:
        return None
    return max(c["cycles"] for c in cycles_estimate["per_inference"]) / (clock_mhz * 1e3)


def slowest(cycles_estimate: dict[str, Any] | None) -> dict[str, Any] | None:
    """The slowest inference's estimate (cycles, low, high, by_class) with the table and source:
    what a benchmark prints beside the measured instruction count (label it an ESTIMATE)."""
    if not cycles_estimate or not cycles_estimate.get("per_inference"):
        return None
    worst = max(cycles_estimate["per_inference"], key=lambda c: c["cycles"])
    return {**worst, "table": cycles_estimate["table"], "source": cycles_estimate["source"]}

"""The label-only baseline beside distillation: did the teacher earn its keep, and if not why."""

from __future__ import annotations

from edgesdk.core.options import CompressOptions

# A teacher less than this far (a fraction: 2 pts) above the baseline has little to add.
CLOSE_TEACHER = 0.02


def _pct(v: float) -> str:
    return f"{100 * v:.2f}%"


def distillation_warning(
    distilled: float | None,
    baseline: float | None,
    teacher: float | None,
    options: CompressOptions,
) -> str | None:
    """One line when the distilled student is not above the same student trained on the labels
    alone (both on the same validation data), with the likely reasons; None otherwise.

    Args:
        distilled: the student's validation accuracy right after distillation (a fraction).
        baseline: the label-only student's validation accuracy, or None if it was not trained.
        teacher: the teacher's validation accuracy.
        options: the options of the run (alpha, temperature, learning rates).

    Returns:
        The warning, or None when distillation beat the baseline or there is no baseline.
    """
    if distilled is None or baseline is None or distilled > baseline:
        return None
    reasons = []
    if teacher is not None:
        if teacher <= baseline:
            what = "a weak teacher"
        elif teacher - baseline < CLOSE_TEACHER:
            what = "a teacher only a little stronger"
        else:
            what = "the teacher"
        reasons.append(f"{what} (teacher {_pct(teacher)} vs baseline {_pct(baseline)})")
    reasons.append(f"alpha {options.alpha:g} (weight of the true labels)")
    reasons.append(f"temperature {options.temperature:g}")
    distill_rate, baseline_rate = options.rate("distill"), options.rate("baseline")
    if distill_rate != baseline_rate:
        reasons.append(
            f"learning rate {distill_rate:g} (the baseline trained at {baseline_rate:g})"
        )
    return (
        f"Distillation did not beat training on the labels alone: the distilled student reached "
        f"{_pct(distilled)}, the same student trained on the labels {_pct(baseline)} (same data, "
        f"epochs and batch size); likely reasons: {'; '.join(reasons)}"
    )

"""The standalone engine's memory plan against TFLite Micro's planner, model by model.

Like with like: TFLite Micro's arena head (its greedy planner's tensors: activations, the
model's inputs and outputs and kernel scratch; measured by the real interpreter,
``tflite_micro``) against the standalone plan's one static buffer (the same, with the
in-place entry). Also printed: the plan before the planner's two choices (model's op order,
every kernel's scratch kept), the op orders tried, and the plan keeping all scratch (faster
kernels). Models: the look-alikes the tests build (tests/firmware/standalone_models.py,
seeded, cached under ~/.cache/edgesdk/standalone-models).

    .venv/bin/python benchmarks/standalone_plan_vs_tflm.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))

from standalone_models import WHOLE_MODELS, whole_model  # noqa: E402

MODELS = [*WHOLE_MODELS, "two_in_two_out", "two_branches"]


def main() -> None:
    from edgesdk.firmware.standalone.engine import compile_model
    from edgesdk.tflite.micro import load_interpreter, measure_arena

    print(f"{'model':<16} {'TFLM head':>10} {'plan':>7} {'ratio':>7} {'model order':>12} "
          f"{'orders':>7} {'all scratch':>12}  (bytes, I/O included in both)")  # fmt: skip
    worst = 0.0
    for name in MODELS:
        model = whole_model(name)
        head = measure_arena(load_interpreter(model)[0]).head
        lean = compile_model(model, "m")
        fast = compile_model(model, "m", keep_scratch=True)
        ratio = lean.plan.arena_bytes / head
        worst = max(worst, ratio)
        print(f"{name:<16} {head:>10,} {lean.plan.arena_bytes:>7,} {ratio:>6.3f}x "
              f"{lean.search.model_order_bytes:>12,} {lean.search.orders_tried:>7} "
              f"{fast.plan.arena_bytes:>12,}")  # fmt: skip
    print(
        f"\nworst plan / TFLite Micro head: {worst:.3f}x "
        f"({'never above' if worst <= 1 else 'ABOVE'} TFLite Micro's planner)"
    )


if __name__ == "__main__":
    main()

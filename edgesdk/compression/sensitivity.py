"""Per-layer pruning sensitivity and the sparsity plan it buys (worker side, tf_keras).

Each prunable layer alone is magnitude-pruned to a few sparsities, with no fine-tuning, and
the model's accuracy on held-out data is measured; the plan then raises, step by step, the
sparsity of the layer that loses the least accuracy per pruned parameter, until the whole
model reaches the target sparsity by parameter count. Sensitive layers are spared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesdk.compression.training import accuracy

LEVELS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass(frozen=True)
class LayerSensitivity:
    """Accuracy with this layer alone pruned to each level (no fine-tuning)."""

    layer: str
    parameters: int
    curve: dict[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "parameters": self.parameters,
            "curve": {f"{k:g}": v for k, v in self.curve.items()},
        }


def _prunable(model: Any, layers: list[str], registry_map: dict[Any, list[str]]) -> list[Any]:
    """(layer, its prunable variables) for each named layer."""
    found = []
    for layer in model.layers:
        if layer.name in layers:
            names = registry_map.get(layer.__class__, [])
            found.append((layer, [getattr(layer, n) for n in names if hasattr(layer, n)]))
    return found


def magnitude_prune(values: np.ndarray, sparsity: float) -> np.ndarray:
    """``values`` with the smallest-magnitude ``sparsity`` share set to zero."""
    flat = np.abs(values).ravel()
    k = int(round(sparsity * flat.size))
    if k <= 0:
        return values
    threshold = np.partition(flat, k - 1)[k - 1]
    return np.where(np.abs(values) <= threshold, 0, values).astype(values.dtype)


def measure(
    model: Any,
    layers: list[str],
    registry_map: dict[Any, list[str]],
    x: list[np.ndarray],
    y: np.ndarray,
    levels: tuple[float, ...] = LEVELS,
) -> list[LayerSensitivity]:
    """Accuracy on (x, y) with each layer alone pruned to each level; weights are restored."""
    result = []
    for layer, variables in _prunable(model, layers, registry_map):
        saved = [v.numpy() for v in variables]
        curve = {}
        for level in levels:
            for v, w in zip(variables, saved, strict=True):
                v.assign(magnitude_prune(w, level))
            curve[level] = accuracy(model, x, y)
        for v, w in zip(variables, saved, strict=True):
            v.assign(w)
        result.append(LayerSensitivity(layer.name, int(sum(w.size for w in saved)), curve))
    return result


def plan(
    sensitivity: list[LayerSensitivity], target: float, baseline: float
) -> tuple[dict[str, float], float]:
    """Per-layer sparsities reaching ``target`` of all prunable parameters, cheapest accuracy
    first. Returns the plan and the overall sparsity it reaches (below ``target`` when even
    every layer at the top level is not enough)."""
    total = sum(s.parameters for s in sensitivity) or 1
    chosen = {s.layer: 0.0 for s in sensitivity}

    def reached() -> float:
        return sum(chosen[s.layer] * s.parameters for s in sensitivity) / total

    while reached() < target - 1e-9:
        best, best_cost = None, None
        for s in sensitivity:
            higher = [level for level in sorted(s.curve) if level > chosen[s.layer]]
            if not higher:
                continue
            level = higher[0]
            loss_now = baseline - s.curve.get(chosen[s.layer], baseline)
            loss_next = baseline - s.curve[level]
            gained = (level - chosen[s.layer]) * s.parameters
            cost = (max(loss_next - loss_now, 0.0) / gained, -gained)  # ties: the bigger step
            if best_cost is None or cost < best_cost:
                best, best_cost = (s.layer, level), cost
        if best is None:
            break
        chosen[best[0]] = best[1]
    return chosen, reached()

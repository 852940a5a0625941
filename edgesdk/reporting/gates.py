"""The report's gate sections: the latest pipeline run's gate table, and each gate across the
earlier runs kept in the folder (``history/``), one plot per gate."""

from __future__ import annotations

import re
from typing import Any

from edgesdk.reporting.collect import Collected


def _figure(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{int(value):,}" if value == int(value) else f"{value:.4g}"


def _runs(found: Collected) -> list[dict[str, Any]]:
    """The saved pipeline runs, oldest first."""
    return sorted((r for _, r in found.items["pipeline-run"]), key=lambda r: r.get("started", ""))


def _gates_of(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for t in run.get("targets", []) for g in t.get("gates", [])]


def _plot_gate(points: list[tuple[int, float]], limit: float, bound: str, title: str) -> bytes:
    import matplotlib.pyplot as plt

    from edgesdk.reporting.plots import _png

    fig, ax = plt.subplots(figsize=(6, 2.6))
    xs = [x for x, _ in points]
    ax.plot(xs, [y for _, y in points], marker="o", color="#2e86c1", label="measured")
    ax.axhline(limit, color="#c0392b", linestyle="--", label=f"limit ({bound})")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("run (oldest first)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


Table = tuple[list[str], list[list[str]]]


def gate_table(found: Collected) -> tuple[str, Table] | None:
    """The latest pipeline run's gates: a sentence and the table (None: no run saved)."""
    runs = _runs(found)
    if not runs:
        return None
    latest = runs[-1]
    verdict = "all pass" if latest.get("passed") else "FAILED"
    rows = [
        [g["target"], g["gate"], _figure(g["value"]),
         f"{'<=' if g['bound'] == 'max' else '>='} {_figure(g['limit'])}",
         "pass" if g["passed"] else ("fail" if g["checked"] else "not checked")]
        for g in _gates_of(latest)
    ]  # fmt: skip
    text = f"Pipeline run of {latest.get('started', '?')}: {verdict}."
    return text, (["target", "gate", "value", "limit", "result"], rows)


def gate_history(
    found: Collected, plots: dict[str, bytes]
) -> tuple[str, Table, list[tuple[str, str]]] | None:
    """Every gate across the saved runs: a sentence, a table (a row per run) and a plot per
    gate added to ``plots`` (file name, caption); None with fewer than two runs."""
    runs = _runs(found)
    if len(runs) < 2:
        return None
    keys = sorted({(g["target"], g["gate"]) for run in runs for g in _gates_of(run)})
    table = []
    for i, run in enumerate(runs, 1):
        by_key = {(g["target"], g["gate"]): g for g in _gates_of(run)}
        cells = []
        for key in keys:
            g = by_key.get(key)
            cells.append("—" if g is None else _figure(g["value"]) + ("" if g["passed"] else " ✗"))
        table.append([str(i), run.get("started", "?"), *cells])
    made = []
    for target, gate in keys:
        points, last = [], None
        for i, run in enumerate(runs, 1):
            for g in _gates_of(run):
                if (g["target"], g["gate"]) == (target, gate) and g["value"] is not None:
                    points.append((i, float(g["value"])))
                    last = g
        if last is None:
            continue
        name = re.sub(r"[^\w.-]", "_", f"gate_{target}_{gate}") + ".png"
        plots[name] = _plot_gate(points, float(last["limit"]), last["bound"], f"{target}: {gate}")
        made.append((name, f"{gate} of {target} per run, with its latest limit"))
    text = f"The same gates across the {len(runs)} runs kept in this folder (✗: failed)."
    return text, (["run", "started", *(f"{t} {g}" for t, g in keys)], table), made

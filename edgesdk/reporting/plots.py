"""Report plots (matplotlib, PNG bytes): accuracy vs size, latency, per-layer int8 error."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.reporting.collect import Collected


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class Point:
    """One model variant on the accuracy-vs-size plot."""

    series: str
    label: str
    kind: str  # the marker group: float, int8, int16x8, float fallback, compressed ...
    raw: int
    gzip: int | None
    accuracy: float


_KIND_OF_ARTIFACT = {
    "float_model": "float (Keras file)",
    "float_tflite": "float .tflite",
    "float_int8_tflite": "int8 .tflite",
    "compressed_model": "compressed (Keras file)",
    "compressed_int8_tflite": "compressed int8 .tflite",
}
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def _accuracy_points(found: Collected) -> list[Point]:
    """Model variants with a size and an accuracy: compress results and budget searches."""
    from edgesdk.compression.result import ARTIFACTS

    points = []
    for _rel, r in found.items["compress"]:
        for key, label in ARTIFACTS.items():
            size, acc = r["sizes"].get(key), r["accuracy"].get(key)
            if size and acc is not None:
                points.append(
                    Point(
                        f"compress {Path(r['output']).name}",
                        label,
                        _KIND_OF_ARTIFACT[key],
                        size["raw_bytes"],
                        size["gzip_bytes"],
                        acc,
                    )
                )
    for rel, r in found.items["quantize"]:
        search = (r.get("extra") or {}).get("search")
        if not search:
            continue
        series = f"budget search {Path(r.get('output') or rel).name}"
        fs = r["float_size"]
        points.append(
            Point(
                series,
                "float",
                "float .tflite",
                fs["raw_bytes"],
                fs["gzip_bytes"],
                search["float_accuracy"],
            )  # fmt: skip
        )
        for c in search["candidates"]:
            if c["size"] and c["accuracy"] is not None:
                kind = "float fallback" if c["float_layers"] else f"{c['mode']} .tflite"
                points.append(Point(series, c["name"], kind, c["size"], None, c["accuracy"]))
    return points


def _plot_accuracy_vs_size(points: list[Point]) -> bytes:
    """Raw size for every variant; gzip size beside it where it was measured."""
    import matplotlib.pyplot as plt

    with_gzip = [p for p in points if p.gzip]
    panels = 2 if with_gzip else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.0 * panels, 4.6), squeeze=False)
    series = list(dict.fromkeys(p.series for p in points))
    kinds = list(dict.fromkeys(p.kind for p in points))
    colors = {name: f"C{i % 10}" for i, name in enumerate(series)}
    markers = {kind: _MARKERS[i % len(_MARKERS)] for i, kind in enumerate(kinds)}
    for ax, attr, title in zip(
        axes[0], ("raw", "gzip"), ("size on disk", "gzip size"), strict=False
    ):
        for p in points:
            value = getattr(p, attr)
            if value:
                ax.scatter(value / 1024, 100 * p.accuracy, color=colors[p.series],
                           marker=markers[p.kind], s=44, alpha=0.85)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel(f"{title} (KiB, log scale)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(True, alpha=0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[n], marker="o", ls="", label=n) for n in series]
    handles += [Line2D([], [], color="gray", marker=markers[k], ls="", label=k) for k in kinds]
    fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=3,
               bbox_to_anchor=(0.5, -0.02 - 0.035 * ((len(handles) + 2) // 3)))  # fmt: skip
    fig.suptitle("Accuracy vs size across variants")
    return _png(fig)


def _latency_series(found: Collected) -> list[tuple[str, list[float]]]:
    series = []
    for _rel, r in found.items["benchmark"]:
        values = r.get("latencies_ms") or [
            v for v in (r.get("min_ms"), r.get("p50_ms"), r.get("p90_ms"), r.get("p99_ms")) if v
        ]
        if values:
            device = f"{r['device']} (EMULATED)" if r.get("emulated") else r["device"]
            series.append((f"{device}\n{Path(r['model']).name}", values))
    for _rel, r in found.items["fleet"]:
        if r.get("action") != "benchmark":
            continue
        for d in r.get("devices", []):
            values = d.get("latencies_ms") or [
                v for v in (d.get("min_ms"), d.get("p50_ms"), d.get("p99_ms")) if v
            ]
            if d.get("ok") and values:
                series.append(
                    (f"{d['device']} (EMULATED)" if d.get("emulated") else d["device"], values)
                )
    return series


def _plot_latency(series: list[tuple[str, list[float]]]) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(series) + 2), 4.2))
    ax.boxplot([s[1] for s in series], showfliers=True)
    ax.set_xticks(range(1, len(series) + 1), [s[0] for s in series], fontsize=7)
    ax.set_ylabel("latency per inference (ms)")
    ax.set_title("Latency distribution per device")
    ax.grid(True, axis="y", alpha=0.3)
    return _png(fig)


def _plot_layer_error(layers: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib.pyplot as plt

    rows = [r for r in layers if r.get("worst_channel_sqnr") == r.get("worst_channel_sqnr")]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.5))
    names = [r["tensor"][-48:] for r in rows]
    values = [r["worst_channel_sqnr"] for r in rows]
    low = min([*values, 0.0]) - 5.0
    colors = ["#c0392b" if v < 10 else "#2e86c1" for v in values]
    ys = range(len(rows))
    ax.hlines(ys, low, values, colors=colors, linewidth=2)  # lollipops: 0 dB stays visible
    ax.scatter(values, ys, color=colors, zorder=3)
    for y, v in zip(ys, values, strict=True):
        ax.annotate(f"{v:.1f} dB", (v, y), xytext=(5, -3), textcoords="offset points", fontsize=7)
    ax.set_xlim(low, max([*values, 0.0]) + 12)
    ax.set_yticks(range(len(rows)), names, fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("worst-channel SQNR (dB), higher is better")
    ax.set_title(title, fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def _plot_emulation(rows: list[dict[str, Any]]) -> bytes:
    """Instructions per inference (measured) and linked flash/RAM per model and target."""
    import matplotlib.pyplot as plt

    labels = [f"{Path(r['bundle']).name}\n{r['target']} ({r['core']})" for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.6 * len(rows) + 2.2))
    ys = range(len(rows))
    left.barh(ys, [max(r["instructions"]) / 1e6 for r in rows], color="#2e86c1")
    left.set_yticks(ys, labels, fontsize=7)
    left.set_xlabel("instructions per inference (millions, measured under qemu)")
    left.invert_yaxis()
    for key, color, offset in (("flash", "#7d3c98", -0.2), ("ram", "#28b463", 0.2)):
        right.barh(
            [y + offset for y in ys],
            [r[key]["total"] / 1024 for r in rows],
            height=0.4,
            color=color,
            label=f"{key} (linked)",
        )
    right.set_yticks(ys, [""] * len(rows))
    right.set_xlabel("KiB")
    right.invert_yaxis()
    right.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _plot_sensitivity(search: dict[str, Any], title: str) -> bytes:
    """Accuracy with each layer alone pruned (no fine-tuning), and the sparsity chosen for it."""
    import matplotlib.pyplot as plt

    chosen = next((a for a in search["attempts"] if a["fits"]), None)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for row in search["sensitivity"]:
        levels = [float(k) for k in row["curve"]]
        values = [100 * v for v in row["curve"].values()]
        (line,) = ax.plot(
            levels, values, marker="o", label=f"{row['layer']} ({row['parameters']:,})"
        )
        if chosen and chosen["layers"].get(row["layer"]):
            ax.axvline(chosen["layers"][row["layer"]], color=line.get_color(), ls=":", lw=1)
    ax.axhline(100 * search["baseline_accuracy"], color="k", lw=0.8, label="float model")
    ax.set_xlabel("sparsity of that layer alone (dotted: chosen)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    return _png(fig)


def _plot_sweep(result: dict[str, Any]) -> bytes:
    """p50 per sweep cell (bars) with p90 and p99 marked."""
    import matplotlib.pyplot as plt

    cells = result["cells"]
    labels = [
        f"{Path(c['model']).name}\n{c['threads']} thr, XNNPACK {'on' if c['xnnpack'] else 'off'}"
        for c in cells
    ]
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(cells) + 1.8))
    ys = range(len(cells))
    ax.barh(ys, [c["p50_ms"] for c in cells], color="#2e86c1", label="p50")
    ax.scatter([c["p90_ms"] for c in cells], ys, marker="|", color="k", s=120, label="p90")
    ax.scatter([c["p99_ms"] for c in cells], ys, marker="x", color="#c0392b", label="p99")
    ax.set_yticks(ys, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"latency (ms) on {result['device']}, interleaved runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)

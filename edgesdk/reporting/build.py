"""`report`: render saved results (manifests, compress/evaluate/benchmark JSON) as Markdown and
one self-contained HTML page with matplotlib plots. Reads saved files only; runs no model."""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic
from edgesdk.errors import ConfigError

log = logging.getLogger(__name__)

KINDS = ("quantize", "export-c", "compress", "evaluate", "benchmark", "fleet")


@dataclass
class Section:
    """A titled block: paragraphs, tables (header + rows) and plots (file name, caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    plots: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it was made from."""

    markdown: str
    html: str
    plots: tuple[str, ...]
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "markdown": self.markdown,
            "html": self.html,
            "plots": list(self.plots),
            "sources": list(self.sources),
        }


@dataclass
class Collected:
    """Saved results by kind, each with the file it came from."""

    items: dict[str, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: {k: [] for k in KINDS}
    )
    manifests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _kind(data: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """What a saved JSON holds; manifests hold the result of their command."""
    if data.get("kind") == "manifest":
        return data.get("command"), data.get("result") or {}
    if data.get("kind") in KINDS:
        return data["kind"], data
    if {"arena", "files", "ops"} <= set(data):
        return "export-c", data
    if {"mode", "fidelity", "dtype_table"} <= set(data):
        return "quantize", data
    return None, data


def collect(folder: Path, skip: Path | None = None) -> Collected:
    """Read every edgesdk JSON result under ``folder`` (the same result only once)."""
    found = Collected()
    seen: set[str] = set()
    for path in sorted(folder.rglob("*.json")):
        if skip is not None and skip in path.parents:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict):
            continue
        kind, result = _kind(data)
        if kind not in KINDS:
            continue
        rel = str(path.relative_to(folder))
        if data.get("kind") == "manifest":
            found.manifests.append((rel, data))
        key = hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()
        found.sources.append(rel)
        if key in seen:
            continue
        seen.add(key)
        found.items[kind].append((rel, result))
    return found


def _kib(n: int | None) -> str:
    return "—" if n is None else f"{n / 1024:.1f} KiB"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}%"


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
                ax.scatter(value / 1024, p.accuracy, color=colors[p.series],
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
            series.append((f"{r['device']}\n{Path(r['model']).name}", values))
    for _rel, r in found.items["fleet"]:
        if r.get("action") != "benchmark":
            continue
        for d in r.get("devices", []):
            values = d.get("latencies_ms") or [
                v for v in (d.get("min_ms"), d.get("p50_ms"), d.get("p99_ms")) if v
            ]
            if d.get("ok") and values:
                series.append((d["device"], values))
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


def _sections(found: Collected, plots: dict[str, bytes]) -> list[Section]:
    out: list[Section] = []
    if found.items["quantize"]:
        s = Section("Quantization")
        rows = []
        for rel, r in found.items["quantize"]:
            fid = r["fidelity"][0] if r.get("fidelity") else {}
            rows.append([
                Path(r.get("output") or rel).name, r["target"], r["mode"], r["io"],
                _kib(r["float_size"]["raw_bytes"]), _kib(r["size"]["raw_bytes"]),
                _kib(r["size"]["gzip_bytes"]),
                f"{fid['top1_agreement'] * 100:.1f}%" if fid.get("top1_agreement") is not None else "—",
                f"{fid['sqnr_db']:.1f}" if fid.get("sqnr_db") is not None else "—",
                str(len(r.get("float_ops", []))),
            ])  # fmt: skip
        s.tables.append(
            (
                [
                    "model",
                    "target",
                    "mode",
                    "I/O",
                    "float",
                    "quantized",
                    "gzip",
                    "top-1 agree",
                    "SQNR dB",
                    "float ops",
                ],
                rows,
            )  # fmt: skip
        )
        out.append(s)
        for rel, r in found.items["quantize"]:
            search = (r.get("extra") or {}).get("search")
            if not search:
                continue
            name = Path(r.get("output") or rel).name
            b = Section(f"Accuracy budget search for {name}")
            b.paragraphs.append(
                f"Budget {search['budget']:g} pts below the float model's "
                f"{search['float_accuracy']:.2f}% on {search['eval_samples']} samples. "
                f"Chosen: {search.get('chosen')}; {search.get('reason')}."
            )
            b.tables.append((
                ["candidate", "I/O", "size", "accuracy", "drop (pts)", "float ops", "within"],
                [[c["name"] + (f" (float: {', '.join(c['float_layers'])})" if c["float_layers"] else ""),
                  c["io"] or "—", _kib(c["size"]), _pct(c["accuracy"]),
                  "—" if c["drop"] is None else f"{c['drop']:+.2f}", str(c["float_ops"]),
                  "yes" if c["fits"] else ("no: " + c["error"] if c["error"] else "no")]
                 for c in search["candidates"]],
            ))  # fmt: skip
            b.paragraphs.extend(search.get("notes", []))
            if search.get("layers"):
                plot = f"layer_error_{len(plots)}.png"
                plots[plot] = _plot_layer_error(search["layers"], f"Per-layer int8 error: {name}")
                b.plots.append((plot, "Per-layer quantization error (QuantizationDebugger)"))
            out.append(b)
    for _rel, r in found.items["compress"]:
        from edgesdk.compression.result import ARTIFACTS

        s = Section(f"Compression: {Path(r['output']).name}")
        s.paragraphs.append(
            f"Techniques: {' → '.join(r['techniques'])}. {r['parameters']:,} parameters, "
            f"{r['nonzero_parameters']:,} non-zero. Validation on {r['validation_samples']} samples."
        )
        if r.get("compression_ratio"):
            s.paragraphs.append(
                f"Float .tflite to gzip of the compressed int8 .tflite: {r['compression_ratio']:.1f}x "
                f"(gzip vs gzip {r['gzip_ratio']:.1f}x)."
            )
        s.tables.append((
            ["artifact", "raw", "gzip", "accuracy"],
            [[label, _kib(r["sizes"][k]["raw_bytes"]), _kib(r["sizes"][k]["gzip_bytes"]),
              _pct(r["accuracy"].get(k))] for k, label in ARTIFACTS.items() if k in r["sizes"]],
        ))  # fmt: skip
        if r.get("layers"):
            s.tables.append((
                ["layer", "parameters", "zeros", "sparsity", "distinct values"],
                [[x["layer"], f"{x['parameters']:,}", f"{x['zeros']:,}", f"{x['sparsity']:.1f}%",
                  f"{x['unique']:,}"] for x in r["layers"]],
            ))  # fmt: skip
        out.append(s)
    points = _accuracy_points(found)
    if points:
        plots["accuracy_vs_size.png"] = _plot_accuracy_vs_size(points)
        s = Section("Accuracy vs size")
        s.plots.append(("accuracy_vs_size.png", "Accuracy vs size across variants"))
        out.append(s)
    for _rel, r in found.items["evaluate"]:
        s = Section(f"Evaluation on {Path(r['data']).name} ({r['samples']} samples)")
        s.tables.append((
            ["model", "runtime", "top-1", "top-5", "top-1 agreement", "SQNR dB", "LSB vs ref"],
            [[Path(x["model"]).name, x["runtime"], _pct(x["top1"] * 100 if x["top1"] is not None else None),
              _pct(x["top5"] * 100 if x["top5"] is not None else None),
              f"{x['fidelity'][0]['top1_agreement'] * 100:.1f}%" if x["fidelity"] else "—",
              f"{x['fidelity'][0]['sqnr_db']:.1f}" if x["fidelity"] and x["fidelity"][0].get("sqnr_db") is not None else "—",
              "—" if x["max_lsb_vs_reference"] is None else str(x["max_lsb_vs_reference"])]
             for x in r["runs"]],
        ))  # fmt: skip
        out.append(s)
    series = _latency_series(found)
    if series:
        plots["latency.png"] = _plot_latency(series)
        s = Section("Latency")
        rows = []
        for _rel, r in found.items["benchmark"]:
            rows.append([r["device"], Path(r["model"]).name, r.get("runtime", "—"),
                         f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}", str(r["n"])])  # fmt: skip
        for _rel, r in found.items["fleet"]:
            for d in r.get("devices", []) if r.get("action") == "benchmark" else []:
                if d.get("ok"):
                    rows.append([d["device"], "(group)", d.get("runtime") or "—",
                                 f"{d['p50_ms']:.3f}", f"{d.get('p90_ms') or 0:.3f}",
                                 f"{d['p99_ms']:.3f}", str(d.get("n"))])  # fmt: skip
        s.tables.append((["device", "model", "runtime", "p50 ms", "p90 ms", "p99 ms", "n"], rows))
        s.plots.append(("latency.png", "Latency distribution per device"))
        out.append(s)
    for _rel, r in found.items["export-c"]:
        s = Section(f"C export: {r['name']} for {r['target']}")
        s.paragraphs.append(
            f"{r['model_bytes']:,} bytes of model, tensor arena declared "
            f"{r['arena_declared']:,} bytes; files: {', '.join(r['files'])}."
        )
        out.append(s)
    if found.manifests:
        s = Section("Manifests")
        s.tables.append((
            ["manifest", "command", "artifact sha256", "target", "edgesdk", "TensorFlow", "LiteRT",
             "TFLite Micro"],
            [[rel, m["command"], ((m.get("artifact") or {}).get("sha256") or "—")[:16],
              (m.get("target") or {}).get("name", "—"), str(m["versions"].get("edgesdk")),
              str(m["versions"].get("tensorflow")), str(m["versions"].get("ai-edge-litert")),
              str(m["versions"].get("tflite-micro"))] for rel, m in found.manifests],
        ))  # fmt: skip
        out.append(s)
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(title: str, intro: str, sections: list[Section]) -> str:
    lines = [f"# {title}", "", intro, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for p in s.paragraphs:
            lines += [p, ""]
        for header, rows in s.tables:
            lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        for name, caption in s.plots:
            lines += [f"![{caption}]({name})", ""]
    return "\n".join(lines)


def to_html(title: str, intro: str, sections: list[Section], plots: dict[str, bytes]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:left}th{background:#f3f3f3}img{max-width:100%}</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(intro)}</p>",
    ]
    for s in sections:
        parts.append(f"<h2>{e(s.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in s.paragraphs]
        for header, rows in s.tables:
            parts.append("<table>")
            parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            parts += [
                "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows
            ]
            parts.append("</table>")
        for name, caption in s.plots:
            data = base64.b64encode(plots[name]).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def make_report(folder: str | Path, out_dir: str | Path | None = None) -> ReportResult:
    """Render every saved result under ``folder`` into ``out_dir`` (default ``folder/report``).

    Raises:
        ConfigError: ``folder`` is not a folder, or holds no edgesdk results.
        OutputError: the report cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")
    base = Path(folder).expanduser().absolute()
    if not base.is_dir():
        raise ConfigError(f"Not a folder: {base} (expected the folder holding edgesdk results)")
    out = Path(out_dir).expanduser().absolute() if out_dir else base / "report"
    found = collect(base, skip=out)
    if not any(found.items.values()):
        raise ConfigError(
            f"No edgesdk results in {base} (expected manifests written by quantize, export-c and "
            "compress, or JSON saved with --save by compress, evaluate and benchmark)"
        )
    plots: dict[str, bytes] = {}
    sections = _sections(found, plots)
    title = "edgesdk report"
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    intro = f"Made from {len(found.sources)} saved result file(s) in {base} on {stamp}."
    written = []
    for name, png in plots.items():
        written.append(str(write_atomic(out / name, png)))
    md = write_atomic(out / "report.md", to_markdown(title, intro, sections))
    page = write_atomic(out / "report.html", to_html(title, intro, sections, plots))
    return ReportResult(str(md), str(page), tuple(written), tuple(found.sources))

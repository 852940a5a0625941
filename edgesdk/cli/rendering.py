"""Rendering of result objects for people: rich tables (the library itself never prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgesdk.core.profiles import TargetProfile
from edgesdk.quantization.result import QuantizationResult
from edgesdk.tflite.model_info import ModelInfo


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _key_value_table(title: str) -> Table:
    """A two-column table of labels and values."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    return table


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def render_quantization(result: QuantizationResult, console: Console) -> None:
    """Sizes, I/O, per-op dtypes and fidelity of a quantization."""
    head = _key_value_table(f"edgesdk quantize → {result.output}")
    head.add_row("model", result.model)
    head.add_row("target", result.target)
    head.add_row(
        "mode",
        f"{result.mode} (I/O {result.io}, "
        f"{'per-channel' if result.per_channel else 'per-tensor'}, "
        f"{'strict' if result.strict else 'not strict'})",
    )
    head.add_row(
        "float .tflite",
        f"{human_bytes(result.float_size.raw_bytes)} "
        f"(gzip {human_bytes(result.float_size.gzip_bytes)})",
    )
    head.add_row(
        "quantized .tflite",
        f"{human_bytes(result.size.raw_bytes)} "
        f"(gzip {human_bytes(result.size.gzip_bytes)}), {result.compression_ratio:.2f}x smaller",
    )
    head.add_row("ops", ", ".join(f"{k}×{v}" for k, v in result.op_counts.items()))
    head.add_row(
        "calibration",
        f"{result.calibration_samples} samples; {result.held_out_samples} held out for fidelity",
    )
    head.add_row("time", f"{result.seconds:.1f} s")
    console.print(head)

    io = Table(title="Inputs and outputs", title_justify="left")
    for col in ("", "name", "dtype", "shape", "scale", "zero point"):
        io.add_column(col)
    for kind, tensors in (("in", result.inputs), ("out", result.outputs)):
        for t in tensors:
            io.add_row(
                kind, t.name, t.dtype, str(list(t.shape)), _fmt(t.scale, 6), _fmt(t.zero_point)
            )
    console.print(io)

    ops = Table(title="Per-op data types", title_justify="left")
    ops.add_column("op", no_wrap=True)
    for col in ("count", "activations", "weights", "outputs", "float compute"):
        ops.add_column(col)
    for r in result.dtype_table:
        ops.add_row(
            r.op,
            str(r.count),
            ",".join(r.activations) or "-",
            ",".join(r.weights) or "-",
            ",".join(r.outputs) or "-",
            "[red]yes[/red]" if r.float_compute else "no",
        )
    console.print(ops)

    if result.fidelity:
        fid = Table(
            title="Fidelity against the float model (held-out samples)", title_justify="left"
        )
        for col in (
            "output",
            "samples",
            "top-1 agreement",
            "cosine",
            "SQNR dB",
            "max |err|",
            "max |err| LSB",
        ):
            fid.add_column(col)
        for f in result.fidelity:
            fid.add_row(
                f.name,
                str(f.samples),
                "-" if f.top1_agreement is None else f"{100 * f.top1_agreement:.1f}%",
                f"{f.cosine:.5f}",
                "exact" if f.sqnr_db is None else f"{f.sqnr_db:.1f}",
                _fmt(f.max_abs_error),
                _fmt(f.max_abs_error_lsb, 3),
            )
        console.print(fid)
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")
    for warning in result.warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/yellow]")


def render_model_info(
    info: ModelInfo, console: Console, source: str, tensors: bool = False
) -> None:
    """Summary, ops with versions, I/O and (optionally) every tensor of a .tflite."""
    head = _key_value_table(f"edgesdk inspect {source}")
    head.add_row(
        "size",
        f"{human_bytes(info.size_bytes)} (weights {human_bytes(info.weights_bytes)}, "
        f"graph {human_bytes(info.graph_bytes)})",
    )
    head.add_row("subgraphs", str(len(info.subgraphs)))
    head.add_row("signatures", ", ".join(info.signatures) or "-")
    float_ops = info.float_ops()
    head.add_row("float ops", ", ".join(sorted({o.name for o in float_ops})) or "none")
    console.print(head)
    ops = Table(title="Ops", title_justify="left")
    ops.add_column("op", no_wrap=True)
    for col in ("version", "count", "activations", "weights", "outputs"):
        ops.add_column(col)
    versions = info.op_versions()
    for r in info.dtype_table():
        ops.add_row(
            r.op,
            str(versions[r.op]),
            str(r.count),
            ",".join(r.activations) or "-",
            ",".join(r.weights) or "-",
            ",".join(r.outputs) or "-",
        )
    console.print(ops)
    for si, sg in enumerate(info.subgraphs):
        table = Table(
            title=f"Subgraph {si} {sg.name}".strip()
            + (" tensors" if tensors else " inputs/outputs"),
            title_justify="left",
        )
        for col in ("#", "name", "dtype", "shape", "scale", "zero point", "bytes"):
            table.add_column(col)
        shown = sg.tensors if tensors else [sg.tensors[i] for i in (*sg.inputs, *sg.outputs)]
        for t in shown:
            scale = (
                _fmt(t.scale[0], 6) + (f" (+{len(t.scale) - 1})" if len(t.scale) > 1 else "")
                if t.scale
                else "-"
            )
            zp = _fmt(t.zero_point[0]) if t.zero_point else "-"
            table.add_row(
                str(t.index),
                t.name,
                t.dtype,
                str(list(t.shape)),
                scale,
                zp,
                str(t.data_bytes or "-"),
            )
        console.print(table)


def render_targets(profiles: list[TargetProfile], console: Console) -> None:
    table = Table(title="Target profiles", title_justify="left")
    table.add_column("name", no_wrap=True)
    for col in ("kind", "arch", "cpu", "RAM", "flash", "default"):
        table.add_column(col)
    for p in profiles:
        q = p.quantization
        table.add_row(
            p.name,
            p.kind.value,
            p.arch,
            p.cpu,
            human_bytes(p.memory.ram_bytes),
            human_bytes(p.memory.flash_bytes),
            f"{q.mode.value} (I/O {q.io.value})",
        )
    console.print(table)


def render_target(profile: TargetProfile, console: Console) -> None:
    table = _key_value_table(f"{profile.name}: {profile.description}")

    def add(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if isinstance(value, dict):
                add(f"{prefix}{key}.", value)
            else:
                table.add_row(
                    f"{prefix}{key}",
                    ", ".join(map(str, value)) if isinstance(value, list) else str(value),
                )

    add("", profile.to_dict())
    m = profile.memory
    table.add_row("RAM budget", human_bytes(m.ram_budget_bytes))
    table.add_row("flash budget", human_bytes(m.flash_budget_bytes))
    console.print(table)


def render_export(result: Any, console: Console) -> None:
    """Bundle files, arena, budgets, op support and TFLite Micro parity of an export."""
    head = _key_value_table(f"edgesdk export-c → {result.out_dir}")
    head.add_row("target", result.target)
    head.add_row("files", ", ".join(result.files))
    head.add_row("model", f"{human_bytes(result.model_bytes)} (sha256 {result.sha256[:16]}…)")
    head.add_row("arena", f"measured {result.arena.total} B, declared {result.arena_declared} B")
    for label, b in (("flash", result.flash), ("RAM", result.ram)):
        pct = "" if b.percent is None else f" ({b.percent:.1f}% of {human_bytes(b.budget)})"
        head.add_row(label, f"{human_bytes(b.used)}{pct}")
    console.print(head)
    ops = Table(title="Ops", title_justify="left")
    ops.add_column("op", no_wrap=True)
    for col in ("count", "resolver", "supported"):
        ops.add_column(col)
    for o in result.ops:
        ops.add_row(
            o.op, str(o.count), o.method or "-", "yes" if o.supported else f"[red]{o.reason}[/red]"
        )
    console.print(ops)
    if result.parity:
        par = Table(
            title="TFLite Micro vs LiteRT reference kernels (random int8 inputs)",
            title_justify="left",
        )
        for col in (
            "output",
            "samples",
            "exact samples",
            "exact values",
            "max LSB",
            "top-1 changes",
        ):
            par.add_column(col)
        for p in result.parity:
            par.add_row(
                str(p.index),
                str(p.samples),
                f"{100 * p.exact_rate:.0f}%",
                f"{p.exact_values}/{p.values}",
                str(p.max_lsb),
                str(p.top1_changes),
            )
        console.print(par)
    else:
        console.print("[yellow]not verified (--no-verify)[/yellow]")
    for w in result.warnings:
        console.print(f"[yellow]warning: {escape(w)}[/yellow]")


def render_benchmark(result: Any, console: Console) -> None:
    """Latency statistics, runtime and environment of a benchmark."""
    s = result.stats
    table = _key_value_table(f"edgesdk benchmark {result.model} on {result.device}")
    table.add_row(
        "runtime",
        f"{s['runtime']} {s['runtime_version']} (Python {s['python']}, "
        f"numpy {s['numpy']}), {s['threads']} threads, {s['arch']}",
    )
    table.add_row("load", f"{s['load_ms']:.2f} ms")
    table.add_row("first inference", f"{s['first_inference_ms']:.3f} ms")
    table.add_row("warm-up", f"{s['warmup_runs']} runs in {s['warmup_ms']:.2f} ms")
    table.add_row(
        "latency (ms)",
        f"mean {s['mean_ms']:.4f} ± {s['std_ms']:.4f}, min {s['min_ms']:.4f}, "
        f"p50 {s['p50_ms']:.4f}, p90 {s['p90_ms']:.4f}, p99 {s['p99_ms']:.4f} (n={s['n']})",
    )
    table.add_row("peak RSS", human_bytes(s["peak_rss_kb"] * 1024))
    table.add_row("inputs", s["input_source"])
    for when in ("before", "after"):
        env = s[f"env_{when}"]
        table.add_row(
            f"device {when}", ", ".join(f"{k}={v}" for k, v in env.items() if v is not None) or "-"
        )
    console.print(table)
    for w in result.warnings:
        console.print(f"[yellow]warning: {escape(w)}[/yellow]")


def render_fleet(result: Any, console: Console) -> None:
    """One row per device of a fleet action, then the summary."""
    table = Table(title=f"edgesdk {result.action}: {result.status} succeeded", title_justify="left")
    table.add_column("device", no_wrap=True)
    extra = {
        "deploy": ("action", "sha256"),
        "benchmark": ("runtime", "p50 ms", "p99 ms"),
        "status": ("model", "sha256", "agrees"),
    }.get(result.action, ())
    for col in ("ok", "phase", *extra, "tries", "error"):
        table.add_column(col)
    for o in result.outcomes:
        d = o.detail
        if result.action == "deploy":
            cells = (d.get("action", "-"), (d.get("current") or {}).get("sha256", "-")[:16])
        elif result.action == "benchmark":
            cells = (d.get("runtime", "-"), _fmt(d.get("p50_ms")), _fmt(d.get("p99_ms")))
        elif result.action == "status":
            cur = d.get("current") or {}
            cells = (
                cur.get("name", "-"),
                cur.get("sha256", "-")[:16],
                "-" if "agrees" not in d else ("yes" if d["agrees"] else "[red]no[/red]"),
            )
        else:
            cells = ()
        table.add_row(
            o.device,
            "[green]yes[/green]" if o.ok else "[red]no[/red]",
            o.phase,
            *cells,
            str(o.attempts),
            escape(o.error or ""),
        )
    console.print(table)
    if result.stopped:
        console.print(f"[red]stopped: {result.stopped}[/red]")
    for key, value in result.summary.items():
        if value not in (None, [], {}):
            console.print(f"{key}: {value if not isinstance(value, float) else f'{value:.3f}'}")


def render_evaluation(result: Any, console: Console) -> None:
    """One row per model and runtime: accuracy and fidelity against the float model."""
    table = Table(
        title=f"edgesdk evaluate: {result.samples} samples from {escape(result.data)}",
        title_justify="left",
    )
    table.add_column("model / runtime", no_wrap=True)
    for col in ("top-1", "top-5", "agree", "cosine", "SQNR dB", "RMSE", "LSB vs ref"):
        table.add_column(col, justify="right")

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    for run in result.runs:
        f = run.fidelity[0] if run.fidelity else None
        table.add_row(
            f"{escape(Path(run.model).name)}\n  {run.runtime}",
            pct(run.top1),
            pct(run.top5),
            pct(f.top1_agreement) if f else "-",
            f"{f.cosine:.4f}" if f else "-",
            ("exact" if f.sqnr_db is None else f"{f.sqnr_db:.1f}") if f else "-",
            _fmt(f.rmse, 3) if f else "-",
            "-" if run.max_lsb_vs_reference is None else str(run.max_lsb_vs_reference),
        )
    console.print(table)
    console.print(
        "[dim]LSB vs ref: largest difference from LiteRT's reference kernels, in output steps[/dim]"
    )
    if not result.labelled:
        console.print("[dim]no labels in the data: accuracy not measured, fidelity only[/dim]")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def render_compression(result: Any, console: Console) -> None:
    """Per-layer sparsity/clusters, sizes (raw and gzip) and accuracy before and after."""
    from edgesdk.compression.result import ARTIFACTS

    head = _key_value_table(f"edgesdk compress → {escape(result.output)}")
    head.add_row("model", escape(result.model))
    head.add_row("techniques", " → ".join(result.techniques))
    head.add_row(
        "data",
        f"{result.train_samples} training samples, {result.validation_samples} for validation",
    )
    head.add_row(
        "parameters",
        f"{result.parameters:,} ({result.nonzero_parameters:,} non-zero; "
        f"{result.original_nonzero_parameters:,} before)",
    )
    if result.teacher_parameters:
        head.add_row(
            "teacher",
            f"{result.teacher_parameters:,} parameters "
            f"(student has {result.parameters / result.teacher_parameters:.1%} of them), "
            f"accuracy {_pct(result.accuracy.get('teacher'))}",
        )
    if result.prune_steps:
        steps = result.prune_steps
        head.add_row(
            "pruning schedule",
            f"{steps['total']} steps, target reached at step {steps['end']} "
            f"(masks updated every {steps['frequency']})"
            if steps["end"] >= 0
            else f"{steps['total']} steps, constant (masks updated every {steps['frequency']})",
        )
    if result.compression_ratio:
        head.add_row(
            "compression",
            f"{result.compression_ratio:.1f}x (float .tflite → gzip of the compressed int8 "
            f".tflite); gzip vs gzip {result.gzip_ratio:.1f}x",
        )
    head.add_row("time", f"{result.seconds:.1f} s")
    console.print(head)

    if result.layers:
        layers = Table(title="Layers", title_justify="left")
        for col in ("layer", "parameters", "zeros", "sparsity", "distinct values"):
            layers.add_column(col, justify="left" if col == "layer" else "right")
        for row in result.layers:
            layers.add_row(
                escape(row.layer),
                f"{row.parameters:,}",
                f"{row.zeros:,}",
                f"{row.sparsity:.1f}%",
                f"{row.unique:,}",
            )
        console.print(layers)

    sizes = Table(title="Sizes and validation accuracy", title_justify="left")
    for col in ("artifact", "raw", "gzip", "accuracy"):
        sizes.add_column(col, justify="left" if col == "artifact" else "right")
    for key, label in ARTIFACTS.items():
        size = result.sizes.get(key)
        if size is None:
            continue
        sizes.add_row(
            label,
            human_bytes(size.raw_bytes),
            human_bytes(size.gzip_bytes),
            _pct(result.accuracy.get(key)),
        )
    console.print(sizes)
    for note in result.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]")


def render_search(search: dict[str, Any], console: Console) -> None:
    """Every candidate the accuracy-budget search tried, and which one won and why."""
    table = Table(
        title=f"Accuracy budget: at most {search['budget']:g} pts below the float model's "
        f"{search['float_accuracy']:.2f}% ({search['eval_samples']} samples)",
        title_justify="left",
    )
    for col in ("candidate", "I/O", "size", "accuracy", "drop", "float ops", "within"):
        table.add_column(col, justify="left" if col in ("candidate", "I/O") else "right")
    for c in search["candidates"]:
        chosen = c["name"] == search.get("chosen")
        name = escape(c["name"]) + (" [bold green]← chosen[/]" if chosen else "")
        if c["float_layers"]:
            name += "\n[dim]float: " + escape(", ".join(c["float_layers"]))[:200] + "[/]"
        if c["error"] and c["accuracy"] is None:
            table.add_row(name, "", "", "", "", "", f"[red]{escape(c['error'])[:80]}[/]")
            continue
        if c["error"]:
            name += f"\n[red]{escape(c['error'])[:120]}[/]"
        table.add_row(
            name,
            c["io"],
            human_bytes(c["size"]),
            f"{c['accuracy']:.2f}%",
            f"{c['drop']:+.2f}",
            str(c["float_ops"]),
            "[green]yes[/]" if c["fits"] else "[red]no[/]",
        )
    console.print(table)
    if search.get("reason"):
        console.print(
            f"chosen: {escape(search.get('chosen') or 'none')} — {escape(search['reason'])}"
        )
    for note in search.get("notes", []):
        console.print(f"[dim]note: {escape(note)}[/dim]")

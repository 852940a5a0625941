"""Terminal rendering of runs: benchmarks, fleets, evaluations and compression results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from edgesdk.cli.common import library_text, print_table, safe
from edgesdk.cli.rendering import (
    _fmt,
    _key_value_table,
    _pct,
    board_rows,
    cycle_rows,
    human_bytes,
    render_layers,
)


def render_benchmark(result: Any, console: Console) -> None:
    """Latency statistics, runtime and environment of a benchmark."""
    s = result.stats
    table = _key_value_table(f"edgesdk benchmark {safe(result.model)} on {safe(result.device)}")
    table.add_row(  # what the device's runner reported: shown as text
        "runtime",
        safe(
            f"{s['runtime']} {s['runtime_version']} (Python {s['python']}, "
            f"numpy {s['numpy']}), {s['threads']} threads, {s['arch']}"
        ),
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
    table.add_row("inputs", safe(s["input_source"]))
    if s.get("emulated"):
        table.add_row("EMULATED", f"{safe(s['emulated'])}: the emulator's timings, not a device's")
    for when in ("before", "after"):
        env = s[f"env_{when}"]
        table.add_row(
            f"device {when}",
            safe(", ".join(f"{k}={v}" for k, v in env.items() if v is not None)) or "-",
        )
    print_table(console, table)
    for w in result.warnings:
        console.print(f"[yellow]warning: {library_text(w, newlines=False)}[/yellow]")


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
        # names, hashes and runtimes come from the devices' own files: shown as text
        if result.action == "deploy":
            current = d.get("current") or {}
            cells = (safe(d.get("action", "-")), safe(str(current.get("sha256", "-"))[:16]))
        elif result.action == "benchmark":
            cells = (safe(d.get("runtime", "-")), _fmt(d.get("p50_ms")), _fmt(d.get("p99_ms")))
        elif result.action == "status":
            cur = d.get("current") or {}
            cells = (
                safe(cur.get("name", "-")),
                safe(str(cur.get("sha256", "-"))[:16]),
                "-" if "agrees" not in d else ("yes" if d["agrees"] else "[red]no[/red]"),
            )
        else:
            cells = ()
        table.add_row(
            safe(o.device),
            "[green]yes[/green]" if o.ok else "[red]no[/red]",
            safe(o.phase),
            *cells,
            str(o.attempts),
            safe(o.error or ""),
        )
    print_table(console, table)
    if result.stopped:
        console.print(f"[red]stopped: {safe(result.stopped)}[/red]")
    for key, value in result.summary.items():
        if value not in (None, [], {}):
            shown = f"{value:.3f}" if isinstance(value, float) else safe(value)
            console.print(f"{key}: {shown}")


def render_evaluation(result: Any, console: Console) -> None:
    """One row per model and runtime: accuracy and fidelity against the float model."""
    table = Table(
        title=f"edgesdk evaluate: {result.samples} samples from {safe(result.data)}",
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
            f"{safe(Path(run.model).name)}\n  {safe(run.runtime)}",
            pct(run.top1),
            pct(run.top5),
            pct(f.top1_agreement) if f else "-",
            f"{f.cosine:.4f}" if f else "-",
            ("exact" if f.sqnr_db is None else f"{f.sqnr_db:.1f}") if f else "-",
            _fmt(f.rmse, 3) if f else "-",
            "-" if run.max_lsb_vs_reference is None else str(run.max_lsb_vs_reference),
        )
    print_table(console, table)
    console.print(
        "[dim]LSB vs ref: largest difference from LiteRT's reference kernels, in output steps[/dim]"
    )
    for run in result.runs:
        if run.device_runtime or run.max_lsb_vs_litert is not None:
            changes = run.top1_changes_vs_litert
            console.print(
                f"{safe(run.runtime)}: {safe(run.device_runtime or 'runtime not reported')}; "
                f"against LiteRT on this machine: largest difference "
                f"{'-' if run.max_lsb_vs_litert is None else run.max_lsb_vs_litert} LSB, "
                f"top-1 changed on {'-' if changes is None else changes} of {run.samples} samples"
            )
    if not result.labelled:
        console.print("[dim]no labels in the data: accuracy not measured, fidelity only[/dim]")


def render_compression(result: Any, console: Console) -> None:
    """Per-layer sparsity/clusters, sizes (raw and gzip) and accuracy before and after."""
    from edgesdk.compression.result import ARTIFACTS

    head = _key_value_table(f"edgesdk compress → {safe(result.output)}")
    head.add_row("model", safe(result.model))
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
        head.add_row("distilled student", _pct(result.accuracy.get("distilled")))
        head.add_row("label-only baseline", _baseline_text(result))
    if result.learning_rates:
        head.add_row(
            "learning rate",
            ", ".join(f"{stage} {rate:g}" for stage, rate in result.learning_rates.items())
            + (" (each stage's default)" if result.options.get("learning_rate") is None else ""),
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
    print_table(console, head)

    if result.layers:
        layers = Table(title="Layers", title_justify="left")
        for col in ("layer", "parameters", "zeros", "sparsity", "distinct values"):
            layers.add_column(col, justify="left" if col == "layer" else "right")
        for row in result.layers:
            layers.add_row(
                safe(row.layer),
                f"{row.parameters:,}",
                f"{row.zeros:,}",
                f"{row.sparsity:.1f}%",
                f"{row.unique:,}",
            )
        print_table(console, layers)

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
    print_table(console, sizes)
    search = result.extra.get("prune_search")
    if search:
        render_prune_search(search, console)
    for note in result.notes:
        console.print(f"[dim]note: {library_text(note)}[/dim]")
    for w in result.warnings:
        console.print(f"[yellow]warning: {library_text(w)}[/yellow]")


def _baseline_text(result: Any) -> str:
    """The label-only student's accuracy and the distilled student's lead over it."""
    base, distilled = result.accuracy.get("baseline"), result.accuracy.get("distilled")
    if base is None:
        return "not trained"
    text = f"{_pct(base)} (the same student trained on the labels alone)"
    if distilled is not None:
        text += f"; distillation {100 * (distilled - base):+.2f} pts"
    return text


def render_prune_search(search: dict[str, Any], console: Console) -> None:
    """Per-layer sensitivity (accuracy with that layer alone pruned), the sparsity chosen for
    each layer, and every target tried against the budget."""
    chosen = next((a for a in search["attempts"] if a["fits"]), None)
    levels = list(search["sensitivity"][0]["curve"]) if search["sensitivity"] else []
    table = Table(
        title=f"Pruning sensitivity (accuracy with one layer pruned, no fine-tuning; float "
        f"{_pct(search['baseline_accuracy'])})",
        title_justify="left",
    )
    for col in ("layer", "parameters", *(f"{float(v):.0%}" for v in levels), "chosen"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for row in search["sensitivity"]:
        sparsity = chosen["layers"].get(row["layer"]) if chosen else None
        table.add_row(
            safe(row["layer"]),
            f"{row['parameters']:,}",
            *(_pct(row["curve"][v]) for v in levels),
            "-" if sparsity is None else f"{sparsity:.0%}",
        )
    print_table(console, table)
    tried = Table(
        title=f"Targets tried (budget {100 * search['budget']:g} pts below the float model, int8)",
        title_justify="left",
    )
    for col in ("target", "planned", "int8 accuracy", "drop (pts)", "within"):
        tried.add_column(col, justify="right")
    for a in search["attempts"]:
        tried.add_row(
            f"{a['target']:.0%}",
            f"{a['planned_sparsity']:.1%}",
            _pct(a["int8_accuracy"]),
            f"{100 * a['drop']:+.2f}",
            "[green]yes[/]" if a["fits"] else "[red]no[/]",
        )
    print_table(console, tried)
    if chosen and chosen["target"] < search["target"]:
        console.print(
            f"[yellow]note:[/] the budget was not met at {search['target']:.0%}; the highest "
            f"target that met it, {chosen['target']:.0%}, was written"
        )
    console.print(f"search time: {search.get('seconds', 0):.1f} s")


def render_emulation(result: Any, console: Console) -> None:
    """Bit-exactness per vector, instructions (measured), latency (estimated), flash and RAM."""
    from edgesdk.firmware.tflm.library import KERNEL_LABELS

    head = _key_value_table(
        f"edgesdk emulate: {safe(Path(result.bundle).name)} on {safe(result.target)} "
        f"({result.core}, qemu {result.machine})"
    )
    for name, value in board_rows(result.board):
        head.add_row(name, value)
    exact = sum(1 for v in result.vectors if v["passed"])
    kernels = KERNEL_LABELS.get(result.kernels, result.kernels)
    dsp = result.dsp_instructions or {}
    head.add_row(
        "kernels",
        f"TFLite Micro, {kernels}; "
        + (
            f"{sum(dsp.values()):,} DSP SIMD instructions in the image ("
            + ", ".join(f"{k} {n:,}" for k, n in list(dsp.items())[:4])
            + ")"
            if dsp
            else "no DSP SIMD instruction in the image"
        ),
    )
    if result.registrations:
        generic = [r["op"] for r in result.registrations if not r["int8_only"]]
        head.add_row(
            "op resolver",
            f"{len(result.registrations) - len(generic)} of {len(result.registrations)} ops "
            "registered int8-only" + (f" (generic: {', '.join(generic)})" if generic else ""),
        )
    head.add_row(
        "outputs vs host TFLite Micro",
        f"{'bit-exact' if result.bit_exact else 'DIFFERENT'}: {exact} of {len(result.vectors)} "
        "test vectors identical",
    )
    if result.instructions:
        low, high = min(result.instructions), max(result.instructions)
        head.add_row(
            "instructions per inference",
            f"{low:,}" + (f" to {high:,}" if high != low else "") + " (measured, qemu plugin)",
        )
    latency = result.estimated_latency_ms
    if latency is not None:
        head.add_row(
            "latency (ESTIMATE)",
            f"{latency:.2f} ms at {result.clock_mhz} MHz x {result.cpi:g} cycles/instruction "
            f"(TFLite Micro, {kernels}; qemu models no timing; factor: "
            f"{safe(result.cpi_source)})",
        )
    for name, value in cycle_rows(result):
        head.add_row(name, value)
    f, r, b = result.flash, result.ram, result.budget
    head.add_row(
        "flash (linked)",
        f"{f['total']:,} B: model {f['model']:,}, TFLite Micro {f['tflm']:,}, "
        f"rest {f['rest']:,} ("
        + ", ".join(f"{name} {size:,}" for name, size in f["rest_detail"][:4])
        + ")",
    )
    head.add_row(
        "RAM (linked)",
        f"{r['total']:,} B: arena {r['arena']:,} (used {r['arena_used']:,}), other statics "
        f"{r['other_static']:,}, heap {r['heap']:,} (used {r['heap_used']:,}), stack "
        f"{r['stack']:,} (used {r['stack_used']:,})",
    )
    fits = "[green]fits[/]" if b["fits"] else "[red]over budget[/]"
    head.add_row(
        "budget",
        f"{fits}: flash {b['flash_used']:,} of {human_bytes(b['flash_budget'])}, RAM "
        f"{b['ram_used']:,} of {human_bytes(b['ram_budget'])}",
    )
    e = result.export_estimate
    if e:
        head.add_row(
            "export-c estimated",
            f"flash {e['flash_used']:,} B, RAM {e['ram_used']:,} B (arena measured on the "
            f"64-bit host {e['arena_measured_host']:,} B)",
        )
    lib = result.library
    head.add_row(
        "TFLite Micro library",
        f"{result.build} build with {kernels} for {lib['core']}, "
        + ("cached" if lib["reused"] else f"built in {lib['build_seconds']:.0f} s")
        + (
            f" (waited {lib['waited_seconds']:.0f} s for another process building it)"
            if lib.get("waited_seconds")
            else ""
        ),
    )
    print_table(console, head)
    render_layers(
        result.layer_instructions,
        "Instructions inside each op's Invoke (vector 0; the rest of the total is the "
        "interpreter's own)",
        console,
    )
    for w in result.warnings:
        console.print(f"[yellow]note:[/] {library_text(w)}")


def render_devices(devices: list[Any], console: Console) -> None:
    """The inventory: one row per device."""
    table = Table(title="Devices", title_justify="left")
    for col in ("name", "host", "port", "user", "python", "workdir", "target"):
        table.add_column(col)
    for d in devices:  # hosts, users and folders may come from an imported inventory
        table.add_row(
            *(safe(v) for v in (d.name, d.host, d.port or "-", d.user or "-", d.python)),
            *(safe(v) for v in (d.workdir, d.target or "-")),
        )
    print_table(console, table)


def render_sweep(result: Any, console: Console) -> None:
    """One row per cell: p50/p90/p99, speed-up against the first cell, memory growth."""
    emulated = f", EMULATED by {result.emulated}" if result.emulated else ""
    table = Table(
        title=f"Sweep on {safe(result.device)} ({safe(result.runtime)} "
        f"{safe(result.runtime_version)}, {safe(result.arch)}{safe(emulated)}; {result.runs} "
        "interleaved runs per cell)",
        title_justify="left",
    )
    for col in ("model", "threads", "XNNPACK", "p50 ms", "p90 ms", "p99 ms", "speed-up", "RSS +KB"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for c in result.cells:
        table.add_row(
            safe(Path(c["model"]).name),
            str(c["threads"]),
            "on" if c["xnnpack"] else "off",
            f"{c['p50_ms']:.3f}",
            f"{c['p90_ms']:.3f}",
            f"{c['p99_ms']:.3f}",
            "-" if c["speedup"] is None else f"{c['speedup']:.2f}x",
            f"{c['rss_growth_kb']:,}",
        )
    print_table(console, table)
    console.print(
        f"speed-up: the first row's p50 over each row's; RSS +KB: how much the runner's peak "
        f"RSS grew when that cell's interpreter was made (peak {result.peak_rss_kb:,} KB)"
    )
    if result.emulated:
        from edgesdk.devices.benchmark import emulation_note

        console.print(f"[yellow]warning: {safe(emulation_note(result.emulated) or '')}[/yellow]")

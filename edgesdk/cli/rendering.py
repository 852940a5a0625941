"""Rendering of result objects for people: rich tables (the library itself never prints)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from edgesdk.cli.common import (  # noqa: F401 - re-exported
    human_bytes,
    human_rate,
    library_text,
    print_table,
    safe,
)
from edgesdk.core.profiles import TargetProfile
from edgesdk.quantization.result import QuantizationResult
from edgesdk.tflite.model_info import ModelInfo


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


# Over 80 lines: one table row per figure of the result, in the order people read them.
def render_quantization(result: QuantizationResult, console: Console) -> None:
    """Sizes, I/O, per-op dtypes and fidelity of a quantization."""
    # paths, tensor and op names come from files (a shared model's names are its author's)
    head = _key_value_table(f"edgesdk quantize → {safe(result.output)}")
    head.add_row("model", safe(result.model))
    head.add_row("target", safe(result.target))
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
    head.add_row("ops", safe(", ".join(f"{k}×{v}" for k, v in result.op_counts.items())))
    head.add_row(
        "calibration",
        f"{result.calibration_samples} samples; {result.held_out_samples} held out for fidelity",
    )
    head.add_row("time", f"{result.seconds:.1f} s")
    print_table(console, head)

    io = Table(title="Inputs and outputs", title_justify="left")
    for col in ("", "name", "dtype", "shape", "scale", "zero point"):
        io.add_column(col)
    for kind, tensors in (("in", result.inputs), ("out", result.outputs)):
        for t in tensors:
            io.add_row(
                kind,
                safe(t.name),
                t.dtype,
                str(list(t.shape)),
                _fmt(t.scale, 6),
                _fmt(t.zero_point),
            )
    print_table(console, io)

    ops = Table(title="Per-op data types", title_justify="left")
    ops.add_column("op", no_wrap=True)
    for col in ("count", "activations", "weights", "outputs", "float compute"):
        ops.add_column(col)
    for r in result.dtype_table:
        ops.add_row(
            safe(r.op),
            str(r.count),
            ",".join(r.activations) or "-",
            ",".join(r.weights) or "-",
            ",".join(r.outputs) or "-",
            "[red]yes[/red]" if r.float_compute else "no",
        )
    print_table(console, ops)

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
                safe(f.name),
                str(f.samples),
                "-" if f.top1_agreement is None else f"{100 * f.top1_agreement:.1f}%",
                f"{f.cosine:.5f}",
                "exact" if f.sqnr_db is None else f"{f.sqnr_db:.1f}",
                _fmt(f.max_abs_error),
                _fmt(f.max_abs_error_lsb, 3),
            )
        print_table(console, fid)
    for note in result.notes:
        console.print(f"[dim]note: {library_text(note)}[/dim]")
    for warning in result.warnings:
        console.print(f"[yellow]warning: {library_text(warning)}[/yellow]")


def render_model_info(
    info: ModelInfo, console: Console, source: str, tensors: bool = False
) -> None:
    """Summary, ops with versions, I/O and (optionally) every tensor of a .tflite."""
    head = _key_value_table(f"edgesdk inspect {safe(source)}")
    head.add_row(
        "size",
        f"{human_bytes(info.size_bytes)} (weights {human_bytes(info.weights_bytes)}, "
        f"graph {human_bytes(info.graph_bytes)})",
    )
    head.add_row("subgraphs", str(len(info.subgraphs)))
    head.add_row("signatures", safe(", ".join(info.signatures)) or "-")
    float_ops = info.float_ops()
    head.add_row("float ops", safe(", ".join(sorted({o.name for o in float_ops}))) or "none")
    if info.layout is not None:
        head.add_row("input layout", safe(info.layout.line()))
    print_table(console, head)
    ops = Table(title="Ops", title_justify="left")
    ops.add_column("op", no_wrap=True)
    for col in ("version", "count", "activations", "weights", "outputs"):
        ops.add_column(col)
    versions = info.op_versions()
    for r in info.dtype_table():
        ops.add_row(
            safe(r.op),
            str(versions[r.op]),
            str(r.count),
            ",".join(r.activations) or "-",
            ",".join(r.weights) or "-",
            ",".join(r.outputs) or "-",
        )
    print_table(console, ops)
    for si, sg in enumerate(info.subgraphs):
        table = Table(
            title=f"Subgraph {si} {safe(sg.name)}".strip()
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
                safe(t.name),
                t.dtype,
                str(list(t.shape)),
                scale,
                zp,
                str(t.data_bytes or "-"),
            )
        print_table(console, table)


def render_targets(profiles: list[TargetProfile], console: Console) -> None:
    table = Table(title="Target profiles", title_justify="left")
    table.add_column("name", no_wrap=True)
    for col in ("kind", "arch", "cpu", "RAM", "flash", "default"):
        table.add_column(col)
    for p in profiles:
        q = p.quantization
        table.add_row(
            safe(p.name),
            p.kind.value,
            safe(p.arch),
            safe(p.cpu),
            human_bytes(p.memory.ram_bytes),
            human_bytes(p.memory.flash_bytes),
            f"{q.mode.value} (I/O {q.io.value})",
        )
    print_table(console, table)


def render_target(profile: TargetProfile, console: Console) -> None:
    table = _key_value_table(f"{safe(profile.name)}: {safe(profile.description)}")

    def add(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if isinstance(value, dict):
                add(f"{prefix}{key}.", value)
            else:
                table.add_row(
                    safe(f"{prefix}{key}"),
                    safe(", ".join(map(str, value)) if isinstance(value, list) else value),
                )

    add("", profile.to_dict())
    m = profile.memory
    table.add_row("RAM budget", human_bytes(m.ram_budget_bytes))
    table.add_row("flash budget", human_bytes(m.flash_budget_bytes))
    print_table(console, table)


def render_export(result: Any, console: Console) -> None:
    """Bundle files, arena, budgets, op support and TFLite Micro parity of an export."""
    head = _key_value_table(f"edgesdk export-c → {safe(result.out_dir)}")
    head.add_row("target", safe(result.target))
    head.add_row("files", safe(", ".join(result.files)))
    head.add_row("model", f"{human_bytes(result.model_bytes)} (sha256 {result.sha256[:16]})")
    if result.arena_measured_target is not None:
        head.add_row(
            "arena",
            f"declared {result.arena_declared} B from the target: {result.arena_measured_target} "
            f"B used on its emulated core + margin (this host measured {result.arena.total} B)",
        )
    else:
        head.add_row(
            "arena",
            f"measured {result.arena.total} B on this host, declared {result.arena_declared} B",
        )
    head.add_row("kernels", f"TFLite Micro, {safe(result.kernels)}")
    iface = getattr(result, "interface", None)
    if iface is not None:
        check = iface.check
        same = (
            f"; outputs equal the original's after dequantization on {check.samples} samples "
            f"({check.equal_values}/{check.values} values, {safe(check.kernels)})"
            if check
            else ""
        )
        head.add_row(f"I/O ({safe(iface.io)})", library_text(iface.note, newlines=False) + same)
    for label, b in (("flash", result.flash), ("RAM", result.ram)):
        pct = "" if b.percent is None else f" ({b.percent:.1f}% of {human_bytes(b.budget)})"
        head.add_row(label, f"{human_bytes(b.used)}{pct}")
    print_table(console, head)
    ops = Table(title="Ops", title_justify="left")
    ops.add_column("op", no_wrap=True)
    for col in ("count", "resolver", "supported"):
        ops.add_column(col)
    for o in result.ops:
        ops.add_row(
            safe(o.op),
            str(o.count),
            safe(o.method or "-"),
            "yes" if o.supported else f"[red]{library_text(o.reason, newlines=False)}[/red]",
        )
    print_table(console, ops)
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
        print_table(console, par)
    else:
        console.print("[yellow]not verified (--no-verify)[/yellow]")
    for w in result.warnings:
        console.print(f"[yellow]warning: {library_text(w)}[/yellow]")


def _pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals."""
    return "—" if value is None else f"{100 * value:.2f}%"


def render_search(search: dict[str, Any], console: Console) -> None:
    """Every candidate the accuracy-budget search tried, and which one won and why."""
    table = Table(
        title=f"Accuracy budget: at most {100 * search['budget']:g} pts below the float model's "
        f"{_pct(search['float_accuracy'])} ({search['eval_samples']} samples)",
        title_justify="left",
    )
    for col in ("candidate", "I/O", "size", "accuracy", "drop", "float ops", "within"):
        table.add_column(col, justify="left" if col in ("candidate", "I/O") else "right")
    for c in search["candidates"]:
        chosen = c["name"] == search.get("chosen")
        name = safe(c["name"]) + (" [bold green]← chosen[/]" if chosen else "")
        if c["float_layers"]:  # cut before escaping: never half an escape
            name += "\n[dim]float: " + safe(", ".join(c["float_layers"])[:200]) + "[/]"
        if c["error"] and c["accuracy"] is None:
            table.add_row(name, "", "", "", "", "", f"[red]{safe(c['error'][:80])}[/]")
            continue
        if c["error"]:
            name += f"\n[red]{safe(c['error'][:120])}[/]"
        table.add_row(
            name,
            c["io"],
            human_bytes(c["size"]),
            _pct(c["accuracy"]),
            f"{100 * c['drop']:+.2f}",
            str(c["float_ops"]),
            "[green]yes[/]" if c["fits"] else "[red]no[/]",
        )
    print_table(console, table)
    if search.get("reason"):
        console.print(f"chosen: {safe(search.get('chosen') or 'none')} — {safe(search['reason'])}")
    for note in search.get("notes", []):
        console.print(f"[dim]note: {library_text(note)}[/dim]")


def render_standalone_export(result: Any, console: Console) -> None:
    """Files, memory plan, constants and host verification of a standalone-engine export."""
    head = _key_value_table(f"edgesdk export-c --engine standalone → {safe(result.out_dir)}")
    head.add_row("target", safe(result.target))
    head.add_row("files", safe(", ".join(result.files)))
    head.add_row("model", f"{human_bytes(result.model_bytes)} (sha256 {result.sha256[:16]})")
    head.add_row(
        "RAM",
        f"{human_bytes(result.arena_bytes)} at peak incl. inputs and outputs (memory plan; "
        f"{human_bytes(result.unshared_bytes)} unshared; {human_bytes(result.model_order_bytes)}"
        f" in the model's op order with every kernel's scratch; {result.orders_tried} op "
        "orders tried); "
        f"+ {human_bytes(result.io_bytes)} of caller buffers with the copying entry",
    )
    head.add_row("constants", f"{human_bytes(result.constant_bytes)} (const section)")
    head.add_row("ops", safe(", ".join(f"{op} x{n}" for op, n in result.ops)))
    head.add_row("MACs", f"{result.macs:,} per inference")
    against = "LiteRT's reference kernels"
    if any(r != "LiteRT BUILTIN_REF" for _, _, r in result.op_references):
        tflm = sorted({op for _, op, r in result.op_references if r != "LiteRT BUILTIN_REF"})
        against = f"TFLite Micro for {', '.join(tflm)}, LiteRT's reference kernels for the rest"
    verified = (
        f"bit-exact with {against} on {result.verified_samples} inputs "
        f"({result.samples_from}), both entries "
        f"({result.verified_with})"
        if result.verified_samples
        else "not verified"
    )
    head.add_row("verified", safe(verified))
    if result.integer_only:
        head.add_row("integer only", "yes: no float or double in the C")
    head.add_row("generated in", f"{result.generation_seconds:.3f} s")
    print_table(console, head)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {library_text(w)}")


def board_rows(board: dict[str, Any]) -> list[tuple[str, str]]:
    """The "board" and "memory map" rows of an emulation result (``result.board``)."""
    code = board["code_arch"]
    text = f"{board['machine']}: {board['description']}, {board['arch']}"
    if board["arch"] != code:
        text += f", running {code} code"
    chosen = "asked for" if board["chosen_by"] == "request" else "the target profile's"
    text += f" ({chosen})"
    isa = board.get("isa_check")
    if isa:
        text += (
            f"; checked: {isa['outside_arch']:,} of {isa['instructions']:,} instructions "
            f"outside {isa['arch']}"
        )
    m = board["memory_map"]

    def region(name: str, r: dict[str, Any]) -> str:
        if r["limited_by"] == "target":
            whose = "the target's size"
        elif r.get("target_bytes"):
            whose = f"{board['machine']}'s; the target has {r['target_bytes']:,} B"
        else:
            whose = f"{board['machine']}'s"
        return f"{name} {r['origin']} + {r['bytes']:,} B ({whose})"

    memory = (
        f"{region('flash', m['flash'])}, {region('RAM', m['ram'])}; stack "
        f"{m['stack_bytes']:,} B, heap {m['heap_bytes']:,} B"
    )
    return [("board", safe(text)), ("memory map", safe(memory))]


def render_layers(rows: tuple[tuple[int, str, int], ...], title: str, console: Console) -> None:
    """Per-layer instruction counts (either engine): op, kind, instructions, share."""
    if not rows:
        return
    layers = Table(title=title, title_justify="left")
    for col in ("op", "kind", "instructions", "share"):
        layers.add_column(col)
    total = sum(n for _, _, n in rows) or 1
    for idx, kind, n in rows:
        layers.add_row(str(idx), safe(kind), f"{n:,}", f"{100 * n / total:.1f}%")
    print_table(console, layers)


def cycle_rows(result: Any) -> list[tuple[str, str]]:
    """Rows for an emulate result's instruction classes (measured) and the cycle ESTIMATE from
    the core's TRM table over them (with its source), beside the flat-CPI estimate."""
    if not result.instruction_classes:
        return []
    from edgesdk.firmware.cycles import CLASSES

    slowest = max(result.instruction_classes, key=lambda c: sum(c[k] for k in CLASSES))
    total = sum(slowest[k] for k in CLASSES) or 1
    parts = [f"{k} {slowest[k]:,} ({100 * slowest[k] / total:.0f}%)" for k in CLASSES if slowest[k]]
    rows = [
        (
            "instruction classes",
            "; ".join(parts) + f"; LDM/STM registers {slowest['ldm_regs'] + slowest['stm_regs']:,}"
            f"; branches taken {slowest['branches_taken']:,} (measured, slowest inference)",
        )
    ]
    est = result.cycles_estimate
    if est:
        worst = max(est["per_inference"], key=lambda c: c["cycles"])
        latency = result.estimated_latency_ms_trm
        at = f" = ~{latency:.2f} ms at {result.clock_mhz} MHz" if latency is not None else ""
        rows.append((
            "cycles (ESTIMATE)",
            f"~{worst['cycles']:,} ({worst['low']:,} to {worst['high']:,}){at}; "
            f"{safe(est['table'])} cycle table x the classes above, zero wait states, no "
            f"stalls (low to high: the table's ranges); source: {safe(est['source'])}",
        ))  # fmt: skip
    return rows


def render_standalone_emulation(result: Any, console: Console) -> None:
    """Bit-exactness, flash/RAM and instructions (total and per layer) of standalone firmware."""
    head = _key_value_table(
        f"edgesdk emulate (standalone engine) → {result.core} on {result.machine}"
    )
    head.add_row("target", safe(result.target))
    for name, value in board_rows(result.board):
        head.add_row(name, value)
    head.add_row(
        "bit-exact",
        f"{'yes' if result.bit_exact else 'NO'} (vs LiteRT's reference kernels, "
        f"{len(result.vectors)} vectors)",
    )
    if result.instructions:
        head.add_row("instructions", f"{max(result.instructions):,} per inference (measured)")
    if result.estimated_latency_ms is not None:
        head.add_row(
            "latency",
            f"~{result.estimated_latency_ms:.2f} ms at {result.clock_mhz} MHz (ESTIMATE: "
            f"instructions x CPI {result.cpi})",
        )
    for name, value in cycle_rows(result):
        head.add_row(name, value)
    f, r = result.flash, result.ram
    head.add_row("flash", f"{f['total']:,} B ({f['constants']:,} B model constants)")
    head.add_row(
        "RAM",
        f"{r['static']:,} B static (the model's buffer {r['arena']:,} B, inputs and outputs "
        f"included) + stack "
        f"{r['stack_used']:,} B used + heap {r['heap_used']:,} B used (test driver's stdio)",
    )
    print_table(console, head)
    render_layers(result.layer_instructions, "Instructions per layer (vector 0)", console)
    for w in result.warnings:
        console.print(f"[yellow]note:[/] {safe(w, newlines=True)}")

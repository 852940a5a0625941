"""Report sections: one function per kind of saved result, each appending its sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesdk.firmware.engines import Engine
from edgesdk.reporting.collect import Collected
from edgesdk.reporting.gates import gate_history, gate_table
from edgesdk.reporting.plots import (
    _accuracy_points,
    _latency_series,
    _plot_accuracy_vs_size,
    _plot_emulation,
    _plot_latency,
    _plot_layer_error,
    _plot_sensitivity,
    _plot_sweep,
)


@dataclass
class Section:
    """A titled block: paragraphs, tables (header + rows) and plots (file name, caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    plots: list[tuple[str, str]] = field(default_factory=list)


def _kib(n: int | None) -> str:
    return "—" if n is None else f"{n / 1024:.1f} KiB"


def _pct(v: float | None) -> str:
    """A fraction as a percentage with two decimals."""
    return "—" if v is None else f"{100 * v:.2f}%"


def _quantization(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Quantize results, and one section per accuracy-budget search."""
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
                f"Budget {100 * search['budget']:g} pts below the float model's "
                f"{_pct(search['float_accuracy'])} on {search['eval_samples']} samples. "
                f"Chosen: {search.get('chosen')}; {search.get('reason')}."
            )
            b.tables.append((
                ["candidate", "I/O", "size", "accuracy", "drop (pts)", "float ops", "within"],
                [[c["name"] + (f" (float: {', '.join(c['float_layers'])})" if c["float_layers"] else ""),
                  c["io"] or "—", _kib(c["size"]), _pct(c["accuracy"]),
                  "—" if c["drop"] is None else f"{100 * c['drop']:+.2f}", str(c["float_ops"]),
                  "yes" if c["fits"] else ("no: " + c["error"] if c["error"] else "no")]
                 for c in search["candidates"]],
            ))  # fmt: skip
            b.paragraphs.extend(search.get("notes", []))
            if search.get("layers"):
                plot = f"layer_error_{len(plots)}.png"
                plots[plot] = _plot_layer_error(search["layers"], f"Per-layer int8 error: {name}")
                b.plots.append((plot, "Per-layer quantization error (QuantizationDebugger)"))
            out.append(b)


def _compression(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """One section per compress result: sizes, accuracy, per-layer table."""
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
        _distillation(r, s)
        if r.get("layers"):
            s.tables.append((
                ["layer", "parameters", "zeros", "sparsity", "distinct values"],
                [[x["layer"], f"{x['parameters']:,}", f"{x['zeros']:,}", f"{x['sparsity']:.1f}%",
                  f"{x['unique']:,}"] for x in r["layers"]],
            ))  # fmt: skip
        search = (r.get("extra") or {}).get("prune_search")
        if search:
            chosen = next((a for a in search["attempts"] if a["fits"]), None)
            s.paragraphs.append(
                f"Pruning within a budget of {100 * search['budget']:g} pts: targets tried "
                + ", ".join(
                    f"{a['target']:.0%} (int8 {100 * a['int8_accuracy']:.2f}%, "
                    f"{'within' if a['fits'] else 'over'})"
                    for a in search["attempts"]
                )
                + f"; search took {search.get('seconds', 0):.1f} s."
            )
            s.tables.append((
                ["layer", "parameters", *(f"{float(k):.0%}" for k in search["sensitivity"][0]["curve"]), "chosen"],
                [[row["layer"], f"{row['parameters']:,}", *(_pct(v) for v in row["curve"].values()),
                  f"{chosen['layers'].get(row['layer'], 0):.0%}" if chosen else "-"]
                 for row in search["sensitivity"]],
            ))  # fmt: skip
            plot = f"sensitivity_{len(plots)}.png"
            plots[plot] = _plot_sensitivity(
                search, f"Pruning sensitivity: {Path(r['output']).name}"
            )
            s.plots.append((plot, "Accuracy with each layer alone pruned, and the chosen sparsity"))
        out.append(s)


def _distillation(r: dict, s: Section) -> None:
    """The distilled student beside the teacher and the label-only baseline; learning rates;
    warnings (results saved before these existed have none of them)."""
    acc = r["accuracy"]
    if "distilled" in acc:
        s.tables.append((
            ["student", "validation accuracy"],
            [["teacher", _pct(acc.get("teacher"))],
             ["distilled student", _pct(acc.get("distilled"))],
             ["same student trained on the labels alone (baseline)",
              _pct(acc.get("baseline")) if acc.get("baseline") is not None else "not trained"]],
        ))  # fmt: skip
    rates = r.get("learning_rates")
    if rates:
        auto = " (each stage's default)" if r["options"].get("learning_rate") is None else ""
        s.paragraphs.append(
            "Learning rates (Adam): "
            + ", ".join(f"{stage} {rate:g}" for stage, rate in rates.items())
            + f"{auto}."
        )
    s.paragraphs.extend(f"Warning: {w}" for w in r.get("warnings", []))


def _accuracy_vs_size(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """The accuracy-vs-size plot across every variant."""
    points = _accuracy_points(found)
    if points:
        plots["accuracy_vs_size.png"] = _plot_accuracy_vs_size(points)
        s = Section("Accuracy vs size")
        s.plots.append(("accuracy_vs_size.png", "Accuracy vs size across variants"))
        out.append(s)


def _evaluations(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """One section per evaluate result: accuracy and fidelity per runtime."""
    for _rel, r in found.items["evaluate"]:
        s = Section(f"Evaluation on {Path(r['data']).name} ({r['samples']} samples)")
        s.tables.append((
            ["model", "runtime", "top-1", "top-5", "top-1 agreement", "SQNR dB", "LSB vs ref"],
            [[Path(x["model"]).name, x["runtime"], _pct(x["top1"]),
              _pct(x["top5"]),
              f"{x['fidelity'][0]['top1_agreement'] * 100:.1f}%" if x["fidelity"] else "—",
              f"{x['fidelity'][0]['sqnr_db']:.1f}" if x["fidelity"] and x["fidelity"][0].get("sqnr_db") is not None else "—",
              "—" if x["max_lsb_vs_reference"] is None else str(x["max_lsb_vs_reference"])]
             for x in r["runs"]],
        ))  # fmt: skip
        out.append(s)


def _latency(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Latency per device (benchmarks and group benchmarks) with its plot."""
    series = _latency_series(found)
    if series:
        plots["latency.png"] = _plot_latency(series)
        s = Section("Latency")
        rows = []
        fleets = [r for _rel, r in found.items["fleet"] if r.get("action") == "benchmark"]
        emulated = sorted(
            {r["emulated"] for _rel, r in found.items["benchmark"] if r.get("emulated")}
            | {d["emulated"] for r in fleets for d in r.get("devices", []) if d.get("emulated")}
        )
        for _rel, r in found.items["benchmark"]:
            device = f"{r['device']} (EMULATED)" if r.get("emulated") else r["device"]
            rows.append([device, Path(r["model"]).name, r.get("runtime", "—"),
                         f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}", f"{r['p99_ms']:.3f}", str(r["n"])])  # fmt: skip
        for _rel, r in found.items["fleet"]:
            for d in r.get("devices", []) if r.get("action") == "benchmark" else []:
                if d.get("ok"):
                    device = f"{d['device']} (EMULATED)" if d.get("emulated") else d["device"]
                    rows.append([device, "(group)", d.get("runtime") or "—",
                                 f"{d['p50_ms']:.3f}", f"{d.get('p90_ms') or 0:.3f}",
                                 f"{d['p99_ms']:.3f}", str(d.get("n"))])  # fmt: skip
        if emulated:
            s.paragraphs.append(
                f"EMULATED devices ({', '.join(emulated)}): their latencies are the emulator's, "
                "not a real device's."
            )
        s.tables.append((["device", "model", "runtime", "p50 ms", "p90 ms", "p99 ms", "n"], rows))
        s.plots.append(("latency.png", "Latency distribution per device"))
        out.append(s)


def _exports(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """One section per C bundle."""
    for _rel, r in found.items["export-c"]:
        s = Section(f"C export: {r['name']} for {r['target']}")
        engine = r.get("engine") or Engine.TFLM.value  # bundles that name none are TFLM's
        if engine not in (Engine.TFLM.value, Engine.STANDALONE.value):
            s.paragraphs.append(f"Engine {engine}; files: {', '.join(map(str, r['files']))}.")
            out.append(s)
            continue
        if engine == Engine.STANDALONE.value:
            s.paragraphs.append(
                f"Standalone C engine (no interpreter): {r['model_bytes']:,} bytes of model, "
                f"{r['constant_bytes']:,} bytes of constants, activations "
                f"{r['ram']['arena_peak']:,} bytes at peak; files: {', '.join(r['files'])}."
            )
            out.append(s)
            continue
        s.paragraphs.append(
            f"{r['model_bytes']:,} bytes of model, tensor arena declared "
            f"{r['arena_declared']:,} bytes; files: {', '.join(r['files'])}."
        )
        out.append(s)


def _manifests(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Where every artifact came from: hashes and versions."""
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


def _board_cell(r: dict[str, Any]) -> str:
    """``cortex-m0plus (mps2-an385, Cortex-M3: armv7-m running armv6-m code, checked)``."""
    board = r.get("board")
    if not board:  # a result saved before boards were reported
        return f"{r['core']} ({r['machine']})"
    text = f"{r['core']} ({board['machine']}, {board['description']}"
    if board["arch"] != board["code_arch"]:
        isa = board.get("isa_check") or {}
        text += (
            f": {board['arch']} running {board['code_arch']} code, "
            f"{isa.get('outside_arch', '?')} of {isa.get('instructions', 0):,} instructions "
            f"outside {board['code_arch']}"
        )
    return text + ")"


def _memory_map_cell(r: dict[str, Any]) -> str:
    """``flash 0x00000000 + 2,097,152 B, RAM 0x20000000 + 270,336 B`` (what the firmware
    was linked for), marked where the board has less than the target."""
    m = (r.get("board") or {}).get("memory_map")
    if not m:
        return "—"

    def region(name: str, x: dict[str, Any]) -> str:
        less = " (board's: less than the target's)" if x["limited_by"] == "board" and (
            x.get("target_bytes") or 0) > x["bytes"] else ""  # fmt: skip
        return f"{name} {x['origin']} + {x['bytes']:,} B{less}"

    return f"{region('flash', m['flash'])}, {region('RAM', m['ram'])}"


def _kernels_cell(r: dict[str, Any]) -> str:
    """Which code produced an emulation's figures."""
    engine = r.get("engine") or Engine.TFLM.value
    if engine != Engine.TFLM.value:
        return f"{engine} engine"
    # emulate results from before kernel sets were recorded ran the reference kernels
    kernels = r.get("kernels") or "reference"
    return "TFLite Micro, " + ("CMSIS-NN" if kernels == "cmsis-nn" else f"{kernels} kernels")


def _trm_cycles_cell(r: dict[str, Any]) -> str:
    """The slowest inference's cycles estimated from the core's TRM table (low to high), or a
    dash (a core without a published table, or a result from before classes were counted)."""
    est = r.get("cycles_estimate")
    if not est or not est.get("per_inference"):
        return "—"
    worst = max(est["per_inference"], key=lambda c: c["cycles"])
    return f"~{worst['cycles']:,} ({worst['low']:,}–{worst['high']:,}), {est['table']}"


def _emulations(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Firmware on emulated cores: bit-exactness, instructions, estimated latency, memory."""
    rows = [r for _rel, r in found.items["emulate"]]
    if not rows:
        return
    plots["emulation.png"] = _plot_emulation(rows)
    s = Section("Firmware on emulated cores")
    s.paragraphs.append(
        "Instructions are counted by qemu (a measurement); latencies are estimates: "
        "instructions x cycles per instruction / clock, for the engine and kernels of each row; "
        "beside it, cycles estimated from the core's Technical Reference Manual cycle table "
        "over the measured instruction classes (zero wait states, no stalls: an ESTIMATE too; "
        "its source is in each result's cycles_estimate)."
    )
    s.tables.append((
        ["bundle", "target", "engine and kernels", "core (qemu board)", "emulated memory map",
         "bit-exact", "instructions", "est. latency ms", "est. cycles (TRM table)",
         "est. latency ms (TRM table)", "flash B", "RAM B", "arena used B", "fits"],
        [[Path(r["bundle"]).name, r["target"], _kernels_cell(r), _board_cell(r),
          _memory_map_cell(r),
          "yes" if r["bit_exact"] else "NO", f"{max(r['instructions']):,}",
          "—" if r.get("estimated_latency_ms") is None else f"{r['estimated_latency_ms']:.1f}",
          _trm_cycles_cell(r),
          "—" if r.get("estimated_latency_ms_trm") is None
          else f"{r['estimated_latency_ms_trm']:.1f}",
          f"{r['flash']['total']:,}", f"{r['ram']['total']:,}", f"{r['ram']['arena_used']:,}",
          "yes" if r["budget"]["fits"] else "no"] for r in rows],
    ))  # fmt: skip
    s.plots.append(("emulation.png", "Instructions per inference and linked memory per target"))
    out.append(s)


def _layers(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Instructions per layer, engines side by side: one table per target and model (results
    whose layers are the same ops in the same order), a column per engine and kernel set."""
    groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
    for _rel, r in found.items["emulate"]:
        layers = r.get("layer_instructions") or []
        if layers:
            ops = tuple(f"{layer['op_index']}:{layer['op']}" for layer in layers)
            groups.setdefault((r["target"], tuple(sorted(ops))), []).append(r)
    for (target, _ops), rows in groups.items():
        s = Section(f"Instructions per layer on {target}")
        s.paragraphs.append(
            "Measured by qemu for test vector 0. TFLite Micro's figures count the instructions "
            "inside each op's Invoke (its interpreter adds its own between ops); the standalone "
            "engine's count each layer's code."
        )
        by_op = [{(x["op_index"], x["op"]): x["instructions"] for x in r["layer_instructions"]}
                 for r in rows]  # fmt: skip
        keys = sorted({k for counts in by_op for k in counts})
        s.tables.append((
            ["op", "kind", *(f"{_kernels_cell(r)} ({Path(r['bundle']).name})" for r in rows)],
            [[str(i), op, *(f"{c[(i, op)]:,}" if (i, op) in c else "—" for c in by_op)]
             for i, op in keys],
        ))  # fmt: skip
        out.append(s)


def _sweeps(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Benchmark sweeps: one table and one plot each."""
    for rel, r in found.items["sweep"]:
        emulated = f", EMULATED by {r['emulated']}" if r.get("emulated") else ""
        s = Section(
            f"Sweep on {r['device']} ({r['runtime']} {r['runtime_version']}, {r['arch']}{emulated})"
        )
        if r.get("emulated"):
            s.paragraphs.append(
                "The latencies are the emulator's, not a real device's; the ratios between cells "
                "are the emulator's too."
            )
        s.tables.append((
            ["model", "threads", "XNNPACK", "p50 ms", "p90 ms", "p99 ms", "speed-up"],
            [[Path(c["model"]).name, str(c["threads"]), "on" if c["xnnpack"] else "off",
              f"{c['p50_ms']:.3f}", f"{c['p90_ms']:.3f}", f"{c['p99_ms']:.3f}",
              "—" if c["speedup"] is None else f"{c['speedup']:.2f}x"] for c in r["cells"]],
        ))  # fmt: skip
        plot = f"sweep_{len(plots)}.png"
        plots[plot] = _plot_sweep(r)
        s.plots.append((plot, f"Latency per cell ({rel})"))
        out.append(s)


def _gates(found: Collected, plots: dict[str, bytes], out: list[Section]) -> None:
    """Pipeline runs: the latest gate table, then each gate across the runs kept."""
    latest = gate_table(found)
    if latest is None:
        return
    out.append(Section("Gates", [latest[0]], [latest[1]]))
    history = gate_history(found, plots)
    if history is not None:
        text, table, made = history
        out.append(Section("Gate history", [text], [table], made))


_BUILDERS = (
    _gates,
    _quantization,
    _compression,
    _accuracy_vs_size,
    _evaluations,
    _latency,
    _exports,
    _emulations,
    _layers,
    _sweeps,
    _manifests,
)


def sections(found: Collected, plots: dict[str, bytes]) -> list[Section]:
    """Every section of the report, in order; plots are added to ``plots`` by file name."""
    out: list[Section] = []
    for build in _BUILDERS:
        build(found, plots, out)
    return out

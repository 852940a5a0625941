"""Terminal rendering of mobile results: packages, Core ML exports, metadata, GPU placement."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from edgesdk.cli.common import human_bytes, library_text, print_table, safe


def _kv(title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value")
    return table


def render_metadata(meta: dict[str, Any] | None, console: Console) -> None:
    if meta is None:
        console.print(
            "metadata: none (MediaPipe Tasks and the Task Library need it: edgesdk package)"
        )
        return
    table = _kv("Metadata")
    norm = meta.get("normalization")
    for key, value in (
        ("name", meta["name"]),
        ("version", meta["version"]),
        ("author", meta["author"] or "-"),
        ("input", f"{meta['input_kind']} {meta['color_space']}".strip()),
        ("normalization", f"(x - {norm['mean']}) / {norm['std']}" if norm else "none"),
        ("output", meta["output"]),
        (
            "labels",
            f"{meta['labels_count']} in {meta['labels_file']}" if meta["labels_file"] else "none",
        ),
        ("packed files", ", ".join(meta["packed_files"]) or "none"),
    ):
        table.add_row(key, safe(value))  # the model file's own metadata: shown as text
    print_table(console, table)


def render_gpu(gpu: dict[str, Any] | None, console: Console) -> None:
    if gpu is None:
        return
    table = Table(title="GPU delegate (static check, no GPU used)", title_justify="left")
    for col in ("#", "op", "runs on", "why not GPU"):
        table.add_column(col)
    for op in gpu["ops"]:
        table.add_row(
            str(op["index"]),
            safe(op["op"]),
            "GPU" if op["gpu"] else "CPU",
            library_text(op["reason"] or "", newlines=False),
        )
    print_table(console, table)
    console.print(
        f"{gpu['gpu_ops']} of {gpu['gpu_ops'] + gpu['cpu_ops']} ops on the GPU in "
        f"{gpu['partitions']} partition(s); with the default max_delegated_partitions="
        f"{gpu['max_delegated_partitions']}, {gpu['delegated_ops_default']} ops are delegated",
        soft_wrap=True,
    )


def render_package(result: Any, console: Console) -> None:
    render_package_dict(result.to_dict(), console)


def render_package_dict(d: dict[str, Any], console: Console) -> None:
    table = _kv(f"Packaged {safe(d['output'])} for {safe(d['target'])}")
    inp = d["input"]
    table.add_row("size", human_bytes(d["size_bytes"]))
    table.add_row("input", safe(f"{inp['name']} {inp['shape']} {inp['dtype']}"))
    table.add_row(
        "normalization", f"(x - {d['normalization']['mean']}) / {d['normalization']['std']}"
    )
    table.add_row("output", f"{d['classes']} classes, {d['output_dtype']}, {d['score_type']}")
    table.add_row("labels", str(d["labels_count"]))
    if d["requantized_io"]:
        table.add_row("requantized", d["requantized_io"])
    for path in d["snippets"]:
        table.add_row("snippet", safe(path))
    for note in d["notes"]:
        table.add_row("note", library_text(note))
    print_table(console, table)
    render_gpu(d["gpu"], console)


def render_coreml(result: Any, console: Console) -> None:
    d = result.to_dict()
    table = _kv(f"Core ML {safe(d['output'])} ({safe(d['target'])})")
    table.add_row("format", f"ML Program, spec v{d['spec_version']}, {d['deployment_target']}+")
    table.add_row("precision", d["precision"])
    inp = d["input"]
    table.add_row(
        "input",
        safe(
            f"{inp['name']} {inp.get('width')}x{inp.get('height')} {inp.get('color', inp['type'])}"
        ),
    )
    table.add_row("outputs", safe(", ".join(d["outputs"])))
    table.add_row("ops", safe(", ".join(f"{k} {v}" for k, v in d["op_counts"].items())))
    table.add_row("weights", safe(", ".join(f"{k}: {v}" for k, v in d["weights"].items())))
    for note in d["notes"]:
        table.add_row("note", library_text(note))
    print_table(console, table)

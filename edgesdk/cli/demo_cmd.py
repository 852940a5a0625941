"""`edgesdk demo`: the main job on a built-in default (digits CNN → int8 for an MCU)."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json, safe


@handle_errors
def demo(
    out: Annotated[str, typer.Option("--out", help="Folder for the artifacts.")] = "edgesdk-demo",
    target: Annotated[
        str, typer.Option("--target", "-t", help="Target profile.")
    ] = "arduino-nano-33-ble",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 30,
    framework: Annotated[
        str,
        typer.Option(help="Train the CNN with keras or torch (needs edgesdk[torch])."),
    ] = "keras",
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train a small CNN on scikit-learn's digits, quantize it to int8 and compare accuracy."""
    from edgesdk.api import demo as run_demo

    if json_out:
        print_json(run_demo(out, target=target, epochs=epochs, framework=framework).to_dict())
        return
    with console.status("Training a digits CNN and quantizing it to int8 ..."):
        result = run_demo(out, target=target, epochs=epochs, framework=framework)
    from edgesdk.cli.rendering import render_export, render_quantization

    render_quantization(result.quantization, console)
    render_export(result.export, console)
    console.print(
        f"[bold]Accuracy on {result.test_samples} held-out digits:[/bold] "
        f"float {100 * result.float_accuracy:.2f}%  →  int8 {100 * result.int8_accuracy:.2f}% "
        f"({100 * (result.int8_accuracy - result.float_accuracy):+.2f} pt)"
    )
    from pathlib import Path

    base = Path(result.out_dir).resolve()
    names = [
        str(Path(p).resolve().relative_to(base)) if Path(p).resolve().is_relative_to(base) else p
        for p in result.artifacts
    ]
    console.print(f"Artifacts in {safe(result.out_dir)}: " + safe(", ".join(names)))

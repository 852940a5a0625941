"""`edgesdk export-coreml MODEL.keras -o M.mlpackage --target ios-coreml`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json, safe


@handle_errors
def export_coreml(
    model: Annotated[str, typer.Argument(help="A Keras image classifier (.keras or .h5).")],
    output: Annotated[str, typer.Option("--output", "-o", help="The .mlpackage to write.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="A Core ML profile.")
    ] = "ios-coreml",
    labels: Annotated[
        str | None, typer.Option(help="Class names, one per line: makes a Core ML classifier.")
    ] = None,
    mean: Annotated[float, typer.Option(help="Image input: (pixel - mean) / std.")] = 0.0,
    std: Annotated[float, typer.Option(help="Image input: (pixel - mean) / std.")] = 255.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Convert to a Core ML ML Program for iOS (image input, float16) and validate its spec;
    Core ML cannot run on Linux, so numerical checks need macOS."""
    from edgesdk import api

    with console.status(f"Converting {safe(model)} to Core ML ..."):
        result = api.export_coreml(model, output, target=target, labels=labels, mean=mean, std=std)
    if json_out:
        print_json(result.to_dict())
        return
    from edgesdk.cli.render_mobile import render_coreml

    render_coreml(result, console)

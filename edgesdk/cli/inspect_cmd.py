"""`edgesdk inspect MODEL.tflite`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json


@handle_errors
def inspect(
    model: Annotated[str, typer.Argument(help="A .tflite file.")],
    tensors: Annotated[bool, typer.Option("--tensors", help="List every tensor.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (with every tensor).")
    ] = False,
) -> None:
    """Show the subgraphs, ops (with versions), tensors and quantization of a .tflite file."""
    from edgesdk import api
    from edgesdk.cli.rendering import render_model_info

    info = api.inspect(model)
    if json_out:
        print_json(info.to_dict(tensors=True))
    else:
        render_model_info(info, console, model, tensors=tensors)

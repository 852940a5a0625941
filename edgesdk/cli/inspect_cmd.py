"""`edgesdk inspect MODEL.tflite`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json


@handle_errors
def inspect(
    model: Annotated[str, typer.Argument(help="A .tflite file.")],
    tensors: Annotated[bool, typer.Option("--tensors", help="List every tensor.")] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", "-t", help="With a GPU profile (android-gpu): where each op runs."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (with every tensor).")
    ] = False,
) -> None:
    """Show the subgraphs, ops (with versions), tensors and quantization of a .tflite file,
    and its mobile metadata (labels, normalization) when it has some."""
    from edgesdk import api
    from edgesdk.cli.rendering import render_model_info

    info = api.inspect(model)
    mobile = api.inspect_mobile(model, target)
    if json_out:
        print_json({**info.to_dict(tensors=True), **mobile.to_dict()})
        return
    render_model_info(info, console, model, tensors=tensors)
    from edgesdk.cli.render_mobile import render_gpu, render_metadata

    data = mobile.to_dict()
    if data["metadata"] is not None or target is not None:
        render_metadata(data["metadata"], console)
    render_gpu(data["gpu"], console)

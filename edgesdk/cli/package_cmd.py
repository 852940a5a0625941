"""`edgesdk package MODEL.tflite --labels labels.txt --mean M --std S -o OUT.tflite`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, parse_floats, print_json


@handle_errors
def package(
    model: Annotated[str, typer.Argument(help="A .tflite image classifier.")],
    output: Annotated[str, typer.Option("--output", "-o", help="The packaged .tflite to write.")],
    labels: Annotated[str, typer.Option(help="Class names, one per line, in output order.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="android-arm64, android-gpu or ios-arm64.")
    ] = "android-arm64",
    mean: Annotated[
        str | None, typer.Option(help="Input normalization (pixel - mean) / std, e.g. 0 or 127.5.")
    ] = None,
    std: Annotated[
        str | None, typer.Option(help="Input normalization (pixel - mean) / std, e.g. 255.")
    ] = None,
    requantize_io: Annotated[
        bool,
        typer.Option(
            "--requantize-io",
            help="Give int8 I/O uint8 I/O, or set a uint8 input's scale to match --mean/--std.",
        ),
    ] = False,
    name: Annotated[str | None, typer.Option(help="Model name in the metadata.")] = None,
    description: Annotated[str, typer.Option(help="Description in the metadata.")] = "",
    version: Annotated[str, typer.Option("--model-version", help="Model version.")] = "1",
    author: Annotated[str, typer.Option(help="Author in the metadata.")] = "",
    license_: Annotated[str, typer.Option("--license", help="License in the metadata.")] = "",
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add the metadata MediaPipe Tasks and the TFLite Task Library need (labels packed inside,
    normalization, name, version), check the input rules, and write app snippets beside it."""
    from edgesdk import api

    result = api.package(
        model,
        output,
        labels,
        target=target,
        mean=parse_floats(mean, "--mean"),
        std=parse_floats(std, "--std"),
        requantize_io=requantize_io,
        name=name,
        description=description,
        version=version,
        author=author,
        license=license_,
    )
    if json_out:
        print_json(result.to_dict())
        return
    from edgesdk.cli.render_mobile import render_package

    render_package(result, console)

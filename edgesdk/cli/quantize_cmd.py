"""`edgesdk quantize MODEL --target NAME --data SPEC -o OUT.tflite`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import (
    console,
    err_console,
    handle_errors,
    parse_floats,
    print_json,
    safe,
)
from edgesdk.core.options import IoType, QuantMode
from edgesdk.errors import EdgeSdkError


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(d) for d in text.replace("x", ",").split(","))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a shape (expected whole numbers, e.g. 1,28,28)",
            param_hint="--input-shape",
        ) from None


# Over 80 lines: one typer parameter per CLI option; the body is a few lines.
@handle_errors
def quantize(
    model: Annotated[
        str,
        typer.Argument(
            help="A .keras file, a legacy .h5 file or a SavedModel folder; PyTorch: a .pt2 "
            "file (torch.export.save) or module:function / file.py:function returning an "
            "nn.Module."
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="The .tflite file to write.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Target profile name or .toml path.")
    ] = "linux-x86_64",
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="Representative data: image folder, .npy/.npz, or module:function."
        ),
    ] = None,
    mode: Annotated[
        QuantMode | None, typer.Option(help="Quantization mode (default: the target's).")
    ] = None,
    io: Annotated[
        IoType | None, typer.Option(help="Input/output type (default: the target's).")
    ] = None,
    per_channel: Annotated[
        bool | None,
        typer.Option(
            "--per-channel/--per-tensor",
            help="Weight quantization granularity (default: the target's).",
        ),
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Calibration samples.")] = 200,
    eval_samples: Annotated[
        int, typer.Option(min=1, help="Held-out samples for fidelity, at most.")
    ] = 200,
    strict: Annotated[
        bool | None,
        typer.Option(
            "--strict/--no-strict",
            help="Fail on float ops left in the graph (default: on for MCU targets).",
        ),
    ] = None,
    scale: Annotated[float, typer.Option(help="Image normalization: x * scale + offset.")] = 1.0
    / 255.0,
    offset: Annotated[float, typer.Option(help="Image normalization: x * scale + offset.")] = 0.0,
    mean: Annotated[
        str | None,
        typer.Option(help="Image normalization (x - mean) / std, e.g. 127.5 or 123,117,104."),
    ] = None,
    std: Annotated[
        str | None,
        typer.Option(help="Image normalization (x - mean) / std, e.g. 127.5 or 58,57,57."),
    ] = None,
    normalize_arrays: Annotated[
        bool,
        typer.Option(
            "--normalize-arrays", help="Apply the normalization to .npy/.npz/callable data too."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the calibration / held-out split.")] = 0,
    emit_c: Annotated[
        str | None,
        typer.Option(
            "--emit-c", help="Also write the firmware C bundle (as export-c) into this folder."
        ),
    ] = None,
    max_accuracy_drop: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=100.0,
            help="Search for the smallest variant within this many top-1 points of the float "
            "model (needs --eval-data).",
        ),
    ] = None,
    eval_data: Annotated[
        str | None,
        typer.Option(help="Labelled data (.npz x/y or class folders) for --max-accuracy-drop."),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Mobile targets: package the result with these labels (metadata for MediaPipe "
            "/ Task Library, normalization from --mean/--std or --scale/--offset)."
        ),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            help="PyTorch function models: one sample's shape, e.g. 1,28,28 (NCHW; default: "
            "read from .npy/.npz data)."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Quantize a float model for a target; check every op; measure fidelity on held-out data."""
    from edgesdk import api
    from edgesdk.core.options import Normalization, QuantizeOptions

    options = QuantizeOptions(
        mode=mode,
        io=io,
        per_channel=per_channel,
        samples=samples,
        eval_samples=eval_samples,
        strict=strict,
        seed=seed,
        normalization=Normalization(
            scale=scale,
            offset=offset,
            mean=parse_floats(mean, "--mean"),
            std=parse_floats(std, "--std"),
        ),
        normalize_arrays=normalize_arrays,
        input_shape=_shape(input_shape),
    )
    if (max_accuracy_drop is None) != (eval_data is None):
        raise typer.BadParameter(
            "give --max-accuracy-drop and --eval-data together", param_hint="--eval-data"
        )
    with console.status(f"Quantizing {safe(model)} for {safe(target)} ..."):
        try:
            result = api.quantize(
                model,
                data,
                output,
                target=target,
                options=options,
                max_accuracy_drop=None if max_accuracy_drop is None else max_accuracy_drop / 100,
                eval_data=eval_data,
                emit_c=emit_c,
                labels=labels,
            )
        except EdgeSdkError as e:
            if "search" in e.details and not json_out:
                from edgesdk.cli.rendering import render_search

                render_search(e.details["search"], err_console)
            raise
    if json_out:
        print_json(result.to_dict())
        return
    from edgesdk.cli.rendering import render_export, render_quantization

    render_quantization(result, console)
    if "search" in result.extra:
        from edgesdk.cli.rendering import render_search

        render_search(result.extra["search"], console)
    if result.export is not None:
        render_export(result.export, console)
    if "package" in result.extra:
        from edgesdk.cli.render_mobile import render_package_dict

        render_package_dict(result.extra["package"], console)

"""`edgesdk evaluate FLOAT_MODEL QUANT.tflite [MORE.tflite ...] --data SPEC`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import (
    console,
    err_console,
    handle_errors,
    parse_floats,
    print_json,
    prompt_passphrase,
    safe,
)


@handle_errors
def evaluate(
    float_model: Annotated[str, typer.Argument(help="The float model (.keras, .h5, SavedModel).")],
    tflites: Annotated[list[str], typer.Argument(help="One or more .tflite files.")],
    data: Annotated[
        str,
        typer.Option(
            "--data", "-d", help="Labelled .npz (x, y), image folder per class, or unlabelled data."
        ),
    ],
    tflm: Annotated[
        bool, typer.Option("--tflm", help="Also run TFLite Micro on this machine.")
    ] = False,
    device: Annotated[
        str | None, typer.Option("--device", "-D", help="Also run on this device over SSH.")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="At most this many samples.")] = 10_000,
    scale: Annotated[float, typer.Option(help="Image normalization: x * scale + offset.")] = 1.0
    / 255.0,
    offset: Annotated[float, typer.Option(help="Image normalization: x * scale + offset.")] = 0.0,
    mean: Annotated[str | None, typer.Option(help="Image normalization (x - mean) / std.")] = None,
    std: Annotated[str | None, typer.Option(help="Image normalization (x - mean) / std.")] = None,
    normalize_arrays: Annotated[
        bool, typer.Option("--normalize-arrays", help="Normalize array data too.")
    ] = False,
    save: Annotated[str | None, typer.Option(help="Also write the result as JSON here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run the same samples through the float model, LiteRT, TFLite Micro and a device; compare."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from edgesdk import api
    from edgesdk.cli.render_runs import render_evaluation
    from edgesdk.core.options import Normalization

    norm = Normalization(
        scale=scale,
        offset=offset,
        mean=parse_floats(mean, "--mean"),
        std=parse_floats(std, "--std"),
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
        disable=json_out,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(safe(label), total=total)  # names a model file
            bar.update(tasks[label], completed=done, total=total)

        result = api.evaluate(
            float_model,
            tflites,
            data,
            tflm=tflm,
            device=device,
            limit=samples,
            normalization=norm,
            normalize_arrays=normalize_arrays,
            progress=progress,
            passphrase_prompt=prompt_passphrase,
        )
    if save:
        result.save(save)
    if json_out:
        print_json(result.to_dict())
    else:
        render_evaluation(result, console)

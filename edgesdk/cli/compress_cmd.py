"""`edgesdk compress MODEL --data TRAIN_SPEC -o OUT [--prune S] [--cluster K] [--qat] [--teacher M]`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, err_console, handle_errors, print_json
from edgesdk.core.options import PruneSchedule
from edgesdk.errors import EdgeSdkError


# Over 80 lines: one typer parameter per CLI option; the body is a few lines.
@handle_errors
def compress(
    model: Annotated[str, typer.Argument(help="The trained classifier (.keras or legacy .h5).")],
    data: Annotated[
        str,
        typer.Option("--data", "-d", help="Training data: .npz with x and y, or class folders."),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="A .keras/.h5 file; with --qat, a folder.")
    ],
    prune: Annotated[
        float | None, typer.Option(help="Target sparsity in [0, 1), e.g. 0.8.")
    ] = None,
    schedule: Annotated[
        PruneSchedule, typer.Option(help="How sparsity grows to the target.")
    ] = PruneSchedule.POLYNOMIAL,
    cluster: Annotated[int | None, typer.Option(help="Weight clusters per layer (>= 2).")] = None,
    qat: Annotated[bool, typer.Option("--qat", help="Quantization-aware training.")] = False,
    teacher: Annotated[
        str | None, typer.Option(help="Teacher model for knowledge distillation.")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Distillation temperature.")] = 4.0,
    alpha: Annotated[
        float, typer.Option(help="Weight of the true labels vs the teacher's soft labels.")
    ] = 0.1,
    epochs: Annotated[int, typer.Option(help="Training epochs per technique.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 64,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            help="Adam learning rate of every stage (default: each stage's own, 3e-3 to "
            "distill a student, 1e-4 to fine-tune when pruning, clustering and QAT).",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="With --teacher: also train the same student on the labels alone and compare.",
        ),
    ] = True,
    validation_data: Annotated[
        str | None,
        typer.Option(help="Labelled validation data (default: 10% of --data held out)."),
    ] = None,
    max_accuracy_drop: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=100.0,
            help="With --prune: an accuracy budget in points; per-layer sparsities are chosen "
            "by sensitivity and the int8 model is verified (lower targets are tried if needed).",
        ),
    ] = None,
    eval_data: Annotated[
        str | None,
        typer.Option(
            help="Labelled held-out data for the budget (the validation data; not with "
            "--validation-data)."
        ),
    ] = None,
    skip_layer: Annotated[
        list[str] | None,
        typer.Option("--skip-layer", help="Leave this layer as it is (repeatable)."),
    ] = None,
    target: Annotated[
        str, typer.Option("--target", "-t", help="Profile used to measure the int8 result.")
    ] = "linux-x86_64",
    int8: Annotated[
        bool, typer.Option("--int8/--no-int8", help="Measure int8 .tflite sizes and accuracy.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of shuffles and initialisations.")] = 0,
    scale: Annotated[float, typer.Option(help="Image normalization: x * scale + offset.")] = 1.0
    / 255.0,
    offset: Annotated[float, typer.Option(help="Image normalization: x * scale + offset.")] = 0.0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output folder.")
    ] = False,
    save: Annotated[str | None, typer.Option(help="Also write the result as JSON here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Prune, cluster, distill and/or quantization-aware train a Keras model, and measure it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from edgesdk import api
    from edgesdk.cli.render_runs import render_compression
    from edgesdk.core.options import CompressOptions, Normalization

    options = CompressOptions(
        prune=prune,
        schedule=schedule,
        cluster=cluster,
        qat=qat,
        teacher=teacher,
        temperature=temperature,
        alpha=alpha,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        baseline=baseline,
        skip_layers=tuple(skip_layer or ()),
        seed=seed,
        normalization=Normalization(scale=scale, offset=offset),
        max_accuracy_drop=None if max_accuracy_drop is None else max_accuracy_drop / 100,
    )
    if eval_data is not None and validation_data is not None:
        raise typer.BadParameter("give --eval-data or --validation-data, not both")
    validation_data = validation_data or eval_data
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        "{task.fields[loss]}",
        console=err_console,
        transient=True,
        disable=json_out,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(event: dict) -> None:
            stage = event["stage"]
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=event["total"], loss="")
            loss = event.get("loss")
            bar.update(
                tasks[stage],
                completed=event["done"],
                total=event["total"],
                loss=f"loss {loss:.4f}" if loss is not None else "",
            )

        try:
            result = api.compress(
                model,
                data,
                output,
                options,
                validation=validation_data,
                target=target,
                int8=int8,
                force=force,
                progress=progress,
            )
        except EdgeSdkError as e:
            if e.details.get("prune_search") and not json_out:
                from edgesdk.cli.render_runs import render_prune_search

                render_prune_search(e.details["prune_search"], err_console)
            raise
    if save:
        result.save(save)
    if json_out:
        print_json(result.to_dict())
    else:
        render_compression(result, console)

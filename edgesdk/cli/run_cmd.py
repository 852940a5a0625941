"""`edgesdk run [edgesdk.toml]` and `edgesdk init MODEL`: a whole pipeline, its gates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from edgesdk.cli.common import (
    console,
    err_console,
    handle_errors,
    print_json,
    print_table,
    safe,
    state,
)
from edgesdk.errors import EdgeSdkError

if TYPE_CHECKING:
    from edgesdk.pipeline.gates import GateCheck
    from edgesdk.pipeline.runner import StageRun


def _fail(e: EdgeSdkError) -> None:
    """One red line. A pipeline's options are the file's keys, named as the library names them
    (its `max_accuracy_drop` is a key of edgesdk.toml, not a flag of this command)."""
    if state["debug"]:
        raise e
    err_console.print(
        f"[red]error:[/red] {safe(str(e), newlines=True)}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(e.exit_code) from None


def _show_stage(run: StageRun) -> None:
    where = f"{safe(run.target)} {safe(run.name)}"
    if run.status == "running":
        err_console.print(f"{where}: running ({safe(run.reason)})", highlight=False, soft_wrap=True)
    elif run.status == "cached":
        err_console.print(f"{where}: cached ({safe(run.reason)})", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"{where}: done in {run.seconds:.1f} s", highlight=False)


def show_gates(gates: tuple[GateCheck, ...]) -> None:
    """The gate table: target, gate, value, limit, pass or fail."""
    from rich.table import Table

    from edgesdk.pipeline.gates import number

    table = Table(title="Gates")
    for column in ("target", "gate", "value", "limit", "result"):
        table.add_column(column, justify="right" if column in ("value", "limit") else "left")
    for g in gates:
        result = "[green]pass[/green]" if g.passed else "[red]fail[/red]"
        bound = "<=" if g.bound == "max" else ">="
        table.add_row(safe(g.target), g.name, number(g.value), f"{bound} {number(g.limit)}", result)
    print_table(console, table)


def run(
    pipeline: Annotated[
        str, typer.Argument(help="The pipeline file (default: edgesdk.toml here).")
    ] = "edgesdk.toml",
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="Run only this target.")
    ] = None,
    stage: Annotated[
        str | None,
        typer.Option("--stage", "-s", help="Run each target's stages up to this one."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run every stage, even those still cached.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait", help="Seconds to wait for another run using the same output folder."
        ),
    ] = 600.0,
) -> None:
    """Run an edgesdk.toml pipeline: each target's stages in order (a stage whose inputs,
    options, profile and tool versions are unchanged is cached), then its gates; exit 1 names
    each failed gate."""
    from edgesdk import api

    try:
        result = api.run(pipeline, target, stage, force, progress=_show_stage, lock_wait=lock_wait)
    except EdgeSdkError as e:
        _fail(e)
        return
    if json_out:
        print_json(result.to_dict())
    else:
        cached = sum(s.status == "cached" for s in result.stages)
        console.print(
            f"{len(result.stages)} stages ({cached} cached) in {result.seconds:.1f} s; "
            f"written to {safe(result.out)}",
            highlight=False,
        )
        if result.gates:
            show_gates(result.gates)
    failed = result.failed_gates()
    for gate in failed:
        err_console.print(
            f"[red]error:[/red] {safe(gate.message())}", highlight=False, soft_wrap=True
        )
    if failed:
        raise typer.Exit(1)


@handle_errors
def init(
    model: Annotated[str, typer.Argument(help="The trained model (.keras, .h5, SavedModel).")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Target profile name or .toml path.")
    ] = "arduino-nano-33-ble",
    data: Annotated[
        str | None, typer.Option("--data", help="Representative data for quantize.")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where the pipeline file goes.")
    ] = "edgesdk.toml",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented example edgesdk.toml for a model and a target."""
    from edgesdk import api

    path = api.init_pipeline(model, target, output, data, force)
    console.print(f"wrote {safe(path)}; run it with: edgesdk run {safe(output)}", highlight=False)

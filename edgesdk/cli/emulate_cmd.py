"""`edgesdk emulate BUNDLE_DIR`: the bundle's firmware on an emulated core, measured."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from edgesdk.cli.common import console, err_console, handle_errors, print_json, safe
from edgesdk.firmware.cores import MACHINES


@handle_errors
def emulate(
    bundle: Annotated[str, typer.Argument(help="A C bundle folder from export-c.")],
    target: Annotated[
        str | None,
        typer.Option("--target", "-t", help="Target profile (default: the bundle's)."),
    ] = None,
    tflm_src: Annotated[
        str | None,
        typer.Option(
            help="TFLite Micro source folder or kit (default: $EDGESDK_TFLM_SRC, then the kit)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds before a run counts as a hang.")
    ] = 120.0,
    keep: Annotated[
        str | None, typer.Option(help="Keep the firmware project in this folder.")
    ] = None,
    board: Annotated[
        str | None,
        typer.Option(
            help="qemu board instead of the target's, one that runs the target's code "
            f"({', '.join(MACHINES)}): e.g. microbit for rp2040 on a Cortex-M0 with 16 KB of "
            "RAM; the code is built for the target's core either way."
        ),
    ] = None,
    kernels: Annotated[
        str | None,
        typer.Option(
            help="TFLite Micro kernel set: cmsis-nn or reference (default: the bundle's, else "
            "cmsis-nn on Cortex-M cores). A standalone bundle runs the kernels compiled into it."
        ),
    ] = None,
    save: Annotated[str | None, typer.Option(help="Also write the result as JSON here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Build TFLite Micro firmware for the target's core (or, for a bundle from export-c
    --engine standalone, the standalone C), run it under qemu, and report bit-exactness,
    linked flash/RAM and instructions per inference."""
    from edgesdk import api

    with console.status(f"Building and emulating {safe(bundle)} ..."):
        result = api.emulate(bundle, target, tflm_src, timeout, keep, board=board, kernels=kernels)
    finish(result, save, json_out)


def finish(result: Any, save: str | None, json_out: bool) -> None:
    """Save, print, and exit non-zero on a mismatch or a firmware over the target's budget."""
    if save:
        result.save(save)
    if json_out:
        print_json(result.to_dict())
    else:
        from edgesdk.cli.engine_views import show_emulation

        show_emulation(result, console)
    bad = result.first_mismatch()
    if bad is not None:
        err_console.print(
            f"[red]error:[/red] test vector {bad['index']} output {bad['output']} differs at "
            f"element {bad['element']} (got {bad['got']}, expected {bad['expected']}; "
            f"{bad['mismatches']} elements differ)",
            highlight=False,
        )
        raise typer.Exit(1)
    if not result.fits:
        b = result.budget
        err_console.print(
            f"[red]error:[/red] the firmware needs {b['flash_used']:,} B flash and "
            f"{b['ram_used']:,} B RAM; {safe(result.target)} has {b['flash_budget']:,} B and "
            f"{b['ram_budget']:,} B for it",
            highlight=False,
        )
        raise typer.Exit(1)

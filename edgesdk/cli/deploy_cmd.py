"""`edgesdk deploy` and `edgesdk rollback`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import (
    console,
    err_console,
    handle_errors,
    human_rate,
    print_json,
    prompt_passphrase,
    safe,
)
from edgesdk.cli.live import run_fleet


# Over 80 lines: one typer parameter per CLI option; the body is a few lines.
@handle_errors
def deploy(
    model: Annotated[str, typer.Argument(help="The .tflite file.")],
    device: Annotated[str | None, typer.Option("--device", "-D", help="Device name.")] = None,
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="Deploy to every device of a group.")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, help="With --group: devices at once.")] = 4,
    canary: Annotated[
        int, typer.Option(min=0, help="With --group: deploy and smoke-test K devices first.")
    ] = 0,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="With --group: start no device after a failure.")
    ] = False,
    rollback_on_failure: Annotated[
        bool,
        typer.Option(
            "--rollback-on-failure",
            help="With --group: on any failure, return changed devices to their previous model.",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Upload a model, verify its sha256 on the device, and switch to it atomically.

    With --group the exit code is 0 when every device succeeded, 3 when some did, 4 when none did.
    """
    from edgesdk import api

    if (device is None) == (group is None):
        raise typer.BadParameter("give --device or --group")
    if group is not None:
        from edgesdk.devices.fleet import FleetOptions

        run_fleet(
            lambda show: api.deploy_group(
                model,
                group,
                FleetOptions(parallel=parallel, fail_fast=fail_fast),
                canary,
                rollback_on_failure,
                show,
                prompt_passphrase,
            ),
            group,
            json_out,
        )
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
        disable=json_out,
    ) as progress:
        task = progress.add_task(f"upload to {safe(device)}", total=None)
        shown = [0]

        def update(done: int, total: int) -> None:
            if done - shown[0] >= 1 << 20 or done == total:  # SFTP calls this every 32 KiB
                shown[0] = done
                progress.update(task, completed=done, total=total)

        result = api.deploy(model, device, progress=update, passphrase_prompt=prompt_passphrase)
    if json_out:
        print_json(result.to_dict())
        return
    cur = result.current  # its name and hash may come from the device's history
    name, sha = safe(cur.name), safe(cur.sha256[:16])
    if result.action == "unchanged":
        console.print(
            f"{safe(device)}: {name} (sha256 {sha}) is already deployed; nothing transferred"
        )
    else:
        console.print(
            f"{safe(device)}: {result.action} {name} (sha256 {sha}, {cur.size} B"
            + (f", {human_rate(result.bytes_sent, result.seconds)}" if result.bytes_sent else "")
            + f") → {safe(result.path)}"
        )


@handle_errors
def rollback(
    device: Annotated[str, typer.Option("--device", "-D", help="Device name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Switch a device back to the model it ran before the last deploy."""
    from edgesdk import api

    result = api.rollback(device, passphrase_prompt=prompt_passphrase)
    if json_out:
        print_json(result.to_dict())
        return
    cur = result.current  # from the device's history
    console.print(
        f"{safe(device)}: rolled back to {safe(cur.name)} (sha256 {safe(cur.sha256[:16])})"
    )

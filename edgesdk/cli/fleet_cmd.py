"""`edgesdk fleet status --group G`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import handle_errors, prompt_passphrase

app = typer.Typer(help="Groups of devices: what runs where.", no_args_is_help=True)


@app.command("status")
@handle_errors
def status(
    group: Annotated[str, typer.Option("--group", "-g", help="Device group.")],
    parallel: Annotated[int, typer.Option(min=1, help="Devices at once.")] = 4,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which model (sha256, name, when) each device runs; unreachable ones; who disagrees."""
    from edgesdk import api
    from edgesdk.cli.live import run_fleet
    from edgesdk.devices.fleet import FleetOptions

    run_fleet(
        lambda show: api.fleet_status(
            group, FleetOptions(parallel=parallel, retries=0), show, prompt_passphrase
        ),
        group,
        json_out,
    )

"""`edgesdk fleet status --group G` and `edgesdk fleet ansible --group G -o DIR`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json, prompt_passphrase, safe

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


@app.command("ansible")
@handle_errors
def ansible(
    group: Annotated[str, typer.Option("--group", "-g", help="Device group.")],
    out_dir: Annotated[str, typer.Option("--out", "-o", help="Folder to write the project to.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write an Ansible inventory (hosts.yml), playbooks and the edgesdk role for a group.

    The playbooks keep edgesdk's device layout, so `fleet status`, `deploy` and `rollback` work
    on the devices afterwards. Host keys are checked against edgesdk's known_hosts.
    """
    from edgesdk import api

    project = api.ansible_project(group, out_dir)
    if json_out:
        print_json(project.to_dict())
        return
    playbooks = [f for f in project.files if "/" not in f and f != "hosts.yml"]
    console.print(
        f"wrote {safe(project.folder)}: hosts.yml ({len(project.devices)} devices of "
        f"{safe(group)}), {', '.join(playbooks)}, roles/edgesdk",
        soft_wrap=True,
    )
    if project.untrusted:
        console.print(
            f"[yellow]no known host key[/yellow] for {safe(', '.join(project.untrusted))}: "
            f"Ansible will refuse them; first run edgesdk device trust --group {safe(group)}",
            soft_wrap=True,
        )
    console.print(
        safe("needs ansible-core on this machine (pip install 'edgesdk[ansible]'); then:")
    )
    for command in project.commands.values():
        console.print(f"  {safe(command)}", soft_wrap=True, highlight=False)

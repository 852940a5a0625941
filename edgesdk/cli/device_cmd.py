"""`edgesdk device add|list|remove|check|trust`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json, prompt_passphrase

app = typer.Typer(
    help="Devices reached over SSH (inventory in $EDGESDK_HOME).", no_args_is_help=True
)


@app.command("add")
@handle_errors
def add(
    name: Annotated[str, typer.Argument(help="A short name for the device.")],
    host: Annotated[str, typer.Option(help="Host name, address or ~/.ssh/config alias.")],
    port: Annotated[
        int | None, typer.Option(help="SSH port (default: ~/.ssh/config or 22).")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="SSH user (default: ~/.ssh/config or yours).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Private key file (default: agent and ~/.ssh keys).")
    ] = None,
    python: Annotated[str, typer.Option(help="Python on the device.")] = "python3",
    workdir: Annotated[
        str, typer.Option(help="Folder on the device (relative: to the home).")
    ] = "edgesdk",
    target: Annotated[str | None, typer.Option(help="Target profile of the device.")] = None,
) -> None:
    """Add a device to the inventory (nothing is contacted yet)."""
    from edgesdk.devices.inventory import Device, Inventory

    if target is not None:
        from edgesdk.profiles import load_profile

        load_profile(target)
    device = Inventory().add(Device(name, host, port, user, key, python, workdir, target))
    console.print(f"added {device.name} ({device.host}); next: edgesdk device check {device.name}")


@app.command("list")
@handle_errors
def list_devices(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the devices in the inventory."""
    from rich.table import Table

    from edgesdk.devices.inventory import Inventory

    devices = Inventory().list()
    if json_out:
        print_json([d.to_dict() for d in devices])
        return
    table = Table(title="Devices", title_justify="left")
    for col in ("name", "host", "port", "user", "python", "workdir", "target"):
        table.add_column(col, no_wrap=col == "name")
    for d in devices:
        table.add_row(
            d.name, d.host, str(d.port or "-"), d.user or "-", d.python, d.workdir, d.target or "-"
        )
    console.print(table)


@app.command("remove")
@handle_errors
def remove(name: Annotated[str, typer.Argument(help="Device name.")]) -> None:
    """Remove a device from the inventory (nothing on the device changes)."""
    from edgesdk.devices.inventory import Inventory

    Inventory().remove(name)
    console.print(f"removed {name}")


@app.command("check")
@handle_errors
def check(
    name: Annotated[str, typer.Argument(help="Device name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Connect (host key verified) and report OS, arch, Python, numpy, runtime and free disk."""
    from edgesdk import api
    from edgesdk.report import human_bytes

    info = api.device_check(name, passphrase_prompt=prompt_passphrase)
    if json_out:
        print_json(info)
        return
    runtime = (
        f"{info['runtime']} {info['runtime_version']}" if info["runtime"] else "[red]none[/red]"
    )
    console.print(
        f"{name} ({info['host']}): {info['os']} {info['arch']}, Python {info['python']}, "
        f"numpy {info['numpy'] or '[red]missing[/red]'}, runtime {runtime}, "
        f"free disk {human_bytes(info['disk_free_bytes'])} at {info['disk_path']}"
    )
    if not info["ready"]:
        raise typer.Exit(1)


@app.command("trust")
@handle_errors
def trust(
    name: Annotated[str, typer.Argument(help="Device name.")],
    fingerprint: Annotated[str, typer.Option(help="The SHA256:... fingerprint you verified.")],
) -> None:
    """Record the device's host key, only if it matches the fingerprint you give."""
    from edgesdk import api

    recorded = api.device_trust(name, fingerprint)
    console.print(f"trusted {name}: {recorded}")

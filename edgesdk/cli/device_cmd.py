"""`edgesdk device add|list|remove|check|trust`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import (
    console,
    handle_errors,
    print_json,
    printable,
    prompt_passphrase,
    safe,
)

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
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Group(s) of the device (repeatable).")
    ] = None,
) -> None:
    """Add a device to the inventory (nothing is contacted yet)."""
    from edgesdk import api
    from edgesdk.devices.inventory import Device

    device = api.device_add(
        Device(name, host, port, user, key, python, workdir, target, tuple(group or ()))
    )
    console.print(
        f"added {device.name} ({safe(device.host)}); next: edgesdk device check {device.name}"
    )


@app.command("list")
@handle_errors
def list_devices(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the devices in the inventory."""
    from edgesdk import api
    from edgesdk.cli.render_runs import render_devices

    devices = api.list_devices()
    if json_out:
        print_json([d.to_dict() for d in devices])
        return
    render_devices(devices, console)


@app.command("remove")
@handle_errors
def remove(name: Annotated[str, typer.Argument(help="Device name.")]) -> None:
    """Remove a device from the inventory (nothing on the device changes)."""
    from edgesdk import api

    api.device_remove(name)
    console.print(f"removed {safe(name)}")


@app.command("check")
@handle_errors
def check(
    name: Annotated[str, typer.Argument(help="Device name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Connect (host key verified) and report OS, arch, Python, numpy, runtime and free disk."""
    from edgesdk import api
    from edgesdk.cli.rendering import human_bytes

    info = api.device_check(name, passphrase_prompt=prompt_passphrase)
    if json_out:
        print_json(info.to_dict())
        return
    # everything but the name is what the device reported: shown as text
    runtime = safe(f"{info.runtime} {info.runtime_version}") if info.runtime else "[red]none[/red]"
    numpy = safe(info.numpy) if info.numpy else "[red]missing[/red]"
    console.print(
        f"{safe(name)} ({safe(info.host)}): {safe(info.os)} {safe(info.arch)}, "
        f"Python {safe(info.python)}, numpy {numpy}, runtime {runtime}, "
        f"free disk {human_bytes(info.disk_free_bytes)} at {safe(info.disk_path)}"
    )
    installed = ", ".join(f"{k} {v}" for k, v in info.runtimes.items())
    console.print(f"installed runtimes: {safe(installed or 'none')}")
    if info.emulated:
        console.print(
            f"[yellow]EMULATED: {safe(info.emulated)} (the userland runs under an emulator: "
            "its timings are the emulator's, not a device's)[/yellow]"
        )
    if not info.ready:
        raise typer.Exit(1)


@app.command("trust")
@handle_errors
def trust(
    name: Annotated[str | None, typer.Argument(help="Device name (or use --group).")] = None,
    fingerprint: Annotated[
        str | None, typer.Option(help="The SHA256:... fingerprint you verified.")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Trust a whole group.")] = None,
    fingerprints: Annotated[
        str | None,
        typer.Option(
            help="With --group: a file of 'DEVICE SHA256:...' lines; otherwise you confirm each."
        ),
    ] = None,
) -> None:
    """Record host keys, only where they match the fingerprint you give or confirm."""
    from edgesdk import api

    if (name is None) == (group is None):
        raise typer.BadParameter("give a device NAME or --group, not both")
    if name is not None:
        if not fingerprint:
            raise typer.BadParameter(
                "--fingerprint is required for one device", param_hint="--fingerprint"
            )
        console.print(f"trusted {safe(name)}: {safe(api.device_trust(name, fingerprint))}")
        return
    outcomes = api.trust_group(
        group,
        fingerprints,
        confirm=lambda device, actual: typer.confirm(
            f"{device.name} ({printable(device.host)}) presents {actual}. Trust it?",
            default=False,
        ),
    )
    for o in outcomes:
        if o.trusted:
            console.print(f"trusted {o.device}: {safe(o.fingerprint)}")
        else:
            console.print(f"[red]not trusted[/red] {o.device}: {safe(o.reason, newlines=True)}")
    if not all(o.trusted for o in outcomes):
        raise typer.Exit(1)


@app.command("import")
@handle_errors
def import_inventory(
    path: Annotated[
        str,
        typer.Argument(
            help="An Ansible inventory: INI/YAML file, folder, script or plugin config."
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add the hosts (with their groups) of an Ansible inventory (needs ansible-core)."""
    from edgesdk import api

    added, updated = api.import_inventory(path)
    if json_out:
        print_json({"added": added, "updated": updated})
    else:
        console.print(
            f"added {len(added)} device(s), updated {len(updated)}: "
            + safe(", ".join(added + updated))
        )

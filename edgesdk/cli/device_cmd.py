"""`edgesdk device add|list|remove|check|trust`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

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
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Group(s) of the device (repeatable).")
    ] = None,
) -> None:
    """Add a device to the inventory (nothing is contacted yet)."""
    from edgesdk.devices.inventory import Device, Inventory

    if target is not None:
        from edgesdk.core.profiles import load_profile

        load_profile(target)
    device = Inventory().add(
        Device(name, host, port, user, key, python, workdir, target, tuple(group or ()))
    )
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
    from edgesdk.cli.rendering import human_bytes

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
        console.print(f"trusted {name}: {api.device_trust(name, fingerprint)}")
        return
    from edgesdk.devices.inventory import Inventory

    expected = _read_fingerprints(fingerprints) if fingerprints else None
    refused = 0
    from edgesdk.errors import EdgeSdkError

    for device in Inventory().group(group):
        try:
            actual = api.presented_fingerprint(device)
        except EdgeSdkError as e:
            console.print(f"[red]not trusted[/red] {device.name}: {escape(str(e))}")
            refused += 1
            continue
        if expected is not None:
            ok = expected.get(device.name) == actual
            if not ok:
                console.print(
                    f"[red]not trusted[/red] {device.name}: presents {actual}, "
                    f"file says {expected.get(device.name, 'nothing')}"
                )
        else:
            ok = typer.confirm(
                f"{device.name} ({device.host}) presents {actual}. Trust it?", default=False
            )
        if ok:
            console.print(f"trusted {device.name}: {api.device_trust(device, actual)}")
        else:
            refused += 1
    if refused:
        raise typer.Exit(1)


def _read_fingerprints(path: str) -> dict[str, str]:
    from edgesdk.errors import ConfigError

    try:
        lines = open(path, encoding="utf-8").read().splitlines()  # noqa: SIM115
    except OSError as e:
        raise ConfigError(f"Cannot read fingerprints file {path}: {e.strerror}") from e
    result = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith("SHA256:"):
            raise ConfigError(
                f"{path}:{number}: expected 'DEVICE SHA256:...', got {line.strip()!r}"
            )
        result[parts[0]] = parts[1]
    return result


@app.command("import")
@handle_errors
def import_inventory(
    path: Annotated[str, typer.Argument(help="An Ansible inventory file (INI or YAML).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Add the hosts (with their groups) of an Ansible inventory."""
    from edgesdk import api

    added, updated = api.import_inventory(path)
    if json_out:
        print_json({"added": added, "updated": updated})
    else:
        console.print(
            f"added {len(added)} device(s), updated {len(updated)}: {', '.join(added + updated)}"
        )

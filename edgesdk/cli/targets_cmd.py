"""`edgesdk targets list|show`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json

app = typer.Typer(
    help="Target profiles: built-in devices and your own .toml files.", no_args_is_help=True
)


@app.command("list")
@handle_errors
def list_targets(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the built-in target profiles."""
    from edgesdk import api
    from edgesdk.cli.rendering import render_targets

    profiles = api.targets()
    if json_out:
        print_json([p.to_dict() for p in profiles])
    else:
        render_targets(profiles, console)


@app.command("show")
@handle_errors
def show(
    name: Annotated[str, typer.Argument(help="Built-in target name or path to a profile .toml.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one target profile."""
    from edgesdk import api
    from edgesdk.cli.rendering import render_target

    profile = api.target(name)
    if json_out:
        print_json(profile.to_dict())
    else:
        render_target(profile, console)

"""A live per-device progress table for fleet commands (thread-safe updates)."""

from __future__ import annotations

import threading
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from edgesdk.cli.common import console, err_console, print_json, safe


class FleetDisplay:
    """``with FleetDisplay(names, enabled) as show: ... show.update(name, state)``."""

    def __init__(self, names: list[str], enabled: bool = True):
        self.states = dict.fromkeys(names, "waiting")
        self.lock = threading.Lock()
        self.live = (
            Live(self._table(), console=err_console, refresh_per_second=8, transient=True)
            if enabled
            else None
        )

    def _table(self) -> Table:
        table = Table(show_header=True, title_justify="left")
        table.add_column("device", no_wrap=True)
        table.add_column("state")
        for name, state in self.states.items():
            color = (
                "green" if state == "done" else "red" if state.startswith("failed") else "yellow"
            )
            table.add_row(name, f"[{color}]{safe(state)}[/{color}]")  # may quote an error
        return table

    def update(self, name: str, state: str) -> None:
        with self.lock:
            self.states[name] = state
            if self.live is not None:
                self.live.update(self._table())

    def __enter__(self) -> FleetDisplay:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)


def run_fleet(action: Any, group: str, json_out: bool, save: str | None = None) -> None:
    """Run a fleet action with a live per-device display; exit with its code."""
    from edgesdk import api
    from edgesdk.cli.render_runs import render_fleet

    names = [d.name for d in api.list_devices(group)]
    with FleetDisplay(names, enabled=not json_out) as display:
        result = action(display.update)
    if save:
        result.save(save)
    if json_out:
        print_json(result.to_dict())
    else:
        render_fleet(result, console)
    if result.exit_code:
        raise typer.Exit(result.exit_code)

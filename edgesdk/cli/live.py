"""A live per-device progress table for fleet commands (thread-safe updates)."""

from __future__ import annotations

import threading
from typing import Any

from rich.live import Live
from rich.table import Table

from edgesdk.cli.common import err_console


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
            table.add_row(name, f"[{color}]{state}[/{color}]")
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

"""How the CLI shows each firmware engine's results: a table keyed by engine, with a plain
key-value view for an engine that has no view of its own (a new engine prints without edits)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from rich.console import Console

from edgesdk.cli.common import safe
from edgesdk.firmware.engines import Engine

# engine -> (module, function) of its export-c and emulate views
EXPORT_VIEWS = {
    Engine.TFLM.value: ("edgesdk.cli.rendering", "render_export"),
    Engine.STANDALONE.value: ("edgesdk.cli.rendering", "render_standalone_export"),
}
EMULATION_VIEWS = {
    Engine.TFLM.value: ("edgesdk.cli.render_runs", "render_emulation"),
    Engine.STANDALONE.value: ("edgesdk.cli.rendering", "render_standalone_emulation"),
}


def _show(views: dict[str, tuple[str, str]], title: str, result: Any, console: Console) -> None:
    data = result.to_dict()
    view = views.get(str(data.get("engine")))
    if view is not None:
        getattr(import_module(view[0]), view[1])(result, console)
        return
    from edgesdk.cli.rendering import _key_value_table

    table = _key_value_table(f"{title} (engine {safe(str(data.get('engine')))})")
    for key, value in data.items():
        if isinstance(value, str | int | float | bool) or value is None:
            table.add_row(safe(key), safe(str(value)))
    console.print(table)


def show_export(result: Any, console: Console) -> None:
    """An export-c result, in its engine's view."""
    _show(EXPORT_VIEWS, "edgesdk export-c", result, console)
    layout = result.to_dict().get("layout")
    if layout:  # the input layout the .tflite records (a PyTorch model's NCHW -> NHWC)
        from edgesdk.tflite.layout_record import LayoutRecord

        console.print(safe(LayoutRecord.from_dict(layout).line()))


def show_emulation(result: Any, console: Console) -> None:
    """An emulate result, in its engine's view."""
    _show(EMULATION_VIEWS, "edgesdk emulate", result, console)

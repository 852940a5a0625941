"""The library's words for options, the CLI's flags for them: one table.

The library names an API option in backticks, as a Python caller writes it: `max_accuracy_drop`,
`io="int8"`, `force=True`, several as `mean=0, std=255`. The CLI shows the flag that sets it
instead (``--max-accuracy-drop``, ``--io int8``, ``--force``, ``--mean 0 --std 255``); a span
naming anything the table does not know stays as the library wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import typer

from edgesdk.errors import EdgeSdkError, UnknownHostKeyError, WorkerCrashedError

FLAGS: dict[str, str] = {
    # API option -> the flag that sets it, in every command that has it
    "arena": "--arena",
    "data": "--data",
    "device": "--device",
    "engine": "--engine",
    "eval_data": "--eval-data",
    "force": "--force",
    "framework": "--framework",
    "group": "--group",
    "host": "--host",
    "input_shape": "--input-shape",
    "io": "--io",
    "kernels": "--kernels",
    "integer_only": "--integer-only",
    "max_accuracy_drop": "--max-accuracy-drop",
    "mean": "--mean",
    "mode": "--mode",
    "name": "--name",
    "offset": "--offset",
    "prune": "--prune",
    "qat": "--qat",
    "requantize_io": "--requantize-io",
    "save": "--save",
    "scale": "--scale",
    "skip_layers": "--skip-layer",
    "std": "--std",
    "sweep": "--sweep",
    "tflm_src": "--tflm-src",
}

COMMAND_FLAGS: dict[str, dict[str, str]] = {
    # where a command spells an option differently from FLAGS (or has one FLAGS lacks)
    "benchmark": {"input_file": "--input"},
    "compress": {"validation": "--validation-data", "int8": "--int8"},
    "demo": {"out_dir": "--out"},
    "fleet ansible": {"out_dir": "--out"},
    "package": {"version": "--model-version"},
    "report": {"out_dir": "--output"},
}

_SPAN = re.compile(r"`([^`\n]+)`")
_ITEM = re.compile(r"([a-z_][a-z0-9_]*)(?:=(.+))?")

state: dict[str, str] = {"command": ""}  # the running command's path ("device add")


def flag_table(command: str | None = None) -> dict[str, str]:
    """API option -> flag for ``command`` (the running one by default)."""
    command = state["command"] if command is None else command
    return {**FLAGS, **COMMAND_FLAGS.get(command, {})}


def _as_flags(span: re.Match[str], table: dict[str, str]) -> str:
    words = []
    for item in span.group(1).split(", "):
        match = _ITEM.fullmatch(item.strip())
        if match is None or match.group(1) not in table:
            return span.group(0)  # not (only) options this CLI has: as the library wrote it
        name, value = match.groups()
        words.append(table[name])
        if value is not None and value != "True":
            words.append(value.strip("'\""))
    return " ".join(words)


def cli_text(text: str, command: str | None = None) -> str:
    """A library message with every option it names in backticks shown as the CLI's flag."""
    table = flag_table(command)
    return _SPAN.sub(lambda span: _as_flags(span, table), text)


def cli_message(error: EdgeSdkError) -> str:
    """The one line the CLI prints for a library error: its flags, and what to do on the
    command line where the CLI can say more than the library's message."""
    message = cli_text(str(error))
    if isinstance(error, UnknownHostKeyError):
        message += f" (to trust it: edgesdk device trust DEVICE --fingerprint {error.value})"
    elif isinstance(error, WorkerCrashedError) and error.signal and error.details.get("log"):
        message += " (run with --debug to see its log)"
    return message


_PATHS: dict[Callable[..., object], str] = {}  # command callback -> "device add"


def register(app: typer.Typer, prefix: str = "") -> None:
    """Learn the path of every command of ``app`` (``"quantize"``, ``"device add"``), so a
    running command knows its name (``edgesdk.cli`` calls this once it has built the app)."""
    for info in app.registered_commands:
        if info.callback is not None:
            name = info.name or info.callback.__name__.replace("_", "-")
            _PATHS[info.callback] = prefix + name
    for group in app.registered_groups:
        if group.typer_instance is not None:
            register(group.typer_instance, f"{prefix}{group.name} ")


def command_path(callback: Callable[..., object]) -> str:
    """The command ``callback`` is registered as ("" when it is not one)."""
    return _PATHS.get(callback, "")

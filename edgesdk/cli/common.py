"""Shared CLI plumbing: consoles, the --debug state, error handling and JSON output."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.markup import escape
from rich.segment import Segment

from edgesdk.cli import flags
from edgesdk.errors import EdgeSdkError

F = TypeVar("F", bound=Callable[..., Any])

# What a terminal acts on instead of showing: C0 controls (ESC starts CSI/OSC sequences, BEL
# ends OSC ones, CR overwrites a line), DEL, C1 controls (0x9b is a one-byte CSI), and the
# bidi marks and line separators that reorder or break what follows (Trojan Source)
_MARKS = r"\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f" + _MARKS + "]")
_UNPRINTABLE_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f" + _MARKS + "]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(value: object, newlines: bool = False) -> str:
    """``value`` as text a terminal shows as it is: control characters (ESC, BEL, CR, DEL, C1),
    bidi overrides and (unless ``newlines``) line breaks become visible escapes like ``\\x1b``.

    For anything that came from a device, a file or a file name (the library keeps it raw).
    """
    pattern = _UNPRINTABLE_BUT_NEWLINE if newlines else _UNPRINTABLE
    return pattern.sub(_visible, str(value))


def safe(value: object, newlines: bool = False) -> str:
    """:func:`printable`, with rich markup escaped: for values put into a markup string
    (``[red]`` or ``[link=...]`` in a device's data is shown, never applied)."""
    return escape(printable(value, newlines))


def library_text(text: object, newlines: bool = True) -> str:
    """A note, warning or reason the library wrote, for a markup string: the options it names
    as this command's flags (``edgesdk.cli.flags``), then :func:`safe`."""
    return safe(flags.cli_text(str(text)), newlines)


class SafeConsole(Console):
    """A rich Console that never sends a control character of its *text* to the terminal.

    Values are made :func:`safe` where they are put into output; this is the net under that:
    rich's own control segments (colours, cursor moves of live displays) pass, and any control
    character left in text is shown as an escape (rich itself would pass ESC through).
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not _UNPRINTABLE_BUT_NEWLINE.search(segment.text):
                yield segment
            else:
                text = _UNPRINTABLE_BUT_NEWLINE.sub(_visible, segment.text)
                yield Segment(text, segment.style)


class _SafeFormatter(logging.Formatter):
    """Log lines (which can quote a device's output) with control characters made visible."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), newlines=True)


console = SafeConsole()
err_console = SafeConsole(stderr=True)
state = {"debug": False}


def setup_logging(debug: bool) -> None:
    state["debug"] = debug
    handler = logging.StreamHandler()
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR, handlers=[handler], force=True
    )


def handle_errors(func: F) -> F:
    """Turn EdgeSdkError into one red line and exit code 1 (traceback only with --debug), the
    options its message names shown as this command's flags (``edgesdk.cli.flags``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flags.state["command"] = flags.command_path(wrapper)  # whose flags messages name
        try:
            return func(*args, **kwargs)
        except EdgeSdkError as e:
            if state["debug"]:
                if e.details.get("log"):
                    err_console.print(e.details["log"], markup=False, highlight=False)
                raise
            message = flags.cli_message(e)  # the library's option names as this CLI's flags
            # paths and messages may hold [brackets] that rich would read as markup, and text
            # a device sent (its stderr, file names) with escape sequences
            err_console.print(
                f"[red]error:[/red] {safe(message, newlines=True)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


def prompt_passphrase(path: str) -> str:
    """Ask for an SSH key passphrase on the terminal (never taken from the command line)."""
    return typer.prompt(f"Passphrase for {printable(path)}", hide_input=True)


def print_json(data: dict[str, Any] | list[Any]) -> None:
    # ensure_ascii: control characters, C1 and bidi marks a device sent become \\uXXXX
    typer.echo(json.dumps(data, indent=2, ensure_ascii=True))


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """``"0.5,0.25"`` → (0.5, 0.25); a bad value is a usage error."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            f"expected comma-separated numbers, got {text!r}", param_hint=what
        ) from None


def print_table(out: Console, table: Any) -> None:
    """Print a rich Table so that no figure or name is ever cut: as a table when it fits the
    terminal whole (rich wraps cells at spaces; a layout that would need an ellipsis does not
    count), else as ``header: value`` lines per row, which the terminal wraps without cutting."""
    from rich.measure import Measurement
    from rich.text import Text

    unbounded = out.options.update(width=1_000_000)  # rich clamps a measure to the width
    if Measurement.get(out, unbounded, table).minimum <= out.width:
        with out.capture() as capture:
            out.print(table)
        if "…" not in capture.get():
            out.print(table)
            return

    def plain(cell: Any) -> str:
        if isinstance(cell, Text):
            return cell.plain
        return Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)

    if table.title:
        out.print(Text(plain(table.title), style="bold"), soft_wrap=True)
    columns = [[plain(cell) for cell in c.cells] for c in table.columns]
    if not table.show_header and len(columns) == 2:  # a key/value table: one line per key
        for key, value in zip(*columns, strict=True):
            out.print(Text(f"{key}: ", style="bold") + Text(value), soft_wrap=True)
        return
    headers = [plain(c.header) or "-" for c in table.columns]
    for row in range(table.row_count):
        out.print(Text("-" * min(out.width, 20), style="dim"), soft_wrap=True)
        for header, cells in zip(headers, columns, strict=True):
            value = cells[row] if row < len(cells) else ""
            out.print(Text(f"{header}: ", style="bold") + Text(value), soft_wrap=True)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def human_rate(size: int, seconds: float) -> str:
    """A transfer as people read it: MB/s or KB/s with the time; tiny ones by time alone."""
    if seconds <= 0:
        return f"{size:,} B"
    rate = size / seconds
    if size < 64 * 1024:  # too small for a meaningful rate: say how long it took
        return f"{size:,} B in {seconds * 1000:.0f} ms"
    if rate >= 1e6:
        return f"{rate / 1e6:.1f} MB/s"
    return f"{rate / 1e3:.1f} KB/s"

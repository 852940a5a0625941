"""Shared CLI plumbing: consoles, the --debug state, error handling and JSON output."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from edgesdk.errors import EdgeSdkError, UnknownHostKeyError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)
state = {"debug": False}


def setup_logging(debug: bool) -> None:
    state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
    )


def handle_errors(func: F) -> F:
    """Turn EdgeSdkError into one red line and exit code 1 (traceback only with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EdgeSdkError as e:
            if state["debug"]:
                if e.details.get("log"):
                    err_console.print(e.details["log"], markup=False, highlight=False)
                raise
            message = str(e)
            if isinstance(e, UnknownHostKeyError):
                message += f" (to trust it: edgesdk device trust DEVICE --fingerprint {e.value})"
            # escaped: paths and messages may hold [brackets] that rich would read as markup
            err_console.print(
                f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


def prompt_passphrase(path: str) -> str:
    """Ask for an SSH key passphrase on the terminal (never taken from the command line)."""
    return typer.prompt(f"Passphrase for {path}", hide_input=True)


def print_json(data: dict[str, Any] | list[Any]) -> None:
    typer.echo(json.dumps(data, indent=2))


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

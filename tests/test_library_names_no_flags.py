"""The library never names a CLI flag: its string literals (messages, notes, warnings, the texts
it writes into files) name API options; only ``edgesdk/cli`` knows the flags."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer

import edgesdk
from edgesdk.cli import app
from edgesdk.cli.flags import COMMAND_FLAGS, FLAGS

ROOT = Path(edgesdk.__file__).resolve().parent
# programs of their own that run elsewhere with their own command lines (not edgesdk's)
OWN_COMMAND_LINES = {ROOT / "devices" / "runner.py"}
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")
_ARGV = re.compile(r"--?[a-zA-Z][\w-]*(=\S*)?")  # one argv element of another program
_OPTION = re.compile(r"`([a-z_][a-z0-9_]*)(?:=[^`,]+)?(?:, ([a-z_][a-z0-9_]*)(?:=[^`,]+)?)*`")


def cli_flags() -> set[str]:
    """Every long flag of every edgesdk command (``--data``, ``--no-int8``, ``--debug`` ...).
    Short ones (``-o``) are left out: ``-o`` is also every compiler's."""
    found: set[str] = set()

    def walk(command: object) -> None:
        found.update(
            opt
            for p in command.params
            if p.param_type_name == "option"
            for opt in (*p.opts, *p.secondary_opts)
            if opt.startswith("--")
        )
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def library_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if "cli" not in p.relative_to(ROOT).parts[:1]
        and "ansible_kit" not in p.parts
        and p not in OWN_COMMAND_LINES
    )


def strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module (f-strings' literal parts too), docstrings (a string
    standing alone as a statement documents code) aside."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def flags_named(text: str, flags: set[str]) -> list[str]:
    """The edgesdk flags a string names, unless the whole string is one argv element."""
    if _ARGV.fullmatch(text):
        return []
    return [f for f in _FLAG.findall(text) if f in flags]


def test_the_library_names_no_cli_flag():
    flags = cli_flags()
    assert {"--max-accuracy-drop", "--io", "--force", "--engine", "--debug"} <= flags
    files = library_files()
    assert ROOT / "quantization" / "job.py" in files and ROOT / "cli" / "common.py" not in files
    found = [
        f"{path.relative_to(ROOT)}:{line}: {flags_named(text, flags)} in {text!r}"
        for path in files
        for line, text in strings(path)
        if flags_named(text, flags)
    ]
    assert found == []


def test_the_check_finds_flags_in_messages_but_not_argv_elements():
    flags = cli_flags()
    assert flags_named("use --force to replace it", flags) == ["--force"]
    assert flags_named("needs representative data (--data)", flags) == ["--data"]
    assert flags_named("edgesdk compress MODEL --data TRAIN --qat -o DIR", flags) == [
        "--data",
        "--qat",
    ]
    assert flags_named("nothing was written (run with --debug to see its log)", flags)
    assert flags_named("--runs", flags) == [] and flags_named("--specs=nano.specs", flags) == []
    assert flags_named("gcc --specs=nano.specs -Wl,--gc-sections", flags) == []  # not edgesdk's
    assert flags_named("(pixel - 128) / 2, x-y, --no-such-flag", flags) == []


def test_every_option_the_library_names_has_a_flag():
    """What the library puts in backticks as an option, the CLI can show as a flag."""
    known = set(FLAGS).union(*COMMAND_FLAGS.values())
    named = {
        name
        for path in library_files()
        for _, text in strings(path)
        for span in _OPTION.finditer(text)
        for name in span.groups()
        if name
    }
    assert {"max_accuracy_drop", "io", "engine", "force", "skip_layers"} <= named
    assert named - known == set()

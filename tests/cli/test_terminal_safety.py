"""Nothing a device, a file or a file name holds reaches the terminal raw (issue 23, item 9).

A device on a REAL OpenSSH server on 127.0.0.1 whose history names models with escape
sequences (OSC 8 links, CSI clear-screen, a one-byte C1 CSI), rich markup and bidi overrides,
a work folder and a model file name with ESC in them: every command that shows them shows
them as visible text; ``--json`` keeps the raw strings, escaped by JSON.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import edit_history
from typer.testing import CliRunner

from edgesdk.cli import app, common
from edgesdk.devices.inventory import Inventory

runner = CliRunner()

# what a device's deployments.json may hold, and how the terminal must show it
OSC_LINK = "\x1b]8;;http://x\x07click\x1b]8;;\x07"
HOSTILE = OSC_LINK + "\x1b[2J\x9b31m[red]x[/red][link=file:///etc]y[/link]\u202eevil\x7f\r"
HOSTILE_SHOWN = (
    r"\x1b]8;;http://x\x07click\x1b]8;;\x07\x1b[2J\x9b31m[red]x[/red][link=file:///etc]y[/link]"
    r"\u202eevil\x7f\r"
)
OLDER = "old\x1b[31m[bold]b[/bold]"
OLDER_SHOWN = r"old\x1b[31m[bold]b[/bold]"
FILE_NAME = "m\x1b[2J[red]r\x9b1m[link=x]l.tflite"  # a model file name a user was sent
FILE_SHOWN = r"m\x1b[2J[red]r\x9b1m[link=x]l.tflite"
WORKDIR_NAME = "wd\x1b]0;title\x07[u]"
WORKDIR_SHOWN = r"wd\x1b]0;title\x07[u]"
# what a terminal acts on: C0 but newline, DEL, C1, bidi overrides and isolates
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def invoke(*args: str) -> tuple[int, str]:
    """Run the CLI; stdout and stderr together, checked for raw control characters."""
    r = runner.invoke(app, list(args))
    out = r.stdout + r.stderr
    raw = RAW.search(out)
    assert raw is None, f"raw {raw.group()!r} from {args}: {out!r}"
    return r.exit_code, out


@pytest.fixture
def hostile(trusted_device, models, tmp_path, monkeypatch):
    """The device 'pi' (group lab) with an ESC in its work folder, two models deployed (the first
    from a file whose name holds ESC and markup), their history names made hostile."""
    import edgesdk

    monkeypatch.setattr(common.console, "width", 1000)  # long names stay on one line
    monkeypatch.setattr(common.err_console, "width", 1000)
    workdir = tmp_path / WORKDIR_NAME
    Inventory().update("pi", workdir=str(workdir), groups=("lab",))
    model = tmp_path / FILE_NAME
    shutil.copy(models["a"], model)
    edgesdk.deploy(model, "pi")
    edgesdk.deploy(models["b"], "pi")
    edit_history(workdir, name=[OLDER, HOSTILE])
    return workdir, model


def test_fleet_status_shows_device_strings_as_text(hostile):
    code, out = invoke("fleet", "status", "--group", "lab")
    assert code == 0 and HOSTILE_SHOWN in out, out
    # --json keeps the raw name, every control character escaped by JSON
    r = runner.invoke(app, ["fleet", "status", "--group", "lab", "--json"])
    assert r.exit_code == 0 and RAW.search(r.stdout) is None and "\\u001b" in r.stdout, r.stdout
    assert json.loads(r.stdout)["devices"][0]["current"]["name"] == HOSTILE


def test_deploy_rollback_and_device_show_device_strings_as_text(hostile, models):
    workdir, model = hostile
    code, out = invoke("deploy", str(models["b"]), "--device", "pi")  # named by the device
    assert code == 0 and f"pi: {HOSTILE_SHOWN} (sha256" in out and "already deployed" in out
    code, out = invoke("deploy", str(model), "--device", "pi")  # named by the file
    assert code == 0 and f"switched {FILE_SHOWN}" in out and WORKDIR_SHOWN in out, out
    code, out = invoke("rollback", "--device", "pi")
    assert code == 0 and f"rolled back to {HOSTILE_SHOWN}" in out, out
    code, out = invoke("device", "list")
    assert code == 0 and WORKDIR_SHOWN in out, out
    code, out = invoke("device", "check", "pi")
    assert WORKDIR_SHOWN in out, out
    # an error that quotes the device's history: one line, shown as text
    code, out = invoke("deploy", str(model), "--device", "pi")  # two versions again
    assert code == 0, out
    edit_history(workdir, file=[FILE_NAME])  # the version to roll back to: a hostile file name
    code, out = invoke("rollback", "--device", "pi")
    assert code == 1 and out.count("\n") == 1 and FILE_SHOWN in out, out


def test_benchmark_shows_file_names_and_device_errors_as_text(hostile, models):
    _, model = hostile
    code, out = invoke("benchmark", str(model), "--device", "pi", "--runs", "3", "--warmup", "1")
    title = "".join(out.split())  # a table's title wraps at the table's width
    assert code == 0 and f"{FILE_SHOWN}onpi" in title, out
    # the device's shell answers with the (hostile) interpreter path it could not run
    Inventory().update("pi", python="/nonexistent/" + OLDER)
    code, out = invoke("benchmark", str(model), "--device", "pi", "--runs", "3")
    assert code == 1 and OLDER_SHOWN in out and out.count("\n") == 1, out
    code, out = invoke("benchmark", str(model), "--group", "lab", "--runs", "3")
    assert code == 4 and OLDER_SHOWN in out, out  # the fleet table's error column


def test_live_states_log_lines_and_the_console_net():
    import io
    import logging

    from rich.console import Console
    from rich.text import Text

    from edgesdk.cli.live import FleetDisplay

    def rendered(console_class: type, renderable: object) -> str:
        buffer = io.StringIO()
        console_class(file=buffer, width=1000, color_system=None).print(renderable)
        return buffer.getvalue()

    display = FleetDisplay(["pi"], enabled=False)  # the live table of fleet commands
    display.update("pi", "failed: " + HOSTILE + " [/x]")  # an error quoting a device
    out = rendered(Console, display._table())  # made safe by live.py itself
    assert RAW.search(out) is None and HOSTILE_SHOWN + " [/x]" in out, out
    # the net under the CLI's consoles: raw text that was not made safe is shown escaped
    out = rendered(common.SafeConsole, Text("raw " + HOSTILE))
    assert RAW.search(out) is None and r"raw \x1b]8;;http://x" in out, out
    common.setup_logging(False)  # log lines can quote a device's output
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    logging.getLogger("edgesdk.devices.ssh").error("device said %s", HOSTILE)
    assert RAW.search(stream.getvalue()) is None and HOSTILE_SHOWN in stream.getvalue()

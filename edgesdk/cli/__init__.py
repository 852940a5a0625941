"""The typer app `edgesdk`: one small module per command group, no logic beyond mapping."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer

from edgesdk import __version__
from edgesdk.cli import (
    benchmark_cmd,
    compress_cmd,
    coreml_cmd,
    demo_cmd,
    deploy_cmd,
    device_cmd,
    emulate_cmd,
    evaluate_cmd,
    export_cmd,
    flags,
    fleet_cmd,
    inspect_cmd,
    package_cmd,
    quantize_cmd,
    report_cmd,
    run_cmd,
    targets_cmd,
)
from edgesdk.cli.common import setup_logging

app = typer.Typer(
    name="edgesdk",
    help="Compress, quantize, export and deploy Keras / TensorFlow models to edge devices.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgesdk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show logs and tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    setup_logging(debug)


app.command("compress")(compress_cmd.compress)
app.command("quantize")(quantize_cmd.quantize)
app.command("export-c")(export_cmd.export_c)
app.command("emulate")(emulate_cmd.emulate)
app.command("inspect")(inspect_cmd.inspect)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("report")(report_cmd.report)
app.command("demo")(demo_cmd.demo)
app.command("deploy")(deploy_cmd.deploy)
app.command("rollback")(deploy_cmd.rollback)
app.command("benchmark")(benchmark_cmd.benchmark)
app.add_typer(targets_cmd.app, name="targets")
app.add_typer(device_cmd.app, name="device")
app.add_typer(fleet_cmd.app, name="fleet")
app.command("package")(package_cmd.package)
app.command("export-coreml")(coreml_cmd.export_coreml)
app.command("run")(run_cmd.run)
app.command("init")(run_cmd.init)
flags.register(app)  # each command's path, for the flags its errors name


class Interrupted(BaseException):  # noqa: N818 - a signal, not an error
    """SIGTERM or SIGINT arrived: unwind (temporary folders go), then exit 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    """Stop what runs outside this process first (worker children, remote processes: threads
    may be waiting on them), then unwind this one."""
    from edgesdk._worker.parent import kill_children

    kill_children()
    if "edgesdk.devices.ssh" in sys.modules:
        sys.modules["edgesdk.devices.ssh"].stop_remote_processes()
    raise Interrupted(signum)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_signal)
    try:
        app()
    except Interrupted as e:
        sys.stderr.write(f"\nedgesdk: stopped by {signal.Signals(e.signum).name}\n")
        sys.exit(128 + e.signum)

"""The library names API options, the CLI shows its flags: the table in ``edgesdk.cli.flags``
is real (every flag exists on its command), the translation, and flags reaching the user for
library errors and warnings while the API's message names the option."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app, flags
from edgesdk.cli.flags import COMMAND_FLAGS, FLAGS, cli_message, cli_text
from edgesdk.core.profiles import load_profile
from edgesdk.errors import (
    ConfigError,
    EdgeSdkError,
    ExportError,
    UnknownHostKeyError,
    WorkerCrashedError,
)

runner = CliRunner()


def command_flags() -> dict[str, set[str]]:
    """Every command path ("device add") and the long flags it takes."""
    found: dict[str, set[str]] = {}

    def walk(command: object, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = {
                opt
                for p in command.params
                if p.param_type_name == "option"
                for opt in (*p.opts, *p.secondary_opts)
            }

    walk(typer.main.get_command(app), [])
    return found


def test_every_flag_of_the_table_is_a_flag_of_its_commands():
    commands = command_flags()
    assert {"quantize", "export-c", "device add", "fleet ansible"} <= set(commands)
    for option, flag in FLAGS.items():
        assert any(flag in flags for flags in commands.values()), (option, flag)
    for command, table in COMMAND_FLAGS.items():
        assert command in commands, command
        for option, flag in table.items():
            assert flag in commands[command], (command, option, flag)
            assert FLAGS.get(option) != flag, f"{option}: the same as FLAGS, not a difference"


def test_every_command_knows_its_path():
    """What selects a command's row of COMMAND_FLAGS while it runs."""
    assert sorted(flags._PATHS.values()) == sorted(command_flags())


@pytest.mark.parametrize(
    "message, command, shown",
    [
        (
            "needs both `max_accuracy_drop` and labelled `eval_data`",
            "quantize",
            "needs both --max-accuracy-drop and labelled --eval-data",
        ),
        ('quantize with `io="int8"`', "export-c", "quantize with --io int8"),
        ("use `force=True` to write anyway", "export-c", "use --force to write anyway"),
        ("e.g. `mean=0, std=255` for [0, 1]", "package", "e.g. --mean 0 --std 255 for [0, 1]"),
        ("the `version` field", "package", "the --model-version field"),
        ("the `version` field", "quantize", "the `version` field"),  # not a quantize option
        ("`mean, size` and `details['log']`", "quantize", "`mean, size` and `details['log']`"),
        ("no options here (x - 1) / 2", "quantize", "no options here (x - 1) / 2"),
    ],
)
def test_option_names_become_the_commands_flags(message, command, shown):
    assert cli_text(message, command) == shown


def test_cli_hints_only_where_the_cli_can_do_more():
    crash = WorkerCrashedError("x crashed (SIGSEGV); nothing was written", signal="SIGSEGV")
    assert cli_message(crash) == str(crash)  # no log: nothing to see with --debug
    crash.details["log"] = "the end of the log"
    assert cli_message(crash) == f"{crash} (run with --debug to see its log)"
    exited = WorkerCrashedError("x exited with code 3", exit_code=3, details={"log": "..."})
    assert cli_message(exited) == str(exited)
    unknown = UnknownHostKeyError("[127.0.0.1]:22", "ssh-ed25519", "SHA256:abc")
    assert cli_message(unknown).endswith(
        "(to trust it: edgesdk device trust DEVICE --fingerprint SHA256:abc)"
    )


def _error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _api_error(call, *args, **kwargs) -> EdgeSdkError:
    with pytest.raises(EdgeSdkError) as info:
        call(*args, **kwargs)
    assert "--" not in str(info.value), str(info.value)
    return info.value


def test_normalization_names_mean_and_std(tmp_path):
    line = _error_line(
        runner.invoke(app, ["quantize", "m.keras", "-o", str(tmp_path / "m.tflite"), "--mean", "1"])
    )
    assert "Invalid normalization: --mean and --std must be given together" in line
    error = _api_error(edgesdk.Normalization, mean=(1.0,))
    assert "`mean` and `std` must be given together" in str(error) and error.what == "mean"


def test_a_pruning_budget_names_prune(tmp_path):
    args = ["compress", "m.keras", "-d", "d.npz", "-o", str(tmp_path / "o.keras")]
    line = _error_line(runner.invoke(app, [*args, "--cluster", "8", "--max-accuracy-drop", "1"]))
    assert "An accuracy budget (--max-accuracy-drop) chooses per-layer pruning" in line
    assert line.endswith("it needs --prune (a target sparsity)")
    error = _api_error(edgesdk.CompressOptions, cluster=8, max_accuracy_drop=0.01)
    assert isinstance(error, ConfigError) and error.what == "prune"
    assert "it needs `prune` (a target sparsity)" in str(error)


def test_a_malformed_sweep_names_sweep(tmp_path):
    model = tmp_path / "m.tflite"
    line = _error_line(runner.invoke(app, ["benchmark", str(model), "--sweep", "cores=1"]))
    assert line.startswith("error: Invalid --sweep 'cores=1' (expected AXIS=V1,V2")
    error = _api_error(edgesdk.benchmark_sweep, model, ["cores=1"])
    assert str(error).startswith("Invalid `sweep` 'cores=1'") and error.what == "sweep"


def test_report_names_save(tmp_path):
    line = _error_line(runner.invoke(app, ["report", str(tmp_path)]))
    assert "or JSON saved with --save by compress, evaluate and benchmark)" in line
    error = _api_error(edgesdk.report, tmp_path)
    assert "JSON saved with `save` by" in str(error) and error.what == "folder"


def _profile_with_tiny_memory(tmp_path):
    """linux-x86_64 (float models allowed) with a microcontroller's flash and RAM budgets."""
    data = load_profile("linux-x86_64").to_dict(with_source=False)
    data["name"] = "tiny-linux"
    data["memory"] = {**(data.get("memory") or {}), "ram_bytes": 8192, "flash_bytes": 65536}
    lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in value.items() if v is not None]
    path = tmp_path / "tiny.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_export_c_names_io_and_force_in_errors_and_warnings(tmp_path, models):
    # a float model on an integer-only target: the I/O row's reason names the io option
    out = tmp_path / "mcu"
    line = _error_line(
        runner.invoke(
            app, ["export-c", str(models["a"]), "-t", "arduino-nano-33-ble", "-o", str(out)]
        )
    )
    assert "needs int8 I/O (quantize with --io int8)" in line and not out.exists()
    error = _api_error(edgesdk.export_c, models["a"], out, target="arduino-nano-33-ble")
    assert isinstance(error, ExportError) and '(quantize with `io="int8"`)' in str(error)

    # a folder with files: force
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    line = _error_line(runner.invoke(app, ["export-c", str(models["a"]), "-o", str(busy)]))
    assert line.endswith("use --force to replace it")
    assert "use `force=True` to replace it" in str(_api_error(edgesdk.export_c, models["a"], busy))

    # over the budgets: an error naming --force, then warnings (rendered) naming it
    profile = _profile_with_tiny_memory(tmp_path)
    args = ["export-c", str(models["big"]), "-t", str(profile), "--no-verify"]
    line = _error_line(runner.invoke(app, [*args, "-o", str(tmp_path / "over")]))
    assert "budget of tiny-linux" in line and line.endswith("use --force to write anyway")
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "forced"), "--force"])
    assert r.exit_code == 0, r.output
    assert r.output.count("written anyway (--force)") == 2 and "`force" not in r.output
    result = edgesdk.export_c(
        models["big"], tmp_path / "api", target=profile, verify=False, force=True
    )
    assert [w.endswith("written anyway (`force=True`)") for w in result.warnings] == [True, True]

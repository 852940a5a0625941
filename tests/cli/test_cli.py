"""The CLI as a user meets it: help without TensorFlow, one-line errors, no partial output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgesdk.cli import app


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom edgesdk.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
        "assert 'keras' not in sys.modules, 'keras imported'\nprint('LIGHT')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert "LIGHT" in r.stdout and "quantize" in r.stdout and "inspect" in r.stdout


def test_console_script_runs():
    exe = Path(sys.executable).parent / "edgesdk"
    assert exe.is_file(), "the edgesdk console script is not installed next to python"
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("edgesdk ")


def test_usage_errors_exit_2():
    r = CliRunner().invoke(app, ["quantize", "m.keras", "-o", "x.tflite", "--mode", "int4"])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["quantize", "m.keras"])  # -o missing
    assert r.exit_code == 2


@pytest.fixture
def bad_inputs(tmp_path, digits):
    x = digits[0][:60]
    files = {}
    files["not_model"] = tmp_path / "notes.keras"
    files["not_model"].write_text("this is not a model")
    files["empty_dir"] = tmp_path / "empty"
    files["empty_dir"].mkdir()
    files["wrong_shape"] = tmp_path / "wrong.npy"
    np.save(files["wrong_shape"], x.reshape(60, 64))
    nan = x.copy()
    nan[5, 0, 0, 0] = np.inf
    files["nan"] = tmp_path / "nan.npy"
    np.save(files["nan"], nan)
    files["constant"] = tmp_path / "const.npy"
    np.save(files["constant"], np.full((60, 8, 8, 1), 0.5, np.float32))
    files["good"] = tmp_path / "good.npy"
    np.save(files["good"], x)
    files["profile"] = tmp_path / "typo.toml"
    files["profile"].write_text(
        'schema_version = 1\nname = "t"\ndescription = "t"\nkind = "mcu"\narch = "a"\ncpu = "c"\n'
        "[memory]\nram_bytes = 1000\nflsh_bytes = 2000\n"
    )
    files["file"] = tmp_path / "plain.txt"
    files["file"].write_text("x")
    return files


@pytest.mark.parametrize(
    "case,model,args,message",
    [
        ("missing model", "missing", ["-d", "good"], "Model not found"),
        ("not a model", "not_model", ["-d", "good"], "Not a Keras model"),
        ("unknown target", "cnn", ["-d", "good", "-t", "nucleo-h7"], "Unknown target 'nucleo-h7'"),
        ("profile typo", "cnn", ["-d", "good", "-t", "profile"], "Unknown key 'flsh_bytes'"),
        ("empty data folder", "cnn", ["-d", "empty_dir"], "No images in data folder"),
        ("wrong shape", "cnn", ["-d", "wrong_shape"], "has shape (N, 64); expected (N, 8, 8, 1)"),
        ("nan data", "cnn", ["-d", "nan"], "NaN/inf values"),
        ("constant data", "cnn", ["-d", "constant"], "is constant"),
        ("output under a file", "cnn", ["-d", "good", "--out-under-file"], "is not a folder"),
        ("output not writable", "cnn", ["-d", "good", "--out-proc"], "not writable"),
        ("bad mean", "cnn", ["-d", "good", "--mean", "1", "--std", "0"], "must be non-zero"),
    ],
)
def test_user_mistakes_give_one_line_and_no_output(
    tmp_path, bad_inputs, trained_cnn, case, model, args, message
):
    paths = {
        **{k: str(v) for k, v in bad_inputs.items()},
        "cnn": str(trained_cnn),
        "missing": str(tmp_path / "missing.keras"),
    }
    out = tmp_path / "out" / "model.tflite"
    cli_args = ["quantize", paths[model], "-o", str(out)]
    for a in args:
        if a == "--out-under-file":
            cli_args[3] = str(bad_inputs["file"] / "model.tflite")
        elif a == "--out-proc":
            cli_args[3] = "/proc/edgesdk-test/model.tflite"
        else:
            cli_args.append(paths.get(a, a))
    r = CliRunner().invoke(app, cli_args)
    assert r.exit_code == 1, (case, r.output)
    assert message in r.stderr, (case, r.stderr)
    assert r.stderr.strip().count("\n") == 0, (case, r.stderr)
    assert "Traceback" not in r.output
    assert not out.exists() and not out.parent.exists()


def test_failure_keeps_existing_output(tmp_path, trained_cnn, bad_inputs):
    out = tmp_path / "outdir" / "keep.tflite"
    out.parent.mkdir()
    out.write_bytes(b"previous model")
    r = CliRunner().invoke(
        app, ["quantize", str(trained_cnn), "-d", str(bad_inputs["nan"]), "-o", str(out)]
    )
    assert r.exit_code == 1
    assert out.read_bytes() == b"previous model"
    assert [p.name for p in out.parent.iterdir()] == ["keep.tflite"]


def test_debug_shows_traceback(tmp_path):
    r = CliRunner().invoke(app, ["--debug", "inspect", str(tmp_path / "none.tflite")])
    assert r.exit_code != 0 and r.exception is not None


def test_api_verbs_stay_callable_after_every_module_is_imported():
    import importlib
    import pkgutil

    import edgesdk

    for info in pkgutil.walk_packages(edgesdk.__path__, "edgesdk."):
        if info.name != "edgesdk.devices.runner":
            importlib.import_module(info.name)
    for verb in edgesdk._API:
        assert callable(getattr(edgesdk, verb)), f"edgesdk.{verb} is shadowed by a submodule"

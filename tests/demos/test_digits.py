"""`edgesdk demo`: the main job on the built-in default."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgesdk.cli import app
from edgesdk.tflite.model_info import inspect_file


def test_demo_trains_quantizes_and_compares(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--out", str(out), "--epochs", "15", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for artifact in result["artifacts"]:
        assert Path(artifact).is_file(), artifact
    assert result["target"] == "arduino-nano-33-ble" and result["test_samples"] == 360
    assert result["float_accuracy"] > 0.85
    assert abs(result["int8_accuracy"] - result["float_accuracy"]) <= 0.02
    info = inspect_file(out / "digits_cnn_int8.tflite")
    assert [t.dtype for t in info.io_tensors()[0]] == ["int8"] and info.float_ops() == []
    export = result["export"]
    assert export["verified"] and export["parity"][0]["max_lsb"] <= 1
    assert (out / "firmware" / "digits_cnn_int8_model.cc").is_file()
    saved = json.loads((out / "demo.json").read_text())
    assert saved["int8_accuracy"] == result["int8_accuracy"]

"""`edgesdk demo --framework torch`: the digits CNN trained in PyTorch, through the same steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("litert_torch", reason="PyTorch tests need edgesdk[torch]")

from typer.testing import CliRunner  # noqa: E402

from edgesdk.cli import app  # noqa: E402
from edgesdk.tflite.model_info import inspect_file  # noqa: E402

pytestmark = pytest.mark.torch


def test_torch_demo_trains_quantizes_and_exports(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(
        app, ["demo", "--framework", "torch", "--out", str(out), "--epochs", "10", "--json"]
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for artifact in result["artifacts"]:
        assert Path(artifact).is_file(), artifact
    assert (out / "digits_cnn.pt2").is_file() and result["test_samples"] == 360
    assert result["float_accuracy"] > 0.9
    assert abs(result["int8_accuracy"] - result["float_accuracy"]) <= 0.02
    q = result["quantization"]
    assert q["model_loader"] == "torch_program" and q["extra"]["layout"]["tflite"] == "NHWC"
    info = inspect_file(out / "digits_cnn_int8.tflite")
    assert [t.dtype for t in info.io_tensors()[0]] == ["int8"] and info.float_ops() == []
    assert result["export"]["verified"] and result["export"]["parity"][0]["max_lsb"] <= 1


def test_an_unknown_framework_is_one_line(tmp_path):
    r = CliRunner().invoke(app, ["demo", "--framework", "jax", "--out", str(tmp_path / "d")])
    assert r.exit_code == 1 and "framework='jax'" in r.output and "keras, torch" in r.output
    assert not (tmp_path / "d").exists()

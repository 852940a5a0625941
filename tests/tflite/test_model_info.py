"""Inspection of .tflite files through LiteRT's flatbuffer schema."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import InspectionError
from edgesdk.tflite.model_info import inspect_bytes


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory, trained_cnn, digits_npz):
    out = tmp_path_factory.mktemp("inspect") / "cnn.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, out, target="stm32f746-disco")
    return out


def test_inspect_int8_model(int8_model):
    info = edgesdk.inspect(int8_model)
    assert info.size_bytes == int8_model.stat().st_size
    assert 0 < info.weights_bytes < info.size_bytes and info.graph_bytes > 0
    assert info.signatures["serving_default"]["inputs"] == ["digit"]
    assert all(v >= 1 for v in info.op_versions().values())
    conv = next(op for op in info.main.ops if op.name == "CONV_2D")
    weights = info.main.tensors[conv.inputs[1]]
    assert weights.dtype == "int8" and weights.is_constant and len(weights.scale) == 32
    assert weights.quantized_dimension == 0 and set(weights.zero_point) == {0}
    # weight bytes: every int8 conv kernel element is stored once
    assert weights.data_bytes == 32 * 3 * 3 * 1


def test_inspect_cli_json_and_table(int8_model):
    r = CliRunner().invoke(app, ["inspect", str(int8_model), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["inputs"][0]["dtype"] == "int8" and data["float_ops"] == []
    assert data["subgraphs"][0]["tensors"] and data["op_counts"]["CONV_2D"] == 2
    r = CliRunner().invoke(app, ["inspect", str(int8_model), "--tensors"])
    assert r.exit_code == 0 and "DEPTHWISE_CONV_2D" in r.stdout


def test_truncated_and_foreign_files(tmp_path, int8_model):
    data = int8_model.read_bytes()
    for cut in (12, len(data) // 2, len(data) - 3):
        with pytest.raises(InspectionError, match="Corrupt or truncated|Truncated"):
            inspect_bytes(data[:cut], "cut")
    with pytest.raises(InspectionError, match="Not a TFLite model"):
        inspect_bytes(b"PK\x03\x04 a zip file, not a model", "zip")
    bad = tmp_path / "half.tflite"
    bad.write_bytes(data[: len(data) // 2])
    r = CliRunner().invoke(app, ["inspect", str(bad)])
    assert r.exit_code == 1 and "truncated" in r.stderr and r.stderr.strip().count("\n") == 0
    r = CliRunner().invoke(app, ["inspect", str(tmp_path / "nothing.tflite")])
    assert r.exit_code == 1 and "No such .tflite file" in r.stderr


def test_inspect_shows_the_recorded_input_layout(int8_model, tmp_path):
    """A model with an edgesdk_layout record (what a PyTorch model's conversion writes): inspect's
    result, JSON and table say the layout; a model without one says nothing of it."""
    from edgesdk.tflite.layout_record import LayoutRecord, add_layout

    record = LayoutRecord("pytorch", "NCHW", "NHWC", (1, 1, 8, 8), (1, 8, 8, 1))
    tagged = tmp_path / "tagged.tflite"
    tagged.write_bytes(add_layout(int8_model.read_bytes(), record))
    assert edgesdk.inspect(tagged).layout == record
    assert edgesdk.inspect(int8_model).layout is None
    r = CliRunner().invoke(app, ["inspect", str(tagged), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["layout"]["from"] == "NCHW"
    r = CliRunner().invoke(app, ["inspect", str(tagged)])
    words = " ".join(r.output.split())  # the table wraps long cells
    assert r.exit_code == 0, words
    assert "input layout NHWC [1, 8, 8, 1]: converted from the PyTorch" in words, words
    r = CliRunner().invoke(app, ["inspect", str(int8_model)])
    assert r.exit_code == 0 and "input layout" not in r.output, r.output

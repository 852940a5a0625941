"""Core ML export: the written .mlpackage's spec (no prediction: Core ML needs macOS)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ConfigError, ExportError, ModelError, PackagingError
from edgesdk.mobile.coreml import inspect_spec


@pytest.fixture(scope="module")
def exported(rgb_cnn, labels_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("coreml") / "Digits.mlpackage"
    return out, edgesdk.export_coreml(rgb_cnn, out, labels=labels_file, mean=0, std=255)


def test_spec_has_image_input_labels_and_float16_weights(exported):
    out, result = exported
    spec = inspect_spec(out)
    assert spec["input"] == {
        "name": "image", "type": "imageType", "width": 24, "height": 24, "color": "RGB",
    }  # fmt: skip
    assert spec["outputs"][0] == "classLabel" and len(spec["outputs"]) == 2
    assert {"conv", "max_pool", "linear", "softmax", "classify"} <= set(spec["op_counts"])
    assert spec["weights"].get("float16", 0) >= 6  # 2 conv kernels + biases, dense W and b
    assert "float32" not in spec["weights"]  # no float32 weight left: float16 compute
    assert result.labels_count == 10 and result.deployment_target == "iOS15"
    assert result.precision == "float16" and "need macOS" in " ".join(result.notes)
    assert result.to_dict()["weights"] == spec["weights"]


def test_cli_export_and_refusals(rgb_cnn, saved_model_dir, tmp_path):
    out = tmp_path / "M.mlpackage"
    r = CliRunner().invoke(app, ["export-coreml", str(rgb_cnn), "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["outputs"] == ["scores"] and data["input"]["width"] == 24 and out.is_dir()
    r = CliRunner().invoke(app, ["export-coreml", str(rgb_cnn), "-o", str(out)])
    assert r.exit_code == 1 and "already has files" in r.stderr  # nothing replaced
    with pytest.raises(ModelError, match="not a model.export\\(\\) SavedModel"):
        edgesdk.export_coreml(saved_model_dir, tmp_path / "s.mlpackage")
    with pytest.raises(ConfigError, match="Core ML profile"):
        edgesdk.export_coreml(rgb_cnn, tmp_path / "t.mlpackage", target="android-arm64")
    with pytest.raises(ConfigError, match="single value"):
        edgesdk.export_coreml(rgb_cnn, tmp_path / "u.mlpackage", mean=(1, 2, 3))
    nine = tmp_path / "nine.txt"
    nine.write_text("\n".join("abcdefghi"))
    with pytest.raises(PackagingError, match="has 9 labels"):
        edgesdk.export_coreml(rgb_cnn, tmp_path / "v.mlpackage", labels=nine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M.mlpackage", "nine.txt"]


def test_non_image_model_refused(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(4)])
    with pytest.raises(ExportError, match="Not an image classifier"):
        edgesdk.export_coreml(model, tmp_path / "d.mlpackage")
    assert not any(tmp_path.iterdir())

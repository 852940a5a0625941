"""`edgesdk run` for iOS: export-coreml on the RGB digits classifier (real coremltools; its
spec read back, no prediction: Core ML needs macOS); new labels re-export."""

from __future__ import annotations

import json
import shutil

import edgesdk
from edgesdk.mobile.coreml import inspect_spec

TOML = """
model = "rgb.keras"

[targets.iphone]
profile = "ios-coreml"
stages = ["export-coreml"]

[targets.iphone.export-coreml]
labels = "labels.txt"
mean = 0
std = {std}
"""


def test_export_coreml_in_a_pipeline(rgb_cnn, labels_file, tmp_path):
    shutil.copy(rgb_cnn, tmp_path / "rgb.keras")
    shutil.copy(labels_file, tmp_path / "labels.txt")
    toml = tmp_path / "edgesdk.toml"
    toml.write_text(TOML.format(std=255))

    first = edgesdk.run(toml)
    assert [(s.name, s.status) for s in first.stages] == [("export-coreml", "ran")]
    folder = tmp_path / "edgesdk-run" / "iphone"
    spec = inspect_spec(folder / "model.mlpackage")
    assert spec["input"]["type"] == "imageType" and spec["outputs"][0] == "classLabel"
    saved = json.loads((folder / "export-coreml.json").read_text())
    assert saved["labels_count"] == 10 and saved["weights"] == spec["weights"]

    assert [s.status for s in edgesdk.run(toml).stages] == ["cached"]
    (tmp_path / "labels.txt").write_text("\n".join(f"digit {n}" for n in range(10)) + "\n")
    relabelled = edgesdk.run(toml)
    assert [(s.status, s.reason) for s in relabelled.stages] == [("ran", "inputs changed: labels")]
    toml.write_text(TOML.format(std=127.5))
    rescaled = edgesdk.run(toml)
    assert [(s.status, s.reason) for s in rescaled.stages] == [("ran", "options changed: std")]
    assert inspect_spec(folder / "model.mlpackage")["input"]["type"] == "imageType"
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".mlpackage")) == [
        "model.mlpackage"
    ]  # replaced, nothing left beside it

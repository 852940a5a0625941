"""`edgesdk run` for a phone: quantize -> package (metadata with the labels packed inside) on
the RGB digits classifier; a new labels file re-packages only."""

from __future__ import annotations

import shutil

import edgesdk
from edgesdk.mobile_api import inspect_mobile

TOML = """
model = "rgb.keras"
data = "calibration.npz"

[targets.phone]
profile = "android-arm64"
stages = ["quantize", "package"]

[targets.phone.package]
labels = "labels.txt"
name = "digits"
"""


def test_quantize_and_package_for_a_phone(rgb_cnn, calibration_npz, labels_file, tmp_path):
    shutil.copy(rgb_cnn, tmp_path / "rgb.keras")
    shutil.copy(calibration_npz, tmp_path / "calibration.npz")
    shutil.copy(labels_file, tmp_path / "labels.txt")
    (tmp_path / "edgesdk.toml").write_text(TOML)

    first = edgesdk.run(tmp_path / "edgesdk.toml")
    assert [(s.name, s.status) for s in first.stages] == [("quantize", "ran"), ("package", "ran")]
    packaged = tmp_path / "edgesdk-run" / "phone" / "mobile" / "model.tflite"
    meta = inspect_mobile(packaged).metadata
    assert meta is not None and meta.labels == tuple(labels_file.read_text().split())

    renamed = [f"class {n}" for n in labels_file.read_text().split()]
    (tmp_path / "labels.txt").write_text("\n".join(renamed) + "\n")
    second = edgesdk.run(tmp_path / "edgesdk.toml")
    assert [(s.name, s.status, s.reason) for s in second.stages] == [
        ("quantize", "cached", "inputs, options, profile and tool versions unchanged"),
        ("package", "ran", "inputs changed: labels"),
    ]
    assert inspect_mobile(packaged).metadata.labels == tuple(renamed)

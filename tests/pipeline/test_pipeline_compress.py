"""`edgesdk run` with compress before quantize and a report at the end, on the digits CNN
(real tfmot worker, 1 epoch): quantize takes the compressed model; a changed compress option
or training file re-runs compress and what follows, a changed calibration file does not."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

import edgesdk
from edgesdk.core.manifest import sha256_path

TOML = """
model = "digits.keras"
data = "calib.npy"

[targets.host]
profile = "linux-x86_64"
stages = ["compress", "quantize", "report"]

[targets.host.compress]
data = "train.npz"
validation = "val.npz"
prune = {prune}
max_accuracy_drop = 0.5
epochs = 1
learning_rate = 0.001

[targets.host.quantize]
samples = 50
"""
CACHED = "inputs, options, profile and tool versions unchanged"


def statuses(result: edgesdk.PipelineResult) -> list[tuple[str, str, str]]:
    return [(s.name, s.status, s.reason) for s in result.stages]


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained_cnn, digits, split_npz):
    folder = tmp_path_factory.mktemp("pipeline-compress")
    shutil.copy(trained_cnn, folder / "digits.keras")
    shutil.copy(split_npz[0], folder / "train.npz")
    shutil.copy(split_npz[1], folder / "val.npz")
    np.save(folder / "calib.npy", digits[0][:60])
    (folder / "edgesdk.toml").write_text(TOML.format(prune=0.5))
    return folder


def test_compress_feeds_quantize_and_the_report_renders_both(project, digits, capsys):
    toml = project / "edgesdk.toml"
    start = time.perf_counter()
    first = edgesdk.run(toml)
    cold = time.perf_counter() - start
    assert [(s.name, s.status) for s in first.stages] == [
        ("compress", "ran"), ("quantize", "ran"), ("report", "ran"),
    ]  # fmt: skip
    host = project / "edgesdk-run" / "host"
    compressed = host / "compressed.keras"
    manifest = json.loads((host / "model.tflite.manifest.json").read_text())
    assert manifest["inputs"]["model"]["sha256"] == sha256_path(compressed)  # not the original
    assert sha256_path(compressed) != sha256_path(project / "digits.keras")
    compress_manifest = json.loads((host / "compressed.keras.manifest.json").read_text())
    search = compress_manifest["result"]["extra"]["prune_search"]  # the budget was searched
    assert search is not None and any(a["fits"] for a in search["attempts"])
    metrics = dict(first.stages[0].metrics)
    assert 0.0 < metrics["compressed_accuracy"] <= 1.0
    md = (host / "report" / "report.md").read_text()
    assert "Pruning within a budget of 50 pts" in md and "model.tflite" in md

    start = time.perf_counter()
    again = edgesdk.run(toml)
    cached = time.perf_counter() - start
    assert statuses(again) == [(n, "cached", CACHED) for n in ("compress", "quantize", "report")]

    np.save(project / "calib.npy", digits[0][60:120])  # calibration only: compress holds
    calib = edgesdk.run(toml)
    assert [(s.name, s.status) for s in calib.stages] == [
        ("compress", "cached"), ("quantize", "ran"), ("report", "ran"),
    ]  # fmt: skip
    assert calib.stages[1].reason == "inputs changed: data"
    assert calib.stages[2].reason.startswith("inputs changed: ")
    assert "model.tflite" in calib.stages[2].reason

    toml.write_text(TOML.format(prune=0.4))  # a compress option: compress and what follows
    changed = edgesdk.run(toml)
    assert [(s.name, s.status, s.reason) for s in changed.stages[:2]] == [
        ("compress", "ran", "options changed: prune"),
        ("quantize", "ran", "inputs changed: model"),
    ]
    assert changed.stages[2].status == "ran"
    with capsys.disabled():
        print(f"\n[pipeline compress] cold run {cold:.1f} s, cached run {cached:.2f} s")


def test_a_changed_training_file_reruns_compress(project, digits, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    x, y = digits[0], digits[2]
    np.savez(copy / "train.npz", x=x[::-1], y=y[::-1])  # the same samples, another order
    result = edgesdk.run(copy / "edgesdk.toml", stage="compress")
    assert statuses(result) == [("compress", "ran", "inputs changed: data")]

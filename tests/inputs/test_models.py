"""Legacy Keras 2 .h5 files that Keras 3 refuses: loaded with tf_keras by every command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ModelError

runner = CliRunner()


@pytest.fixture(scope="module")
def digits_eval_npz(tmp_path_factory, digits):
    _, x_test, _, y_test = digits
    path = tmp_path_factory.mktemp("legacy") / "eval.npz"
    np.savez(path, x=x_test, y=y_test)
    return path


def test_the_fixture_is_refused_by_keras3(keras2_depthwise_h5):
    import keras

    with pytest.raises(Exception, match="groups"):
        keras.saving.load_model(str(keras2_depthwise_h5), compile=False)


def test_quantize_loads_it_with_tf_keras_and_says_so(keras2_depthwise_h5, digits_npz, tmp_path):
    out = tmp_path / "legacy_int8.tflite"
    result = edgesdk.quantize(keras2_depthwise_h5, digits_npz, out, target="esp32-s3")
    assert result.model_loader == "tf_keras"
    assert result.fidelity[0].top1_agreement >= 0.9
    assert "DEPTHWISE_CONV_2D" in result.op_counts
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["result"]["model_loader"] == "tf_keras"


def test_budget_search_and_evaluate_take_it(
    keras2_depthwise_h5, digits_npz, digits_eval_npz, tmp_path
):
    out = tmp_path / "budget.tflite"
    result = edgesdk.quantize(
        keras2_depthwise_h5, digits_npz, out, target="raspberry-pi-4",
        max_accuracy_drop=0.02, eval_data=digits_eval_npz,
    )  # fmt: skip
    assert out.is_file() and result.model_loader == "tf_keras"
    evaluation = edgesdk.evaluate(keras2_depthwise_h5, [out], str(digits_eval_npz))
    runs = {r.runtime: r for r in evaluation.runs}
    assert runs["float (tf_keras)"].top1 > 0.8  # trained: far above chance
    assert abs(runs["LiteRT"].top1 - runs["float (tf_keras)"].top1) <= 0.02


def test_compress_prunes_it_and_writes_a_legacy_file(keras2_depthwise_h5, digits_npz, tmp_path):
    out = tmp_path / "pruned.h5"
    r = runner.invoke(
        app,
        ["compress", str(keras2_depthwise_h5), "-d", str(digits_npz), "-o", str(out)]
        + ["--prune", "0.5", "--epochs", "1", "--no-int8", "--json"],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["extra"]["model_loader"] == "tf_keras"
    pruned = [row for row in result["layers"] if row["layer"] == "conv2d"]
    assert pruned and pruned[0]["sparsity"] >= 0.49
    again = edgesdk.quantize(out, digits_npz, tmp_path / "p.tflite", target="esp32-s3")
    assert again.model_loader == "tf_keras"


def test_a_file_neither_loader_reads_names_both_attempts(tmp_path, digits_npz):
    import h5py

    bad = tmp_path / "weights_only.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("kernel", data=np.zeros((3, 3)))
    out = tmp_path / "x.tflite"
    with pytest.raises(ModelError) as info:
        edgesdk.quantize(bad, digits_npz, out, target="esp32-s3")
    message = str(info.value)
    assert "Keras 3 failed" in message and "tf_keras failed" in message
    assert "\n" not in message and not out.exists()

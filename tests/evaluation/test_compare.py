"""`edgesdk evaluate`: float, LiteRT, TFLite Micro and a device over SSH on the same samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory, trained_cnn, digits_npz):
    out = tmp_path_factory.mktemp("evaluate") / "cnn_int8.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, out, target="esp32-s3")
    return out


@pytest.fixture(scope="module")
def digits_test_npz(tmp_path_factory, digits):
    _, x_test, _, y_test = digits
    path = tmp_path_factory.mktemp("evaldata") / "digits_test.npz"
    np.savez(path, x=x_test, y=y_test)
    return path


def test_float_litert_and_tflm_side_by_side(trained_cnn, int8_model, digits_test_npz, tmp_path):
    saved = tmp_path / "eval.json"
    r = runner.invoke(
        app,
        [
            "evaluate",
            str(trained_cnn),
            str(int8_model),
            "--data",
            str(digits_test_npz),
            "--tflm",
            "--json",
            "--save",
            str(saved),
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert json.loads(saved.read_text()) == result
    runs = {run["runtime"]: run for run in result["runs"]}
    assert set(runs) == {"float (Keras)", "LiteRT", "TFLite Micro"}
    assert result["samples"] == 360 and result["labelled"]
    for run in runs.values():
        assert 0.3 < run["top1"] <= run["top5"] <= 1.0  # well above chance (0.1); briefly trained
        assert sum(map(sum, run["confusion"])) == 360 and len(run["confusion"]) == 10
    tflm, litert = runs["TFLite Micro"], runs["LiteRT"]
    assert tflm["max_lsb_vs_reference"] <= 1  # TFLite Micro vs LiteRT's reference kernels
    assert abs(tflm["top1"] - litert["top1"]) <= 2 / 360
    fid = tflm["fidelity"][0]
    assert fid["top1_agreement"] >= 0.97 and fid["cosine"] > 0.99 and 0 < fid["rmse"] < 0.05
    assert 0 < fid["relative_l2"] < 0.1 and fid["sqnr_db"] > 20


def test_device_over_ssh_matches_host_litert(
    trusted_device, trained_cnn, int8_model, digits_test_npz
):
    result = edgesdk.evaluate(
        trained_cnn, [int8_model], str(digits_test_npz), device="pi", limit=300
    )
    runs = {run.runtime: run for run in result.runs}
    device = runs["device pi"]
    assert device.samples == 300  # streamed in two batches of at most 256
    # same runtime (LiteRT on this machine's Python) and same inputs: the same predictions
    assert device.top1 == runs["LiteRT"].top1 and device.confusion == runs["LiteRT"].confusion
    assert device.max_lsb_vs_reference is not None


def test_unlabelled_data_gives_fidelity_only(tmp_path, trained_cnn, int8_model, digits):
    np.save(tmp_path / "x.npy", digits[1][:50])
    result = edgesdk.evaluate(trained_cnn, [int8_model], str(tmp_path / "x.npy"))
    assert not result.labelled and all(run.top1 is None for run in result.runs)
    assert result.runs[1].fidelity[0].cosine > 0.99


def test_labels_that_do_not_fit_the_output(tmp_path, trained_cnn, int8_model, digits):
    np.savez(tmp_path / "bad.npz", x=digits[1][:20], y=np.arange(20) + 5)
    r = runner.invoke(
        app, ["evaluate", str(trained_cnn), str(int8_model), "--data", str(tmp_path / "bad.npz")]
    )
    assert (
        r.exit_code == 1
        and "expected labels 0..9" in r.stderr
        and r.stderr.strip().count("\n") == 0
    )


def test_a_tflite_of_another_model_is_one_error(trained_cnn, models, digits_test_npz):
    """A float MLP's .tflite against the digits CNN: named shapes, not a numpy traceback."""
    from edgesdk.errors import ModelError

    with pytest.raises(ModelError, match=r"takes input .* of shape \['N', 16\], the float model"):
        edgesdk.evaluate(trained_cnn, [models["a"]], str(digits_test_npz), limit=20)

"""A benchmark's real inputs are checked against the model before anything runs or is uploaded:
another shape (a PyTorch model's NCHW data for its NHWC .tflite above all), float values for an
int8 input, values out of the input type's range, too few arrays: one line each. Before, the
runner reshaped and cast whatever it was given."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.devices.benchmark import BenchmarkOptions
from edgesdk.errors import BenchmarkError
from edgesdk.tflite.layout_record import LayoutRecord, add_layout


@pytest.fixture(scope="module")
def int8_models(tmp_path_factory, trained_cnn, digits_npz):
    """The digits CNN as int8 (input [1, 8, 8, 1]), plain and with a PyTorch layout record."""
    folder = tmp_path_factory.mktemp("inputs")
    plain = folder / "cnn.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, plain, target="stm32f746-disco")
    tagged = folder / "tagged.tflite"
    record = LayoutRecord("pytorch", "NCHW", "NHWC", (1, 1, 8, 8), (1, 8, 8, 1))
    tagged.write_bytes(add_layout(plain.read_bytes(), record))
    return plain, tagged


def _refused(model, array, tmp_path, name="x.npy") -> str:
    path = tmp_path / name
    np.save(path, array) if name.endswith(".npy") else np.savez(path, *array)
    with pytest.raises(BenchmarkError) as e:
        edgesdk.benchmark(model, options=BenchmarkOptions(runs=2, warmup=0, input_file=str(path)))
    assert "\n" not in str(e.value), str(e.value)
    return str(e.value)


def test_inputs_that_fit_run_with_or_without_the_batch_dimension(int8_models, tmp_path):
    plain, _ = int8_models
    for shape in ((1, 8, 8, 1), (8, 8, 1), (5, 8, 8, 1)):
        np.save(tmp_path / "ok.npy", np.zeros(shape, np.int8))
        r = edgesdk.benchmark(
            plain, options=BenchmarkOptions(runs=2, warmup=0, input_file=str(tmp_path / "ok.npy"))
        )
        assert r.to_dict()["input_source"].endswith("ok.npy")


def test_nchw_data_for_a_pytorch_models_tflite_says_transpose(int8_models, tmp_path):
    _, tagged = int8_models
    said = _refused(tagged, np.zeros((1, 1, 8, 8), np.int8), tmp_path)
    assert "(1, 1, 8, 8)" in said and "(1, 8, 8, 1) (NHWC)" in said, said
    assert "source model's NCHW layout; transpose it to NHWC" in said, said


def test_other_bad_inputs_are_one_line_each(int8_models, tmp_path):
    plain, _ = int8_models
    said = _refused(plain, np.zeros((1, 64), np.int8), tmp_path)
    assert "has shape (1, 64)" in said and "takes int8 (1, 8, 8, 1)" in said, said
    said = _refused(plain, np.zeros((1, 8, 8, 1), np.float32), tmp_path)
    assert "holds float32 values" in said and "quantize the data" in said, said
    said = _refused(plain, np.full((1, 8, 8, 1), 200, np.int16), tmp_path)
    assert "values in [200, 200]" in said and "[-128, 127]" in said, said
    said = _refused(plain, [], tmp_path, name="none.npz")
    assert "has 0 arrays; the model has 1 inputs" in said, said
    with pytest.raises(BenchmarkError, match="No such input file"):
        edgesdk.benchmark(plain, options=BenchmarkOptions(input_file=str(tmp_path / "gone.npy")))


def test_the_cli_says_it_in_one_line(int8_models, tmp_path):
    _, tagged = int8_models
    np.save(tmp_path / "nchw.npy", np.zeros((1, 1, 8, 8), np.int8))
    r = CliRunner().invoke(app, ["benchmark", str(tagged), "--input", str(tmp_path / "nchw.npy")])
    assert r.exit_code == 1 and "transpose it to NHWC" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr

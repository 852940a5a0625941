"""Quantization end to end: every mode and I/O type, model formats, fidelity, strictness, crashes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.core.options import QuantizeOptions
from edgesdk.errors import ConfigError, ConversionError
from edgesdk.tflite.model_info import inspect_file
from edgesdk.tflite.runner import TfliteRunner


def test_must_show_rpi4_int8_end_to_end(tmp_path, trained_cnn, digits_npz):
    """Conv2D, DepthwiseConv2D, BN, residual Add, GAP, Dense → int8 for raspberry-pi-4."""
    out = tmp_path / "cnn_int8.tflite"
    r = CliRunner().invoke(
        app,
        [
            "quantize",
            str(trained_cnn),
            "--target",
            "raspberry-pi-4",
            "--data",
            str(digits_npz),
            "-o",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    info = inspect_file(out)
    inputs, outputs = info.io_tensors()
    assert [t.dtype for t in inputs] == ["int8"] and [t.dtype for t in outputs] == ["int8"]
    assert info.float_ops() == [] and result["float_ops"] == []
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"} <= set(
        info.op_counts()
    )
    fid = result["fidelity"][0]
    assert fid["samples"] == 200 and result["held_out_samples"] == 200
    assert fid["top1_agreement"] >= 0.97
    assert fid["cosine"] > 0.99 and fid["sqnr_db"] > 20
    assert result["size"]["raw_bytes"] == out.stat().st_size < result["float_size"]["raw_bytes"]
    assert result["inputs"][0]["scale"] == pytest.approx(inputs[0].scale[0])


@pytest.mark.parametrize(
    "mode,io,in_dtype,act_dtype",
    [
        ("int8", "int8", "int8", "int8"),
        ("int8", "uint8", "uint8", "int8"),
        ("int8", "float32", "float32", "int8"),
        ("int16x8", "int16", "int16", "int16"),
        ("int16x8", "float32", "float32", "int16"),
        ("float16", "float32", "float32", "float32"),
        ("dynamic", "float32", "float32", "float32"),
        ("float32", "float32", "float32", "float32"),
    ],
)
def test_modes_and_io_types(tmp_path, trained_cnn, digits_npz, mode, io, in_dtype, act_dtype):
    out = tmp_path / f"{mode}_{io}.tflite"
    result = edgesdk.quantize(
        trained_cnn,
        digits_npz,
        out,
        target="linux-x86_64",
        options=QuantizeOptions(mode=mode, io=io, samples=100, eval_samples=100),
    )
    info = inspect_file(out)
    inputs, outputs = info.io_tensors()
    assert inputs[0].dtype == in_dtype and outputs[0].dtype == in_dtype
    conv = next(r for r in info.dtype_table() if r.op == "CONV_2D")
    assert conv.activations == (act_dtype,)
    if mode == "float16":
        assert "float16" in {t.dtype for t in info.main.tensors if t.is_constant}
    if mode == "dynamic":
        fc = next(r for r in info.dtype_table() if r.op == "FULLY_CONNECTED")
        assert "int8" in fc.weights and fc.float_compute  # hybrid: float compute, int8 weights
    if mode in ("int8", "int16x8"):
        assert result.float_ops == ()
    fid = result.fidelity[0]
    assert fid.top1_agreement >= 0.95 and fid.cosine > 0.99
    if mode == "float32":  # not quantized: the Keras float model, to float rounding
        assert result.float_size == result.size and "QUANTIZE" not in result.op_counts
        assert fid.top1_agreement == 1.0 and fid.max_abs_error < 1e-4
    if io in ("int8", "uint8"):
        assert fid.max_abs_error_lsb is not None and fid.output_scale == pytest.approx(
            outputs[0].scale[0]
        )


def test_per_tensor_vs_per_channel(tmp_path, trained_cnn, digits_npz):
    def conv_scales(per_channel: bool) -> int:
        out = tmp_path / f"pc_{per_channel}.tflite"
        edgesdk.quantize(
            trained_cnn,
            digits_npz,
            out,
            target="esp32-s3",
            options=QuantizeOptions(per_channel=per_channel, samples=50, eval_samples=50),
        )
        info = inspect_file(out)
        conv = next(op for op in info.main.ops if op.name == "CONV_2D")
        return len(info.main.tensors[conv.inputs[1]].scale)

    assert conv_scales(True) == 32
    assert conv_scales(False) == 1


def test_multi_input_maps_data_by_name(tmp_path, multi_input_model):
    model, data = multi_input_model
    out = tmp_path / "two.tflite"
    result = edgesdk.quantize(model, data, out, target="raspberry-pi-4")
    names = [t.name for t in result.inputs]
    assert sorted(names) == ["image", "meta"]
    meta = next(t for t in result.inputs if t.name == "meta")
    image = next(t for t in result.inputs if t.name == "image")
    assert meta.scale > 20 * image.scale  # each input calibrated with its own data
    assert result.fidelity[0].cosine > 0.99


def test_in_memory_model_and_arrays(tmp_path, digits):
    from edgesdk.demos.digits import build_digits_cnn

    model = build_digits_cnn(seed=3)
    out = tmp_path / "mem.tflite"
    result = edgesdk.quantize(model, digits[0][:150], out, target="rp2040")
    assert out.is_file() and result.calibration_samples + result.held_out_samples == 150
    assert result.strict and result.inputs[0].dtype == "int8"


def test_saved_model_and_legacy_h5(tmp_path, saved_model_dir, legacy_h5, digits_npz):
    r1 = edgesdk.quantize(saved_model_dir, digits_npz, tmp_path / "sm.tflite", target="esp32-s3")
    assert r1.fidelity[0].top1_agreement >= 0.95 and r1.float_ops == ()
    r2 = edgesdk.quantize(legacy_h5, digits_npz, tmp_path / "h5.tflite", target="esp32-s3")
    assert r2.inputs[0].dtype == "int8" and r2.fidelity[0].cosine > 0.98


@pytest.fixture(scope="module")
def float_island_model(tmp_path_factory):
    """A SavedModel with SIN, which has no int8 kernel: int8 conversion keeps it in float."""
    import tensorflow as tf

    class Net(tf.Module):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.w1 = tf.Variable(rng.normal(size=(16, 16)).astype(np.float32))
            self.w2 = tf.Variable(rng.normal(size=(16, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 16], tf.float32, name="x")])
        def __call__(self, x):
            return tf.matmul(tf.sin(tf.matmul(x, self.w1)), self.w2)

    net = Net()
    path = tmp_path_factory.mktemp("island") / "sin_model"
    tf.saved_model.save(net, str(path), signatures=net.__call__.get_concrete_function())
    data = path.parent / "x.npy"
    np.save(data, np.random.default_rng(1).normal(size=(120, 16)).astype(np.float32))
    return path, data


def test_float_island_is_an_error_when_strict_and_a_warning_otherwise(tmp_path, float_island_model):
    model, data = float_island_model
    out = tmp_path / "island.tflite"
    runner = CliRunner()
    r = runner.invoke(
        app, ["quantize", str(model), "-t", "esp32-s3", "-d", str(data), "-o", str(out)]
    )
    assert r.exit_code == 1 and not out.exists()
    assert "SIN" in r.stderr and r.stderr.count("\n") == 1
    result = edgesdk.quantize(
        model, data, out, target="raspberry-pi-4", options=QuantizeOptions(io="float32")
    )
    assert "SIN" in result.float_ops and any("SIN" in w for w in result.warnings)
    assert out.is_file()
    with pytest.raises(ConversionError, match="Float computation left in the graph: .*SIN"):
        edgesdk.quantize(
            model,
            data,
            tmp_path / "strict.tflite",
            target="raspberry-pi-4",
            options=QuantizeOptions(io="float32", strict=True),
        )
    assert not (tmp_path / "strict.tflite").exists()


def test_converter_crash_becomes_an_error(tmp_path):
    """int8 calibration of a Keras 3 LSTM segfaults the converter (a real crash)."""
    import keras

    inputs = keras.Input((10, 4), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.LSTM(8)(inputs)))
    path = tmp_path / "lstm.keras"
    model.save(path)
    np.save(tmp_path / "seq.npy", np.random.default_rng(0).random((60, 10, 4), dtype=np.float32))
    out = tmp_path / "lstm.tflite"
    r = CliRunner().invoke(
        app,
        [
            "quantize",
            str(path),
            "-t",
            "raspberry-pi-4",
            "-d",
            str(tmp_path / "seq.npy"),
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 1
    assert "crashed (SIGSEGV)" in r.stderr or "TFLite conversion" in r.stderr
    assert "Traceback" not in r.output and not out.exists()


def test_invalid_combinations_fail_before_any_work(tmp_path, trained_cnn, digits_npz):
    with pytest.raises(ConfigError, match="Invalid mode=float16 for target esp32-s3"):
        edgesdk.quantize(
            trained_cnn,
            digits_npz,
            tmp_path / "x.tflite",
            target="esp32-s3",
            options=QuantizeOptions(mode="float16"),
        )
    with pytest.raises(ConfigError, match="Invalid io=int8 for mode int16x8"):
        edgesdk.quantize(
            trained_cnn,
            digits_npz,
            tmp_path / "x.tflite",
            target="raspberry-pi-4",
            options=QuantizeOptions(mode="int16x8", io="int8"),
        )
    with pytest.raises(ConfigError, match="strict needs int8 or int16x8"):
        edgesdk.quantize(
            trained_cnn,
            digits_npz,
            tmp_path / "x.tflite",
            target="raspberry-pi-4",
            options=QuantizeOptions(mode="dynamic", strict=True),
        )
    with pytest.raises(ConfigError, match="Invalid mode=float32 for target arduino-nano-33-ble"):
        edgesdk.quantize(
            trained_cnn, digits_npz, tmp_path / "x.tflite", target="arduino-nano-33-ble",
            options=QuantizeOptions(mode="float32"),
        )  # fmt: skip
    with pytest.raises(ConfigError, match="does not apply to `mode=float32`") as e:
        edgesdk.quantize(
            trained_cnn, digits_npz, tmp_path / "x.tflite", options=QuantizeOptions(mode="float32"),
            max_accuracy_drop=0.01, eval_data=digits_npz,
        )  # fmt: skip
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_dynamic_without_data_skips_fidelity(tmp_path, trained_cnn):
    result = edgesdk.quantize(
        trained_cnn,
        None,
        tmp_path / "dyn.tflite",
        target="raspberry-pi-4",
        options=QuantizeOptions(mode="dynamic"),
    )
    assert result.fidelity == () and any("not measured" in n for n in result.notes)


def test_runner_dequantizes_like_the_model_says(tmp_path, trained_cnn, digits):
    out = tmp_path / "r.tflite"
    edgesdk.quantize(trained_cnn, digits[0][:100], out, target="esp32-s3")
    runner = TfliteRunner(out.read_bytes())
    raw, deq = runner.run({runner.input_names[0]: digits[1][:5]})
    d = runner.output_details[runner.output_names[0]]
    scale, zero = d["quantization"]
    assert raw[0].dtype == np.int8
    assert np.array_equal(deq[0], ((raw[0].astype(np.float32) - zero) * scale).astype(np.float32))

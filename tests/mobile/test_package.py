"""edgesdk package: metadata, input rules, requantization, snippets, manifest, inspect, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mobile_data import LABELS
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.core.manifest import manifest_path
from edgesdk.errors import ConfigError, PackagingError
from edgesdk.mobile.metadata import packed_files, read_metadata


def _nothing_written(folder, name):
    return not any(p.name.startswith(name.rsplit(".", 1)[0]) for p in folder.iterdir())


def test_float32_package_metadata_round_trip(float32_tflite, labels_file, tmp_path):
    out = tmp_path / "app" / "digits.tflite"
    result = edgesdk.package(
        float32_tflite, out, labels_file, "android-arm64", mean=0, std=255,
        author="edgesdk tests", license="Apache-2.0", description="RGB digits",
    )  # fmt: skip
    meta = read_metadata(out.read_bytes())
    assert meta.name == "digits" and meta.author == "edgesdk tests" and meta.version == "1"
    assert meta.input_kind == "image" and meta.color_space == "RGB"
    assert meta.mean == (0.0, 0.0, 0.0) and meta.std == (255.0, 255.0, 255.0)
    assert meta.labels == tuple(LABELS) and meta.output_name == "probability"
    assert packed_files(out.read_bytes()) == {"labels.txt": ("\n".join(LABELS) + "\n").encode()}
    assert result.classes == 10 and result.input["shape"] == [1, 24, 24, 3]
    assert result.score_type == "probability" and result.requantized_io == ""
    # same inputs, same bytes (the packed zip has a fixed timestamp)
    again = tmp_path / "again" / "digits.tflite"
    edgesdk.package(
        float32_tflite, again, labels_file, "android-arm64", mean=0, std=255,
        author="edgesdk tests", license="Apache-2.0", description="RGB digits",
    )  # fmt: skip
    assert again.read_bytes() == out.read_bytes()
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["command"] == "package" and manifest["result"]["labels_count"] == 10
    assert manifest["versions"]["mediapipe"]
    assert read_metadata(float32_tflite.read_bytes()) is None


def test_snippets_name_the_real_model(float32_tflite, labels_file, tmp_path):
    out = tmp_path / "digits.tflite"
    result = edgesdk.package(float32_tflite, out, labels_file, "android-gpu", mean=0, std=255)
    kotlin = (tmp_path / "digits_MediaPipe.kt").read_text()
    swift = (tmp_path / "digits_MediaPipe.swift").read_text()
    assert len(result.snippets) == 2
    assert 'setModelAssetPath("digits.tflite")' in kotlin and "Delegate.GPU" in kotlin
    assert "createScaledBitmap(bitmap, 24, 24, true)" in kotlin and "digit_0" in kotlin
    assert 'forResource: "digits", ofType: "tflite"' in swift and "24x24" in swift
    # Keras Flatten with a free batch size: SHAPE/STRIDED_SLICE/PACK/RESHAPE stay on the CPU
    assert result.gpu["partitions"] == 2 and result.gpu["cpu_ops"] == 4
    assert any("batch_size=1" in note for note in result.notes)


def test_quantize_labels_packages_in_place(uint8_packaged):
    path, result = uint8_packaged
    meta = read_metadata(path.read_bytes())
    assert meta.labels == tuple(LABELS)
    pkg = result.extra["package"]
    assert pkg["input"]["dtype"] == "uint8" and pkg["output_dtype"] == "uint8"
    # uint8 input: raw pixels; its quantization is (pixel - 0) / 255
    assert pkg["input"]["zero_point"] == 0
    assert abs(pkg["input"]["scale"] * 255 - 1) < 1e-3
    manifest = json.loads(manifest_path(path).read_text())
    assert manifest["command"] == "package"
    assert manifest["result"]["previous_manifest"]["command"] == "quantize"


def test_requantized_int8_io_is_uint8(int8_io_tflite, labels_file, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "int8.tflite"
    result = edgesdk.package(
        int8_io_tflite, out, labels_file, "ios-arm64", mean=0, std=255, requantize_io=True
    )
    assert result.input["dtype"] == "uint8" and result.output_dtype == "uint8"
    assert "int8 I/O -> uint8" in result.requantized_io
    new = Interpreter(model_content=out.read_bytes())
    old = Interpreter(model_content=int8_io_tflite.read_bytes())
    for it in (new, old):
        it.allocate_tensors()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(20, 24, 24, 3), dtype=np.uint8)
    (oi,), (oo,) = old.get_input_details(), old.get_output_details()
    (ni,), (no,) = new.get_input_details(), new.get_output_details()
    for p in pixels:  # the same scores: the uint8 model = the int8 model fed (pixel/255)
        x = np.clip(np.round(p / 255.0 / oi["quantization"][0]) + oi["quantization"][1], -128, 127)
        old.set_tensor(oi["index"], x[None].astype(np.int8))
        new.set_tensor(ni["index"], p[None])
        old.invoke()
        new.invoke()
        a = (old.get_tensor(oo["index"]).astype(int) - oo["quantization"][1]) * oo["quantization"][
            0
        ]
        b = (new.get_tensor(no["index"]).astype(int) - no["quantization"][1]) * no["quantization"][
            0
        ]
        np.testing.assert_allclose(a, b, atol=oo["quantization"][0] * 1.01)


def test_int8_input_refused_with_the_clients_reason(int8_io_tflite, labels_file, tmp_path):
    with pytest.raises(PackagingError, match="uint8/float32, got INT8") as e:
        edgesdk.package(int8_io_tflite, tmp_path / "x.tflite", labels_file, mean=0, std=255)
    assert "\n" not in str(e.value) and not any(tmp_path.iterdir())


def test_float_input_needs_normalization(float32_tflite, labels_file, tmp_path):
    with pytest.raises(PackagingError, match="needs its normalization"):
        edgesdk.package(float32_tflite, tmp_path / "x.tflite", labels_file)
    assert not any(tmp_path.iterdir())


def test_labels_count_must_match(float32_tflite, tmp_path):
    labels = tmp_path / "nine.txt"
    labels.write_text("\n".join(LABELS[:9]) + "\n")
    with pytest.raises(PackagingError, match="has 9 labels, the model's output has 10 classes"):
        edgesdk.package(float32_tflite, tmp_path / "x.tflite", labels, mean=0, std=255)
    blank = tmp_path / "blank.txt"
    blank.write_text("a\n\nb\n" + "\n".join(LABELS[:8]) + "\n")
    with pytest.raises(PackagingError, match="blank label on line 2"):
        edgesdk.package(float32_tflite, tmp_path / "x.tflite", blank, mean=0, std=255)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank.txt", "nine.txt"]


def test_non_image_model_refused(models, labels_file, tmp_path):
    with pytest.raises(PackagingError, match="Not an image classifier.*only image classifiers"):
        edgesdk.package(models["a"], tmp_path / "x.tflite", labels_file, mean=0, std=1)
    assert not any(tmp_path.iterdir())


def test_uint8_input_must_match_normalization(uint8_packaged, labels_file, tmp_path):
    path, _ = uint8_packaged
    with pytest.raises(PackagingError, match="MediaPipe feeds raw pixels"):
        edgesdk.package(path, tmp_path / "x.tflite", labels_file, mean=128, std=128)
    result = edgesdk.package(
        path, tmp_path / "x.tflite", labels_file, mean=128, std=128, requantize_io=True
    )
    assert result.input["zero_point"] == 128 and abs(result.input["scale"] - 1 / 128) < 1e-7
    with pytest.raises(PackagingError, match="cannot express"):
        edgesdk.package(path, tmp_path / "y.tflite", labels_file, mean=127.5, std=127.5,
                        requantize_io=True)  # fmt: skip


def test_non_mobile_target_refused(float32_tflite, labels_file, tmp_path):
    with pytest.raises(ConfigError, match="android-arm64, android-gpu, ios-arm64"):
        edgesdk.package(float32_tflite, tmp_path / "x.tflite", labels_file, "stm32f746-disco")
    with pytest.raises(ConfigError, match="mobile"):
        edgesdk.quantize(float32_tflite, None, tmp_path / "q.tflite", "linux-x86_64",
                         labels=labels_file)  # fmt: skip


def test_cli_package_and_inspect(float32_tflite, labels_file, tmp_path):
    out = tmp_path / "cli.tflite"
    runner = CliRunner()
    r = runner.invoke(app, ["package", str(float32_tflite), "-o", str(out), "--labels",
                            str(labels_file), "--mean", "0", "--std", "255", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["labels_count"] == 10
    r = runner.invoke(app, ["inspect", str(out), "--json", "--target", "android-gpu"])
    data = json.loads(r.stdout)
    assert data["metadata"]["labels_count"] == 10
    assert data["metadata"]["normalization"] == {"mean": [0.0] * 3, "std": [255.0] * 3}
    assert data["gpu"]["partitions"] == 2 and data["gpu"]["delegated_ops_default"] == 4
    r = runner.invoke(app, ["inspect", str(out)])
    assert r.exit_code == 0 and "digit" not in r.stdout and "10 in labels.txt" in r.stdout
    r = runner.invoke(app, ["package", str(float32_tflite), "-o", str(tmp_path / "bad.tflite"),
                            "--labels", str(labels_file)])  # fmt: skip
    assert r.exit_code == 1 and "needs its normalization" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and not (tmp_path / "bad.tflite").exists()


def test_damaged_metadata_is_a_clean_error(float32_tflite, labels_file, tmp_path):
    import random

    from edgesdk.errors import InspectionError
    from edgesdk.mobile.metadata import metadata_buffer

    out = tmp_path / "m.tflite"
    edgesdk.package(float32_tflite, out, labels_file, mean=0, std=255, snippets=False)
    data = out.read_bytes()
    raw = metadata_buffer(data)
    start = data.find(raw)
    rng = random.Random(0)
    refused = 0
    for _ in range(100):
        damaged = bytearray(data)
        for _ in range(4):
            damaged[start + rng.randrange(len(raw))] = rng.randrange(256)
        try:
            read_metadata(bytes(damaged), "damaged")
        except InspectionError as e:  # anything else fails the test
            refused += 1
            assert "\n" not in str(e)
    assert refused > 50


def test_cli_quantize_with_labels(rgb_cnn, calibration_npz, labels_file, tmp_path):
    out = tmp_path / "q.tflite"
    r = CliRunner().invoke(app, ["quantize", str(rgb_cnn), "-t", "ios-arm64", "-d",
                                 str(calibration_npz), "--labels", str(labels_file),
                                 "-o", str(out), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    package = json.loads(r.stdout)["extra"]["package"]
    assert package["target"] == "ios-arm64" and package["input"]["dtype"] == "uint8"
    assert read_metadata(out.read_bytes()).labels == tuple(LABELS)
    assert (tmp_path / "q_MediaPipe.swift").is_file()


def test_quantize_labels_refuses_per_channel_uint8_before_converting(
    rgb_cnn, labels_file, tmp_path
):
    from edgesdk.core.options import Normalization, QuantizeOptions

    options = QuantizeOptions(normalization=Normalization(mean=(123, 117, 104), std=(58, 57, 57)))
    with pytest.raises(PackagingError, match="A uint8 input cannot express"):
        edgesdk.quantize(rgb_cnn, tmp_path / "no_data_needed.npz", tmp_path / "q.tflite",
                         "android-arm64", options, labels=labels_file)  # fmt: skip
    assert not any(tmp_path.iterdir())

"""`edgesdk compress`: pruning, clustering, QAT and distillation of Keras 3 models, and its errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

runner = CliRunner()


def _save(model, path):
    model.save(path)
    return path


@pytest.fixture(scope="module")
def cnn(tmp_path_factory, digits):
    """A small digits classifier, Keras 3, trained to well above chance."""
    import keras

    keras.utils.set_random_seed(3)
    x_train, _, y_train, _ = digits
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="digit"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(48, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="probs"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=20, batch_size=32, verbose=0)
    return _save(model, tmp_path_factory.mktemp("compress") / "cnn.keras")


def _kernels(path):
    import keras

    model = keras.saving.load_model(path, compile=False)
    return {
        layer.name: np.asarray(layer.kernel)
        for layer in model.layers
        if hasattr(layer, "kernel") and layer.name != "probs"
    } | {"probs": np.asarray(model.get_layer("probs").kernel)}


def _cli(*args):
    return runner.invoke(app, ["compress", *map(str, args)])


def test_bridge_round_trip_keeps_outputs(trained_cnn, multi_input_model, digits):
    """Keras 3 → tf_keras (rebuilt, weights copied) → Keras 3 gives the same outputs."""
    import keras

    from edgesdk.compression.bridge import (
        copy_weights_by_name,
        max_output_difference,
        to_tf_keras,
    )

    x = digits[1][:64]
    original = keras.saving.load_model(trained_cnn)  # Conv, Depthwise, BN, residual Add, GAP
    legacy = to_tf_keras(original)
    assert type(legacy).__module__.startswith("tf_keras")
    assert max_output_difference(original, legacy, [x]) < 1e-5
    back = keras.models.clone_model(original)
    assert max_output_difference(original, back, [x]) > 1e-3  # fresh weights differ...
    copy_weights_by_name(legacy, back)
    assert max_output_difference(original, back, [x]) < 1e-5  # ...until copied back

    two = keras.saving.load_model(multi_input_model[0])
    data = np.load(multi_input_model[1])
    feed = [data["image"][:32], data["meta"][:32]]
    assert max_output_difference(two, to_tf_keras(two), feed) < 1e-4


def test_prune_polynomial_reaches_the_sparsity(cnn, split_npz, tmp_path):
    train, val = split_npz
    out = tmp_path / "pruned.keras"
    result = edgesdk.compress(
        cnn, train, out, validation=val, prune=0.75, epochs=3, learning_rate=1e-3, int8=False
    )
    assert result.techniques == ("prune",)
    assert {r.layer for r in result.layers} == {"conv", "hidden", "probs"}
    for row in result.layers:
        assert row.sparsity >= 74.0, row
    steps = result.prune_steps
    assert 0 < steps["end"] < steps["total"] and steps["end"] % steps["frequency"] == 0
    # checked independently on the saved Keras 3 file: wrappers gone, zeros really there
    kernels = _kernels(out)
    zeros = sum(int((k == 0).sum()) for k in kernels.values())
    assert zeros / sum(k.size for k in kernels.values()) >= 0.74
    assert result.nonzero_parameters < 0.3 * result.parameters
    manifest = json.loads((tmp_path / "pruned.keras.manifest.json").read_text())
    assert manifest["command"] == "compress"
    assert manifest["artifact"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["inputs"]["model"]["sha256"] == hashlib.sha256(cnn.read_bytes()).hexdigest()
    assert manifest["calibration"]["sha256"] == hashlib.sha256(train.read_bytes()).hexdigest()
    assert manifest["options"]["prune"] == 0.75 and manifest["versions"]["tensorflow"]
    assert result.accuracy["compressed_model"] > 0.80
    assert result.accuracy["float_model"] - result.accuracy["compressed_model"] < 0.10


def test_prune_constant_on_legacy_h5_through_the_cli(legacy_h5, split_npz, tmp_path):
    train, val = split_npz
    out = tmp_path / "pruned.h5"
    saved = tmp_path / "result.json"
    r = _cli(
        legacy_h5, "-d", train, "-o", out, "--prune", "0.5", "--schedule", "constant",
        "--epochs", "2", "--validation-data", val, "--no-int8", "--json", "--save", saved,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert json.loads(saved.read_text()) == result
    assert result["prune_steps"]["end"] == -1
    assert all(row["sparsity"] >= 49.0 for row in result["layers"])
    import keras

    model = keras.saving.load_model(out, compile=False)
    dense = [layer for layer in model.layers if layer.name.startswith("dense")][0]
    assert (np.asarray(dense.kernel) == 0).mean() >= 0.49


def test_cluster_limits_distinct_values(cnn, split_npz, tmp_path):
    train, val = split_npz
    out = tmp_path / "clustered.keras"
    result = edgesdk.compress(
        cnn, train, out, validation=val, cluster=6, epochs=2, learning_rate=1e-3, int8=False
    )
    assert all(row.unique <= 6 for row in result.layers)
    for name, kernel in _kernels(out).items():
        assert np.unique(kernel).size <= 6, name
    assert result.accuracy["compressed_model"] > 0.70


def test_prune_cluster_qat_chain_and_int8_sizes(cnn, split_npz, tmp_path):
    """distill → prune → cluster → QAT order; sparsity and clusters survive QAT; int8 measured."""
    train, val = split_npz
    out = tmp_path / "chain_qat"
    result = edgesdk.compress(
        cnn, train, out, validation=val, prune=0.6, cluster=8, qat=True, epochs=2,
        learning_rate=1e-3,
    )  # fmt: skip
    assert result.techniques == ("prune", "cluster", "qat")
    assert result.output_kind == "saved_model" and (out / "saved_model.pb").is_file()
    for row in result.layers:
        assert row.sparsity >= 59.0 and row.unique <= 8, row
    sizes = result.sizes
    assert sizes["compressed_int8_tflite"].gzip_bytes < sizes["float_int8_tflite"].gzip_bytes
    assert sizes["float_int8_tflite"].raw_bytes < sizes["float_tflite"].raw_bytes
    assert result.compression_ratio > 4.0
    for key in ("float_model", "compressed_model", "float_int8_tflite", "compressed_int8_tflite"):
        assert 0.50 < result.accuracy[key] <= 1.0, key


def test_qat_output_goes_straight_into_quantize(cnn, split_npz, tmp_path):
    train, val = split_npz
    out = tmp_path / "qat"
    result = edgesdk.compress(cnn, train, out, validation=val, qat=True, epochs=2, int8=False)
    assert result.output_kind == "saved_model"
    tflite = tmp_path / "qat_int8.tflite"
    q = edgesdk.quantize(out, train, tflite, target="esp32-s3")
    assert q.mode == "int8" and not q.float_ops
    assert {t.dtype for t in q.inputs} == {"int8"}
    assert q.fidelity[0].top1_agreement >= 0.95
    # the learned ranges are kept: the input range is QAT's, close to the data's [0, 1]
    lo = -q.inputs[0].scale * (q.inputs[0].zero_point + 128)
    hi = q.inputs[0].scale * (127 - q.inputs[0].zero_point)
    assert lo <= 0.0 + 1e-6 and 0.9 <= hi <= 1.2


def test_distillation_student_learns_from_teacher(cnn, split_npz, tmp_path):
    import keras

    keras.utils.set_random_seed(5)
    student = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    student_path = _save(student, tmp_path / "student.keras")  # untrained
    train, val = split_npz
    result = edgesdk.compress(
        student_path, train, tmp_path / "distilled.keras", validation=val, teacher=str(cnn),
        temperature=4.0, alpha=0.2, epochs=30, batch_size=32, learning_rate=1e-2, int8=False,
    )  # fmt: skip
    assert result.techniques == ("distill",)
    assert result.teacher_parameters > 4 * result.parameters
    assert result.accuracy["float_model"] < 0.30  # untrained student
    assert result.accuracy["compressed_model"] > 0.80
    assert result.accuracy["teacher"] > 0.90


def test_unsupported_layer_is_named_and_can_be_skipped(split_npz, tmp_path):
    import keras

    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(16, name="dense_a"),
            keras.layers.PReLU(name="prelu"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    path = _save(model, tmp_path / "prelu.keras")
    train, val = split_npz
    out = tmp_path / "p.keras"
    r = _cli(path, "-d", train, "-o", out, "--prune", "0.5", "--no-int8")
    assert r.exit_code == 1
    assert "prelu (PReLU)" in r.output and "--skip-layer" in r.output
    assert not out.exists()
    r = _cli(path, "-d", train, "-o", out, "--prune", "0.5", "--no-int8", "--skip-layer", "prelu",
             "--validation-data", val, "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert {row["layer"] for row in json.loads(r.stdout)["layers"]} == {"dense_a", "out"}


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, digits):
    import keras

    folder = tmp_path_factory.mktemp("bad")
    x, _, y, _ = digits
    np.savez(folder / "unlabelled.npz", x=x)
    np.savez(folder / "labels_out.npz", x=x, y=y + 5)
    regression = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    _save(regression, folder / "regression.keras")
    five = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    _save(five, folder / "five.keras")
    return folder


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("not_classifier", "is not a classifier"),
        ("no_labels", "has no labels"),
        ("labels_out", "expected labels 0..9"),
        ("sparsity", "Invalid prune=1.0 (must be a sparsity in [0, 1))"),
        ("clusters", "Invalid cluster=1 (must be >= 2 clusters)"),
        ("teacher_classes", "has 5 classes but the student has 10"),
        ("qat_keras_file", "a QAT model keeps its learned int8 ranges in a SavedModel folder"),
        ("nothing", "Nothing to do"),
    ],
)
def test_errors_are_one_line_and_write_nothing(
    case, expected, cnn, split_npz, bad_inputs, tmp_path
):
    train, _ = split_npz
    out = tmp_path / "out" / "model.keras"
    model, data, extra = cnn, train, ["--prune", "0.5"]
    if case == "not_classifier":
        model, extra = bad_inputs / "regression.keras", ["--teacher", cnn]
    elif case == "no_labels":
        data = bad_inputs / "unlabelled.npz"
    elif case == "labels_out":
        data = bad_inputs / "labels_out.npz"
    elif case == "sparsity":
        extra = ["--prune", "1.0"]
    elif case == "clusters":
        extra = ["--cluster", "1"]
    elif case == "teacher_classes":
        extra = ["--teacher", bad_inputs / "five.keras"]
    elif case == "qat_keras_file":
        extra = ["--qat"]
    elif case == "nothing":
        extra = []
    r = _cli(model, "-d", data, "-o", out, "--no-int8", *extra)
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert expected in " ".join(r.output.split()), r.output
    assert not (tmp_path / "out").exists()


def test_image_folder_per_class_trains_and_validates(cnn, digits, tmp_path):
    """TRAIN_SPEC as an image folder with one subfolder per class (labels from the names)."""
    from PIL import Image

    x_train, x_test, y_train, y_test = digits
    for split, xs, ys in (("train", x_train[:400], y_train[:400]), ("val", x_test, y_test)):
        for i, (img, label) in enumerate(zip(xs, ys, strict=True)):
            folder = tmp_path / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(img[..., 0] * 255).astype(np.uint8)).save(folder / f"{i}.png")
    result = edgesdk.compress(
        cnn, tmp_path / "train", tmp_path / "c.keras", validation=tmp_path / "val", cluster=8,
        epochs=2, learning_rate=1e-3, int8=False,
    )  # fmt: skip
    assert result.train_samples == 400 and result.validation_samples == len(y_test)
    assert result.accuracy["float_model"] > 0.80  # the folder names really are the labels
    assert all(row.unique <= 8 for row in result.layers)


def test_distillation_into_a_logits_student(cnn, split_npz, tmp_path):
    """A student without softmax (logits out) learns from a softmax teacher just the same."""
    import keras

    keras.utils.set_random_seed(7)
    student = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, name="logits")]
    )
    path = _save(student, tmp_path / "logits.keras")
    train, val = split_npz
    result = edgesdk.compress(
        path, train, tmp_path / "d.keras", validation=val, teacher=str(cnn), epochs=20,
        batch_size=32, learning_rate=1e-2, int8=False,
    )  # fmt: skip
    assert result.accuracy["compressed_model"] > 0.75 > result.accuracy["float_model"] + 0.20


def test_the_sparsity_and_cluster_checks_can_fail():
    """The verifications are real: a layer short of the target, or with too many values."""
    from edgesdk.compression.result import LayerStat
    from edgesdk.compression.worker_side import _verify_clusters, _verify_sparsity
    from edgesdk.errors import CompressionError

    good = LayerStat("dense", parameters=1000, zeros=795, unique=9)
    short = LayerStat("conv", parameters=1000, zeros=700, unique=9)
    _verify_sparsity([good], 0.8)  # 79.5% is within 1 pt of 80%
    with pytest.raises(CompressionError, match=r"conv 70\.0%"):
        _verify_sparsity([good, short], 0.8)
    _verify_clusters([good], 8, zeros_kept=True)  # 8 centroids + the kept zero
    with pytest.raises(CompressionError, match=r"dense \(9 values\)"):
        _verify_clusters([good], 8, zeros_kept=False)

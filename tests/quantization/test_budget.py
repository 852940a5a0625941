"""`quantize --max-accuracy-drop --eval-data`: the candidate search, honest on MCU targets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.cli.flags import cli_text
from edgesdk.errors import ConversionError, DatasetError

runner = CliRunner()


@pytest.fixture(scope="module")
def lossy(tmp_path_factory, digits):
    """A digits classifier whose hidden activations share a tensor with one huge unit.

    Activations are quantized per tensor: the huge unit (100x the sum of the features) sets an
    int8 scale so coarse that the 32 informative units all round to zero, whatever the weight
    granularity or calibration. 16-bit activations, or keeping the layers around it in float,
    bring the accuracy back.
    """
    import keras

    x_train, x_test, y_train, y_test = digits
    keras.utils.set_random_seed(0)
    base = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", name="features"),
            keras.layers.Dense(10, activation="softmax", name="classes"),
        ]
    )
    base.compile("adam", "sparse_categorical_crossentropy")
    base.fit(x_train, y_train, epochs=40, batch_size=32, verbose=0)
    image = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Flatten(name="flat")(image)
    h = keras.layers.Dense(32, activation="relu", name="features")(h)
    h = keras.layers.Dense(33, name="mix")(h)
    out = keras.layers.Dense(10, activation="softmax", name="classes")(h)
    model = keras.Model(image, out)
    model.get_layer("features").set_weights(base.get_layer("features").get_weights())
    mix = np.zeros((32, 33), np.float32)
    mix[:, :32] = np.eye(32)
    mix[:, 32] = 100.0
    model.get_layer("mix").set_weights([mix, np.zeros(33, np.float32)])
    w, b = base.get_layer("classes").get_weights()
    model.get_layer("classes").set_weights([np.vstack([w, np.zeros((1, 10), np.float32)]), b])
    folder = tmp_path_factory.mktemp("budget")
    model.save(folder / "lossy.keras")
    np.savez(folder / "train.npz", x=x_train, y=y_train)
    np.savez(folder / "eval.npz", x=x_test, y=y_test)
    float_acc = np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == y_test) * 100
    assert float_acc > 85  # the float model is a good classifier
    return folder


def test_linux_target_is_brought_within_budget(lossy, tmp_path):
    out = tmp_path / "lossy.tflite"
    r = runner.invoke(
        app,
        [
            "quantize", str(lossy / "lossy.keras"), "-d", str(lossy / "train.npz"), "-o", str(out),
            "--target", "linux-x86_64", "--max-accuracy-drop", "1.0",
            "--eval-data", str(lossy / "eval.npz"), "--json",
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    search = result["extra"]["search"]
    cands = {c["name"]: c for c in search["candidates"]}
    default = cands["int8 per-channel (target default)"]
    assert default["drop"] > 0.20  # plain int8 really is lossy on this model
    assert cands["int8 per-tensor"]["drop"] > 0.20
    chosen = cands[search["chosen"]]
    assert chosen["fits"] and chosen["drop"] <= 0.01
    assert result["mode"] == chosen["mode"] and out.stat().st_size == chosen["size"]
    # the written model really is that accurate
    from edgesdk.tflite.runner import TfliteRunner

    data = np.load(lossy / "eval.npz")
    runner_ = TfliteRunner(out.read_bytes())
    _, outs = runner_.run({runner_.input_names[0]: data["x"]})
    acc = np.mean(np.argmax(outs[0], 1) == data["y"])
    assert abs(acc - chosen["accuracy"]) < 1e-6
    assert acc >= search["float_accuracy"] - 0.01
    # the per-layer metrics blame the layer with the huge unit
    worst = min(search["layers"], key=lambda row: row["worst_channel_sqnr"])
    assert "mix" in worst["tensor"] or "classes" in worst["tensor"]
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["result"]["extra"]["search"]["chosen"] == search["chosen"]


def test_float_fallback_keeps_the_worst_layers_in_float(lossy, tmp_path):
    """A float-capable target without 16x8: the debugger's worst layers go back to float."""
    from edgesdk.core.profiles import _builtin_dir

    profile = (_builtin_dir() / "linux-x86_64.toml").read_text()
    profile = profile.replace('name = "linux-x86_64"', 'name = "linux-no-16x8"').replace(
        'allowed_modes = ["int8", "int16x8", "float16", "dynamic", "float32"]',
        'allowed_modes = ["int8", "float16", "dynamic", "float32"]',
    )
    assert '"int16x8"' not in profile  # the replacement above took
    path = tmp_path / "linux-no-16x8.toml"
    path.write_text(profile)
    result = edgesdk.quantize(
        lossy / "lossy.keras", lossy / "train.npz", tmp_path / "m.tflite", target=path,
        max_accuracy_drop=0.01, eval_data=lossy / "eval.npz",
    )  # fmt: skip
    search = result.extra["search"]
    assert not any(c["mode"] == "int16x8" for c in search["candidates"])
    chosen = next(c for c in search["candidates"] if c["name"] == search["chosen"])
    assert chosen["float_layers"] and chosen["float_ops"] >= 1 and chosen["fits"]
    assert result.float_ops  # reported honestly: float ops are left in


def test_mcu_target_reports_honestly_that_it_cannot(lossy, tmp_path):
    out = tmp_path / "mcu.tflite"
    with pytest.raises(ConversionError, match="No quantized variant stays within 1 pts") as e:
        edgesdk.quantize(
            lossy / "lossy.keras", lossy / "train.npz", out, target="esp32-s3",
            max_accuracy_drop=0.01, eval_data=lossy / "eval.npz",
        )  # fmt: skip
    assert "try quantization-aware training (compress with `qat=True`" in str(e.value)
    assert "(compress with --qat, then" in cli_text(str(e.value), "quantize")  # the CLI's words
    search = e.value.details["search"]
    assert search["chosen"] is None and len(search["candidates"]) >= 2
    for c in search["candidates"]:  # int8 only, no float left, every one measured
        assert c["mode"] == "int8" and c["float_ops"] == 0 and not c["fits"]
    assert any("microcontroller" in n for n in search["notes"])
    assert not out.exists() and not list(tmp_path.iterdir())


def test_budget_needs_labels_that_fit(lossy, tmp_path, digits):
    np.savez(tmp_path / "nolabels.npz", x=digits[1])
    np.savez(tmp_path / "badlabels.npz", x=digits[1], y=digits[3] + 10)
    with pytest.raises(DatasetError, match="has no labels"):
        edgesdk.quantize(lossy / "lossy.keras", lossy / "train.npz", tmp_path / "a.tflite",
                         max_accuracy_drop=0.01, eval_data=tmp_path / "nolabels.npz")  # fmt: skip
    with pytest.raises(DatasetError, match="expected labels 0..9"):
        edgesdk.quantize(lossy / "lossy.keras", lossy / "train.npz", tmp_path / "a.tflite",
                         max_accuracy_drop=0.01, eval_data=tmp_path / "badlabels.npz")  # fmt: skip
    r = runner.invoke(app, ["quantize", str(lossy / "lossy.keras"), "-d", str(lossy / "train.npz"),
                            "-o", str(tmp_path / "a.tflite"), "--max-accuracy-drop", "1"])  # fmt: skip
    assert r.exit_code == 2 and "--eval-data" in r.output
    assert not (tmp_path / "a.tflite").exists()

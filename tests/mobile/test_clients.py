"""Packaged models load in the real mobile client libraries and agree with LiteRT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mobile_data import LABELS

import edgesdk
from edgesdk.mobile.clients import litert_top1, mediapipe_top1, tasklib_top1

TASKLIB_PYTHON = Path(__file__).resolve().parents[2] / ".venv-tasklib" / "bin" / "python"


@pytest.fixture(scope="module")
def packaged(
    mobile_dir, labels_file, float32_tflite, float16_tflite, int8_io_tflite, uint8_packaged
):
    """The four variants as a mobile developer gets them (name -> packaged .tflite)."""
    out = {}
    out["float32"] = mobile_dir / "pkg_float32.tflite"
    edgesdk.package(float32_tflite, out["float32"], labels_file, "android-arm64", mean=0, std=255)
    out["float16"] = mobile_dir / "pkg_float16.tflite"
    edgesdk.package(float16_tflite, out["float16"], labels_file, "android-gpu", mean=0, std=255)
    out["int8-uint8-io"] = uint8_packaged[0]
    out["int8-requantized-io"] = mobile_dir / "pkg_int8_requantized.tflite"
    edgesdk.package(
        int8_io_tflite, out["int8-requantized-io"], labels_file, "ios-arm64",
        mean=0, std=255, requantize_io=True,
    )  # fmt: skip
    return out


TRAINING_MEAN, TRAINING_STD = (0.0,), (255.0,)  # the model was trained on pixel / 255
VARIANTS = ["float32", "float16", "int8-uint8-io", "int8-requantized-io"]


def _ties(scores: np.ndarray) -> np.ndarray:
    """Images whose two best scores are equal (quantized outputs can tie)."""
    top2 = np.sort(scores, axis=1)[:, -2:]
    return np.isclose(top2[:, 0], top2[:, 1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_mediapipe_loads_and_agrees_with_litert(variant, packaged, rgb_digits):
    _, x_test, _, y_test = rgb_digits
    path = packaged[variant]
    mp_idx, mp_names, mp_scores = mediapipe_top1(path, x_test)
    rt_idx, rt_scores = litert_top1(path, x_test, TRAINING_MEAN, TRAINING_STD)
    mp_idx, rt_idx = np.asarray(mp_idx), np.asarray(rt_idx)
    differ = mp_idx != rt_idx
    # a disagreement is allowed only where LiteRT's two best scores tie
    assert not (differ & ~_ties(rt_scores)).any(), f"{variant}: {differ.sum()} top-1 differences"
    assert [LABELS[i] for i in mp_idx] == mp_names  # the packed labels come back
    accuracy = float(np.mean(mp_idx == y_test))
    assert accuracy > 0.85, f"{variant}: MediaPipe top-1 accuracy {accuracy:.3f}"
    best = rt_scores[np.arange(len(rt_idx)), mp_idx]
    # same scores, not only same ranks (seen: <= 5.4e-7 float, exactly equal for uint8 output)
    np.testing.assert_allclose(mp_scores, best, rtol=0, atol=1e-5)


def test_wrong_normalization_metadata_is_caught(float32_tflite, labels_file, rgb_digits, tmp_path):
    """The check above can fail: metadata saying std=1 (the model was trained on pixel/255)
    keeps most top-1 answers (0.972 vs 0.975 seen) but MediaPipe's scores leave LiteRT's on
    the true input (by 0.028 seen, against <= 5.4e-7 when right)."""
    _, x_test, _, _ = rgb_digits
    wrong = tmp_path / "wrong.tflite"
    edgesdk.package(float32_tflite, wrong, labels_file, mean=0, std=1, snippets=False)
    mp_idx, _, mp_scores = mediapipe_top1(wrong, x_test[:50])
    _, rt_scores = litert_top1(wrong, x_test[:50], TRAINING_MEAN, TRAINING_STD)
    best = rt_scores[np.arange(50), mp_idx]
    assert np.max(np.abs(np.asarray(mp_scores) - best)) > 1e-3


@pytest.mark.skipif(not TASKLIB_PYTHON.exists(), reason="no .venv-tasklib (scripts/setup-tests.sh)")
@pytest.mark.parametrize("variant", VARIANTS)
def test_task_library_loads_the_same_files(variant, packaged, rgb_digits):
    _, x_test, _, y_test = rgb_digits
    tl_idx, tl_names, tl_scores = tasklib_top1(packaged[variant], x_test, TASKLIB_PYTHON)
    rt_idx, rt_scores = litert_top1(packaged[variant], x_test, TRAINING_MEAN, TRAINING_STD)
    differ = np.asarray(tl_idx) != np.asarray(rt_idx)
    assert not (differ & ~_ties(rt_scores)).any()
    assert [LABELS[i] for i in tl_idx] == tl_names
    assert float(np.mean(np.asarray(tl_idx) == y_test)) > 0.85
    best = rt_scores[np.arange(len(rt_idx)), tl_idx]
    np.testing.assert_allclose(tl_scores, best, rtol=0, atol=1e-5)


def test_mediapipe_refuses_int8_input_so_package_does(int8_io_tflite, labels_file, tmp_path):
    """The rule is the client's: force metadata onto the int8-input model and MediaPipe refuses
    it with the message package quotes."""
    from edgesdk.mobile.metadata import (
        ClassifierMetadata,
        attach_metadata,
        build_classifier_metadata,
    )
    from edgesdk.mobile.rules import INT8_REFUSAL

    meta = ClassifierMetadata("forced", tuple(LABELS), (0.0,) * 3, (255.0,) * 3)
    forced = tmp_path / "forced_int8.tflite"
    forced.write_bytes(
        attach_metadata(
            int8_io_tflite.read_bytes(),
            build_classifier_metadata(meta),
            {"labels.txt": "\n".join(LABELS).encode()},
        )
    )
    with pytest.raises(Exception, match="uint8/float32, got INT8") as caught:
        mediapipe_top1(forced, np.zeros((1, 24, 24, 3), np.uint8))
    assert "got INT8" in INT8_REFUSAL and "got INT8" in str(caught.value)


def test_mediapipe_refuses_grayscale_so_package_does(labels_file, tmp_path):
    """A 1-channel model: MediaPipe refuses GRAYSCALE metadata; package refuses the model."""
    import keras
    import tensorflow as tf

    from edgesdk.errors import PackagingError
    from edgesdk.mobile.metadata import (
        ClassifierMetadata,
        attach_metadata,
        build_classifier_metadata,
    )
    from edgesdk.mobile.rules import GRAYSCALE_REFUSAL

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    gray = tmp_path / "gray.tflite"
    gray.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(PackagingError, match="1 channel: MediaPipe Tasks takes RGB"):
        edgesdk.package(gray, tmp_path / "x.tflite", labels_file, mean=0, std=255)
    meta = ClassifierMetadata("g", tuple(LABELS), (0.0,), (255.0,), color_space="GRAYSCALE")
    forced = tmp_path / "forced_gray.tflite"
    forced.write_bytes(
        attach_metadata(gray.read_bytes(), build_classifier_metadata(meta), {"labels.txt": b"x"})
    )
    with pytest.raises(Exception, match="Only RGB color space") as caught:
        mediapipe_top1(forced, np.zeros((1, 8, 8, 3), np.uint8))
    assert GRAYSCALE_REFUSAL.strip('"') in str(caught.value)

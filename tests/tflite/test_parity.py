"""The parity rule (a top-1 share, not an LSB wall) and the first-divergence probe."""

from __future__ import annotations

import numpy as np
import pytest

from edgesdk.tflite.micro import OutputParity
from edgesdk.tflite.parity import lsb_warnings, parity_failures, parity_message, with_all_outputs


def _p(changes: int, lsb: int, samples: int = 100) -> OutputParity:
    return OutputParity(0, samples, samples - 3, 990, 1000, lsb, changes)


@pytest.mark.parametrize(
    ("changes", "allowed", "fails"),
    [(0, 1.0, False), (1, 1.0, False), (2, 1.0, True), (1, 0.0, True)],
)
def test_top1_share_decides(changes, allowed, fails):
    assert bool(parity_failures([_p(changes, 9)], allowed)) == fails


def test_lsb_gaps_only_warn_and_the_message_names_the_share():
    assert lsb_warnings([_p(0, 9)], 1) and not lsb_warnings([_p(0, 1)], 1)
    assert "on 2 of 100 samples" in parity_message(_p(2, 3), 1.0)


def test_every_op_output_becomes_a_model_output_after_the_real_ones(tmp_path):
    import keras
    import tensorflow as tf

    from edgesdk.tflite.runner import TfliteRunner

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    model = keras.Model(
        inputs, keras.layers.Dense(3)(keras.layers.Dense(5, activation="relu")(inputs))
    )
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    probe, ops = with_all_outputs(tflite)
    assert [o["op"] for o in ops] == ["FULLY_CONNECTED"] * (len(ops))
    from ai_edge_litert.interpreter import Interpreter

    a, b = Interpreter(model_content=tflite), Interpreter(model_content=probe)
    a.allocate_tensors(), b.allocate_tensors()
    assert len(b.get_output_details()) == 1 + len(ops)
    x = np.ones((1, 6), np.float32)
    for i in (a, b):
        i.set_tensor(i.get_input_details()[0]["index"], x)
        i.invoke()
    first = a.get_tensor(a.get_output_details()[0]["index"])
    assert np.array_equal(first, b.get_tensor(b.get_output_details()[0]["index"]))
    assert TfliteRunner(probe)  # still a valid model for LiteRT

"""Pruning within an accuracy budget: sensitivity, the per-layer plan, the int8 check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.compression.sensitivity import LayerSensitivity, magnitude_prune, plan
from edgesdk.errors import BudgetNotMetError, ConfigError


def test_magnitude_prune_zeroes_the_smallest_share():
    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10) * np.where(
        np.arange(100) % 2, 1, -1
    ).reshape(10, 10)
    pruned = magnitude_prune(w, 0.7)
    assert np.count_nonzero(pruned == 0) == 70 and np.abs(pruned[pruned != 0]).min() == 71


def test_the_plan_spares_the_fragile_layer_and_reaches_the_target():
    robust = LayerSensitivity("big", 9000, {0.5: 0.95, 0.7: 0.95, 0.9: 0.94, 0.95: 0.93})
    fragile = LayerSensitivity("narrow", 1000, {0.5: 0.60, 0.7: 0.30, 0.9: 0.10, 0.95: 0.10})
    chosen, reached = plan([robust, fragile], 0.8, baseline=0.95)
    assert chosen["narrow"] < chosen["big"] and reached >= 0.8
    assert chosen == {"big": 0.9, "narrow": 0.0}
    chosen, reached = plan([robust, fragile], 0.99, baseline=0.95)  # more than the top level
    assert reached < 0.99 and chosen == {"big": 0.95, "narrow": 0.95}


def test_a_budget_needs_pruning():
    with pytest.raises(ConfigError, match="needs `prune`"):
        edgesdk.compress("m.keras", "d.npz", "o.keras", cluster=8, max_accuracy_drop=0.01)


def test_the_fragile_first_conv_gets_less_sparsity_and_the_budget_holds(
    trained_cnn, split_npz, tmp_path
):
    out = tmp_path / "p.keras"
    r = CliRunner().invoke(
        app,
        ["compress", str(trained_cnn), "-d", str(split_npz[0]), "--eval-data", str(split_npz[1])]
        + ["-o", str(out), "--prune", "0.6", "--max-accuracy-drop", "3", "--epochs", "4"]
        + ["--learning-rate", "1e-3", "--json"],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    search = result["extra"]["prune_search"]
    chosen = next(a for a in search["attempts"] if a["fits"])
    curves = {row["layer"]: row["curve"] for row in search["sensitivity"]}
    # the layer that loses most when pruned alone is spared most
    fragile = min(curves, key=lambda name: curves[name]["0.5"])
    assert chosen["layers"][fragile] < max(chosen["layers"].values())
    acc = result["accuracy"]
    assert acc["float_model"] - acc["compressed_int8_tflite"] <= 0.03 + 1e-9  # verified in int8
    assert out.is_file() and search["seconds"] > 0
    for row in result["layers"]:  # each layer got its planned sparsity
        planned = chosen["layers"].get(row["layer"], 0.0)
        assert row["sparsity"] / 100 >= planned - 0.01
    report = edgesdk.report(tmp_path)  # the manifest beside the model holds the search
    assert "Pruning within a budget of 3 pts" in open(report.markdown).read()
    assert any("sensitivity_" in p for p in report.plots)


def test_an_unreachable_budget_writes_nothing_and_reports_the_best(
    trained_cnn, split_npz, tmp_path
):
    out = tmp_path / "p.keras"
    with pytest.raises(BudgetNotMetError, match="nothing was written") as info:
        edgesdk.compress(
            trained_cnn, split_npz[0], out, validation=split_npz[1], prune=0.95,
            max_accuracy_drop=0.0, epochs=1, learning_rate=1e-6,
        )  # fmt: skip
    search = info.value.details["prune_search"]
    assert [a["target"] for a in search["attempts"]] == [0.95, 0.85, 0.75]
    assert not any(a["fits"] for a in search["attempts"]) and search["sensitivity"]
    assert not out.exists() and list(tmp_path.iterdir()) == []

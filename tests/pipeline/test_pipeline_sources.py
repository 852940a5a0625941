"""A pipeline's model given as a function returning a PyTorch module: the file it comes from is
hashed (found without importing it), so editing that file re-runs quantize; the function's
name is an option of the stages that take the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgesdk
from edgesdk.errors import ConfigError
from edgesdk.pipeline.spec import parse_pipeline

TOML = """
model = "{model}"
data = "calib.npy"

[targets.host]
profile = "linux-x86_64"
stages = ["quantize"]

[targets.host.quantize]
samples = 32
"""
NETS = """
import torch
from torch import nn

SEED = {seed}


def build():
    torch.manual_seed(SEED)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)
    ).eval()


def build_wide():
    torch.manual_seed(SEED)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
    ).eval()
"""


def parse(folder: Path, model: str):
    return parse_pipeline(TOML.format(model=model), folder / "edgesdk.toml")


def test_function_sources_resolve_to_their_file_without_importing_it(tmp_path):
    (tmp_path / "calib.npy").write_bytes(b"")
    (tmp_path / "nets.py").write_text("raise SystemExit('imported')\n")  # never run
    spec = parse(tmp_path, "nets.py:build")
    assert spec.model == tmp_path / "nets.py" and spec.model_function == "nets.py:build"
    assert spec.model_source() == f"{tmp_path / 'nets.py'}:build"
    import json as stdlib_json

    spec = parse(tmp_path, "json.decoder:JSONDecoder")  # a dotted module: its own file
    assert spec.model == Path(stdlib_json.decoder.__file__)
    assert spec.model_source() == "json.decoder:JSONDecoder"
    assert parse(tmp_path, "nets.py").model_function is None  # a file is a file
    for model, words in (
        ("gone.py:build", "Model module " + str(tmp_path / "gone.py")),
        ("no_such_module_here:build", "Model module 'no_such_module_here'"),
        ("gone.keras", "does not exist"),
    ):
        with pytest.raises(ConfigError, match=words) as e:
            parse(tmp_path, model)
        assert "\n" not in str(e.value)


@pytest.mark.torch
def test_editing_the_file_of_a_torch_function_reruns_quantize(tmp_path, digits):
    pytest.importorskip("litert_torch", reason="PyTorch tests need edgesdk[torch]")
    np.save(tmp_path / "calib.npy", np.moveaxis(digits[0][:32], -1, 1))  # NCHW for PyTorch
    (tmp_path / "nets.py").write_text(NETS.format(seed=0))
    toml = tmp_path / "edgesdk.toml"
    toml.write_text(TOML.format(model="nets.py:build"))

    first = edgesdk.run(toml)
    assert [(s.name, s.status) for s in first.stages] == [("quantize", "ran")]
    manifest = tmp_path / "edgesdk-run" / "host" / "model.tflite.manifest.json"
    assert json.loads(manifest.read_text())["result"]["mode"] == "int8"
    assert [s.status for s in edgesdk.run(toml).stages] == ["cached"]

    (tmp_path / "nets.py").write_text(NETS.format(seed=1))  # other weights, same name
    edited = edgesdk.run(toml)
    assert [(s.status, s.reason) for s in edited.stages] == [("ran", "inputs changed: model")]
    toml.write_text(TOML.format(model="nets.py:build_wide"))  # another function, same file
    other = edgesdk.run(toml)
    assert [(s.status, s.reason) for s in other.stages] == [
        ("ran", "options changed: model_function")
    ]

"""The front-end table: every model kind has one row; recognising a source is cheap and each bad
source is one line."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgesdk.errors import ModelError
from edgesdk.inputs.frontends import FRONTENDS, ModelKind, frontend_for, locate, recognise


def test_every_kind_has_a_row_whose_loader_and_converter_exist():
    import importlib

    assert set(FRONTENDS) == set(ModelKind)
    for kind, row in FRONTENDS.items():
        assert row.kind is kind and row.framework in ("tensorflow", "torch")
        for name in (row.loader, row.converter):
            module, _, attr = name.partition(":")
            assert callable(getattr(importlib.import_module(module), attr)), name


def test_sources_are_recognised(tmp_path, trained_cnn, saved_model_dir, legacy_h5):
    assert recognise(trained_cnn) is ModelKind.KERAS
    assert recognise(legacy_h5) is ModelKind.H5
    assert recognise(saved_model_dir) is ModelKind.SAVED_MODEL
    pt2 = tmp_path / "m.pt2"
    with zipfile.ZipFile(pt2, "w") as z:
        z.writestr("m/version", "1")
    assert recognise(pt2) is ModelKind.TORCH_PROGRAM
    assert recognise("my_models:build") is ModelKind.TORCH_FUNCTION
    (tmp_path / "nets.py").write_text("def build():\n    return None\n")
    spec = f"{tmp_path / 'nets.py'}:build"
    assert recognise(spec) is ModelKind.TORCH_FUNCTION
    assert frontend_for(spec).framework == "torch"
    assert frontend_for(trained_cnn).framework == "tensorflow"


def test_locate_makes_paths_absolute_and_keeps_module_specs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets.py").write_text("")
    assert locate("nets.py:build") == f"{tmp_path / 'nets.py'}:build"
    assert locate("pkg.nets:build") == "pkg.nets:build"
    assert locate("model.keras") == str(tmp_path / "model.keras")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("m.pt2", b"not a zip", "Not a PyTorch program"),
        ("m.pt", b"weights", "torch.export.save"),
        ("m.keras", b"not a zip", "not a .keras archive"),
        ("m.onnx", b"x", "Unsupported model file"),
    ],
)
def test_bad_sources_are_one_line(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError) as e:
        recognise(path)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_missing_model_file_of_a_function_spec_is_one_line(tmp_path):
    with pytest.raises(ModelError, match="Model module not found"):
        recognise(f"{tmp_path / 'nope.py'}:build")


def test_recognising_imports_neither_tensorflow_nor_torch(tmp_path):
    code = (
        "import sys\n"
        "from edgesdk.inputs.frontends import recognise\n"
        "print(recognise('a.b:build').value)\n"
        "print([m for m in ('tensorflow', 'torch', 'litert_torch') if m in sys.modules])\n"
    )
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["torch_function", "[]"]

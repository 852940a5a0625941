"""``export-c --engine standalone --data FILE``: verification and test vectors use the user's
samples (quantized with the input's scale and zero point, as the TFLite Micro path does)
instead of random inputs; a wrong data file is one line and nothing is written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import DatasetError, ExportError
from edgesdk.firmware.standalone.graph import read_graph
from edgesdk.firmware.standalone.reference import reference_outputs

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
runner = CliRunner()


def rows(text: str, ident: str) -> np.ndarray:
    """The int8 rows of a C array ``ident[N][M] = {{...}, ...}`` in a test-vectors header."""
    body = text[text.index(f"{ident}[") :]
    body = body[body.index("= {") + 3 : body.index("};")]
    return np.array(
        [[int(v) for v in re.findall(r"-?\d+", r)] for r in re.findall(r"\{([^{}]*)\}", body)],
        dtype=np.int8,
    )


@pytest.fixture()
def autoencoder(tmp_path) -> Path:
    path = tmp_path / "ae.tflite"
    path.write_bytes(whole_model("autoencoder"))
    return path


def test_test_vectors_and_verification_use_the_users_samples(tmp_path, autoencoder):
    rng = np.random.default_rng(11)
    x = rng.uniform(0.0, 1.5, size=(30, 64)).astype(np.float32)  # not int8 noise
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "c"
    result = edgesdk.export_c(
        autoencoder, out, target="arduino-nano-33-ble", engine="standalone", test_vectors=5,
        data=tmp_path / "x.npy",
    )  # fmt: skip
    assert result.samples_from == str(tmp_path / "x.npy") and result.verified_samples == 20
    meta = json.loads((out / "export.json").read_text())
    assert meta["samples_from"] == str(tmp_path / "x.npy") and meta["verified"] is True
    g = read_graph(autoencoder.read_bytes())
    t = g.tensors[g.inputs[0]]
    # quantized here independently: round(x / scale) + zero point, clipped
    expected_in = np.clip(np.round(x[:5] / t.scale[0]) + t.zp, -128, 127).astype(np.int8)
    text = (out / "ae_test_vectors.h").read_text()
    got_in = rows(text, "kAeTestInput0")
    assert got_in.shape == (5, 64) and np.array_equal(got_in, expected_in)
    got_out = rows(text, "kAeTestOutput0")
    for k in range(5):
        ref = reference_outputs(autoencoder.read_bytes(), g, [expected_in[k].reshape(1, 64)])
        assert np.array_equal(got_out[k], ref[0].reshape(-1)), k
    # without --data the vectors are random int8 over the full range: a different set
    plain = edgesdk.export_c(
        autoencoder, tmp_path / "r", engine="standalone", test_vectors=5, verify=False
    )
    assert plain.samples_from == "random"
    assert not np.array_equal(rows((tmp_path / "r/ae_test_vectors.h").read_text(),
                                   "kAeTestInput0"), expected_in)  # fmt: skip


def test_a_wrong_data_file_is_one_line_and_nothing_is_written(tmp_path, autoencoder):
    np.save(tmp_path / "bad.npy", np.zeros((10, 7), dtype=np.float32))  # 7 values, not 64
    out = tmp_path / "c"
    with pytest.raises(DatasetError) as e:
        edgesdk.export_c(autoencoder, out, engine="standalone", data=tmp_path / "bad.npy")
    assert "\n" not in str(e.value) and "64" in str(e.value)
    cli = runner.invoke(app, ["export-c", str(autoencoder), "-o", str(out), "--engine",
                              "standalone", "--data", str(tmp_path / "bad.npy")])  # fmt: skip
    assert cli.exit_code == 1 and len(cli.output.strip().splitlines()) == 1, cli.output
    np.save(tmp_path / "few.npy", np.random.default_rng(1).normal(size=(2, 64)).astype(np.float32))
    with pytest.raises(ExportError, match="Only 2 samples .* for 3 test vectors"):
        edgesdk.export_c(autoencoder, out, engine="standalone", test_vectors=3,
                         data=tmp_path / "few.npy")  # fmt: skip
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c")]


def test_cli_takes_data(tmp_path, autoencoder):
    np.save(tmp_path / "x.npy", np.random.default_rng(3).normal(size=(8, 64)).astype(np.float32))
    out = tmp_path / "c"
    cli = runner.invoke(app, ["export-c", str(autoencoder), "-o", str(out), "--engine",
                              "standalone", "--data", str(tmp_path / "x.npy"), "--test-vectors",
                              "2", "--json"])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    data = json.loads(cli.output)
    assert data["verified_samples"] == 8 and data["samples_from"].endswith("x.npy")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["data"].endswith("x.npy")

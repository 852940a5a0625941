"""The standalone engine's kernel set is the user's to choose at export (``kernels``): "dsp" by
default where the core has the DSP extension, "portable" on request (plain C, the smaller
constants); "dsp" for a core without the extension, a TFLite Micro set, or another set at
emulate are one line each and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ConfigError, ExportError, FirmwareError

runner = CliRunner()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("choice") / "digits_cnn.tflite"
    path.write_bytes(whole_model("digits_cnn"))
    return path


def _kernels_in(bundle: Path) -> tuple[str, str]:
    meta = json.loads((bundle / "export.json").read_text())
    return meta["kernel_set"], (bundle / "digits_cnn_model.c").read_text()


def test_portable_on_request_dsp_by_default(model, tmp_path):
    edgesdk.export_c(model, tmp_path / "d", "arduino-nano-33-ble", engine="standalone")
    held, c = _kernels_in(tmp_path / "d")
    assert held == "dsp" and "es_pointwise16_dsp(" in c
    edgesdk.export_c(
        model, tmp_path / "p", "arduino-nano-33-ble", engine="standalone", kernels="portable"
    )
    held, c = _kernels_in(tmp_path / "p")
    assert held == "portable" and "_dsp(" not in c
    # the portable constants are smaller: no weights widened to 16 bits
    assert (tmp_path / "p" / "digits_cnn_model.c").stat().st_size < (
        tmp_path / "d" / "digits_cnn_model.c"
    ).stat().st_size


def test_bad_kernel_choices_are_one_line_and_write_nothing(model, tmp_path):
    cases = [
        ("rp2040", "dsp", ExportError, "needs a core with the DSP extension"),
        ("arduino-nano-33-ble", "cmsis-nn", ConfigError, r"one of: portable, dsp\) for engine="),
    ]
    for target, kernels, error, said in cases:
        out = tmp_path / f"{target}-{kernels}"
        with pytest.raises(error, match=said) as e:
            edgesdk.export_c(model, out, target, engine="standalone", kernels=kernels)
        assert "\n" not in str(e.value) and not out.exists(), str(e.value)
    with pytest.raises(ConfigError, match="Invalid kernels='dsp'") as e:  # not a TFLite Micro set
        edgesdk.export_c(model, tmp_path / "t", "arduino-nano-33-ble", kernels="dsp")
    assert "\n" not in str(e.value) and not (tmp_path / "t").exists()


def test_emulate_takes_only_the_bundles_own_set(model, tmp_path):
    out = tmp_path / "p"
    r = runner.invoke(
        app,
        ["export-c", str(model), "-t", "arduino-nano-33-ble", "-o", str(out),
         "--engine", "standalone", "--kernels", "portable", "--test-vectors", "1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["emulate", str(out), "--kernels", "dsp"])
    assert r.exit_code == 1 and "holds the 'portable' kernels" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(FirmwareError, match="export it again with kernels='cmsis-nn'"):
        edgesdk.emulate(out, kernels="cmsis-nn")

"""The standalone C engine on emulated Cortex-M0 (micro:bit), Cortex-M0+ code (MPS2 AN385's
Cortex-M3), Cortex-M4F (MPS2 AN386) and Cortex-M7 (MPS2 AN500): real arm-none-eabi-gcc, real
qemu-system-arm, every output byte against LiteRT's reference kernels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from standalone_models import WHOLE_MODELS, op_cases, op_model, whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import FirmwareError

pytestmark = pytest.mark.emulation
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    from edgesdk.firmware.toolchain import find_toolchain

    try:
        find_toolchain()
    except FirmwareError as e:
        pytest.skip(f"firmware emulation unavailable: {e}")


def _bundle(tmp_path: Path, model: str, target: str | Path) -> Path:
    path = tmp_path / f"{model}.tflite"
    path.write_bytes(whole_model(model))
    out = tmp_path / "bundle"
    edgesdk.export_c(path, out, target=target, engine="standalone", test_vectors=3)
    return out


@pytest.mark.parametrize("model", ["digits_cnn", "ds_cnn"])
@pytest.mark.parametrize("target", ["arduino-nano-33-ble", "rp2040", "m0", "stm32f746-disco"])
def test_models_are_bit_exact_on_emulated_cores(tmp_path, model, target, cortex_m0):
    profile = cortex_m0 if target == "m0" else target
    result = edgesdk.emulate(_bundle(tmp_path, model, profile), target=profile)
    assert result.bit_exact and [v["passed"] for v in result.vectors] == [True] * 3
    assert result.core == {"arduino-nano-33-ble": "cortex-m4f", "rp2040": "cortex-m0plus",
                           "m0": "cortex-m0", "stm32f746-disco": "cortex-m7"}[target]  # fmt: skip
    assert len(result.instructions) == 3 and min(result.instructions) > 10_000
    assert max(result.instructions) - min(result.instructions) < 0.01 * max(result.instructions)
    # per-layer counts (a second build with a marker before each layer) add up to the whole
    layers = sum(n for _, _, n in result.layer_instructions)
    assert 0.95 * min(result.instructions) < layers < 1.01 * max(result.instructions)
    assert result.flash["constants"] > 0 and result.ram["arena"] > 0


def test_a_wrong_expected_output_fails_on_the_target(tmp_path):
    bundle = _bundle(tmp_path, "digits_cnn", "arduino-nano-33-ble")
    vectors = bundle / "digits_cnn_test_vectors.h"
    text = vectors.read_text()
    m = re.search(r"kDigitsCnnTestOutput0\[3\]\[10\] = \{\s*\{\s*(-?\d+)", text)
    value = int(m.group(1))
    vectors.write_text(
        text[: m.start(1)] + str(value + 1 if value < 127 else value - 1) + text[m.end(1) :]
    )
    result = edgesdk.emulate(bundle)
    assert not result.bit_exact
    bad = result.first_mismatch()
    assert bad["index"] == 0 and bad["output"] == 0 and bad["element"] == 0
    cli = runner.invoke(app, ["emulate", str(bundle)])
    assert cli.exit_code == 1 and "differs" in cli.output


def test_cli_emulates_a_standalone_bundle(tmp_path):
    bundle = _bundle(tmp_path, "ds_cnn", "arduino-nano-33-ble")
    result = runner.invoke(app, ["emulate", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "standalone engine" in result.output and "ESTIMATE" in result.output
    assert "DEPTHWISE_CONV_2D" in result.output  # the per-layer table
    saved = tmp_path / "emulate.json"
    assert runner.invoke(app, ["emulate", str(bundle), "--save", str(saved)]).exit_code == 0
    report = runner.invoke(app, ["report", str(tmp_path), "-o", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert (
        "Standalone C engine (no interpreter)" in text
        and "| bundle | arduino-nano-33-ble |" in text
    )


CASES = [f"op:{n}" for n in sorted(op_cases())] + [
    f"model:{n}" for n in [*WHOLE_MODELS, "two_in_two_out", "two_branches"]
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("core", ["m4f", "m0"])
def test_every_op_and_model_is_bit_exact_on_m0_and_m4f(tmp_path, case, core, cortex_m0):
    from edgesdk.firmware.standalone.emulation import emulate_standalone

    kind, name = case.split(":")
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(op_model(name) if kind == "op" else whole_model(name))
    profile = "arduino-nano-33-ble" if core == "m4f" else cortex_m0
    out = tmp_path / "bundle"
    edgesdk.export_c(path, out, target=profile, engine="standalone", test_vectors=3, verify=False)
    result = emulate_standalone(out, profile, per_layer=False)
    assert result.bit_exact, result.first_mismatch()
    assert [v["passed"] for v in result.vectors] == [True] * 3


def test_the_firmware_uses_the_in_place_entry_so_its_ram_is_the_plans(tmp_path):
    """The driver has no I/O buffers of its own: static RAM = the plan + the same few hundred
    bytes of newlib's for every model (a copying driver would add each model's I/O size)."""
    from edgesdk.firmware.standalone.emulation import emulate_standalone

    overhead = {}
    for name in ("digits_cnn", "ds_cnn"):  # 74 and 502 bytes of I/O
        (tmp_path / name).mkdir()
        bundle = _bundle(tmp_path / name, name, "arduino-nano-33-ble")
        work = tmp_path / name / "work"
        result = emulate_standalone(bundle, per_layer=False, work_dir=work)
        assert result.bit_exact and result.ram["io"] == 0
        assert f"{name}_invoke_in_place();" in (work / "firmware" / "main.c").read_text()
        overhead[name] = result.ram["static"] - (result.ram["arena"] + 3) // 4 * 4  # words
    # equal up to alignment padding; a copying driver would differ by 502 - 74 = 428 bytes
    assert abs(overhead["digits_cnn"] - overhead["ds_cnn"]) <= 8, overhead
    assert 0 < overhead["ds_cnn"] < 1024

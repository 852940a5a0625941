"""The integer-only standalone C on emulated Cortex-M0 (no FPU) and Cortex-M4F: every output
byte against TFLite Micro (SOFTMAX) / BUILTIN_REF (the rest), and an M0 firmware that links no
soft-float routine at all (``arm-none-eabi-nm``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from softmax_models import softmax_model
from standalone_models import op_model, whole_model

import edgesdk

pytestmark = pytest.mark.emulation

# libgcc's soft-float entry points (EABI names and the generic ones they alias)
SOFT_FLOAT = re.compile(
    r"\b(__aeabi_[fd]\w*|__aeabi_[il]2[fd]|__aeabi_ui2[fd]|__(add|sub|mul|div)[sd]f3|"
    r"__(fix|fixuns)[sd]f\w*|__float\w*[sd]f|__extendsfdf2|__truncdfsf2|__(eq|ne|lt|le|gt|ge)[sd]f2)\b"
)


def _soft_float(elf: Path, toolchain) -> list[str]:
    proc = subprocess.run([str(toolchain.nm), str(elf)], capture_output=True, text=True, check=True)
    return sorted({m.group(0) for m in SOFT_FLOAT.finditer(proc.stdout)})


def _emulate(tmp_path: Path, model: bytes, profile, integer_only: bool):
    from edgesdk.firmware.standalone.emulation import emulate_standalone

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    out, work = tmp_path / "bundle", tmp_path / "work"
    edgesdk.export_c(
        path, out, target=profile, engine="standalone", test_vectors=3, integer_only=integer_only
    )
    return emulate_standalone(out, profile, per_layer=False, work_dir=work), work


MODELS = {
    "digits_cnn": lambda: whole_model("digits_cnn"),
    "ds_cnn": lambda: whole_model("ds_cnn"),
    "softmax_rows": lambda: softmax_model((6, 12), 0.07, -128, 0.5),
}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("core", ["m0", "m4f"])
def test_integer_only_is_bit_exact_on_m0_and_m4f(tmp_path, model, core, cortex_m0, toolchain):
    profile = cortex_m0 if core == "m0" else "arduino-nano-33-ble"
    result, work = _emulate(tmp_path, MODELS[model](), profile, integer_only=True)
    assert result.bit_exact, result.first_mismatch()
    assert [v["passed"] for v in result.vectors] == [True] * 3
    if core == "m0":  # no FPU: any float would pull in libgcc's soft-float routines
        assert _soft_float(work / "firmware" / "firmware.elf", toolchain) == []


def test_float_io_links_soft_float_on_m0_and_int8_models_do_not(tmp_path, cortex_m0, toolchain):
    """The symbol check can fail: a float-I/O model's QUANTIZE/DEQUANTIZE on the M0 need
    libgcc's routines; an int8 model needs none even without integer_only (its SOFTMAX is the
    fixed-point kernel by default)."""
    result, work = _emulate(tmp_path / "f", op_model("float_io"), cortex_m0, integer_only=False)
    assert result.bit_exact
    found = _soft_float(work / "firmware" / "firmware.elf", toolchain)
    assert any(s.startswith("__aeabi_f") for s in found), found
    result, work = _emulate(tmp_path / "i", whole_model("ds_cnn"), cortex_m0, integer_only=False)
    assert result.bit_exact
    assert _soft_float(work / "firmware" / "firmware.elf", toolchain) == []


def test_a_wrong_expected_softmax_output_fails_on_the_m0(tmp_path, cortex_m0, toolchain):
    from edgesdk.firmware.standalone.emulation import emulate_standalone

    _, work = _emulate(tmp_path, softmax_model((2, 8), 0.1, 0, 1.0), cortex_m0, True)
    vectors = tmp_path / "bundle" / "m_test_vectors.h"
    text = vectors.read_text()
    m = re.search(r"kMTestOutput0\[3\]\[16\] = \{\s*\{\s*(-?\d+)", text)
    value = int(m.group(1))
    wrong = value + 1 if value < 127 else value - 1
    vectors.write_text(text[: m.start(1)] + str(wrong) + text[m.end(1) :])
    result = emulate_standalone(tmp_path / "bundle", cortex_m0, per_layer=False)
    assert not result.bit_exact and result.first_mismatch()["index"] == 0

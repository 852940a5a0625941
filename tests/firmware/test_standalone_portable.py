"""The portable kernels' ARMv6-M paths: weights packed 8 rows per pass as w + 128 bytes
(portable.py, es_mac8 in kernels/common.c: inline Thumb-1 assembly on ARMv6-M, C elsewhere), the
convolution without scratch (gathered into the output's unwritten end; the last pixels in runs),
bit-exact with BUILTIN_REF on the emulated Cortex-M0 on random models (zero points at the
limits, extreme multipliers) as on the host."""

from __future__ import annotations

import numpy as np
import pytest
from standalone_fuzz_models import random_case
from standalone_models import whole_model

from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.portable import pack_rows


def test_rows_are_packed_eight_per_pass_as_unsigned_bytes():
    w = np.arange(-60, 60, dtype=np.int8).reshape(12, 10)  # 12 rows: one group and a padded one
    got = pack_rows(w)
    assert got.dtype == np.uint8 and got.size == 16 * 10
    for r in range(16):
        for i in range(10):
            want = int(w[r, i]) + 128 if r < 12 else 128  # padding rows: weight 0
            assert got[(r // 8) * 80 + i * 8 + r % 8] == want, (r, i)


def test_the_portable_layers_carry_packed_weights_and_a_zero_point_row():
    c = compile_model(whole_model("ds_cnn"), "m", kernels="portable")
    conv = next(L for L in c.layers if L.kernel == "conv2d")
    arrays = {s: (t, d) for s, t, d in conv.arrays}
    f = dict(conv.fields)
    assert arrays["weights"][0] == "uint8_t"
    assert arrays["zp_row"][1].tolist() == [int(f["in_zp"])] * (int(f["k_w"]) * int(f["in_c"]))
    assert len(arrays["bias_eff"][1]) % 8 == 0
    # ResNet-style: the first convolution runs without scratch (its gather goes to the
    # output's unwritten end), the case the emulated test below runs
    lean = compile_model(whole_model("resnet_like"), "m", kernels="portable")
    assert "es_conv2d_nocol(&op0," in lean.sources.source.decode()


def _cases(kinds: dict[str, int]) -> list:
    picked, seen = [], dict.fromkeys(kinds, 0)
    for s in range(300):
        c = random_case(s)
        if c is not None and seen.get(c.kind, 99) < kinds[c.kind]:
            seen[c.kind] += 1
            picked.append(c)
        if seen == kinds:
            return picked
    raise AssertionError(f"not enough random cases: {seen}")


@pytest.mark.emulation
def test_random_models_are_bit_exact_on_the_emulated_m0(tmp_path, cortex_m0):
    from edgesdk.core.profiles import load_profile
    from edgesdk.firmware.standalone.emulation import emulate_standalone
    from edgesdk.firmware.standalone.export import export_standalone

    profile = load_profile(cortex_m0)
    cases = _cases({"CONV_2D": 3, "FULLY_CONNECTED": 3, "DEPTHWISE_CONV_2D": 1})
    models = {f"fuzz{c.seed}": c.model for c in cases}
    models["resnet_like"] = whole_model("resnet_like")  # a convolution without scratch
    for name, data in models.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(data)
        out = tmp_path / name
        result = export_standalone(path, profile, out, test_vectors=3, verify=False)
        assert result.kernel_set == "portable"
        emu = emulate_standalone(out, profile, per_layer=False, work_dir=tmp_path / f"{name}-w")
        assert emu.bit_exact, (name, emu.first_mismatch())

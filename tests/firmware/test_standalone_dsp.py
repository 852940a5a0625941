"""The standalone engine's DSP-extension kernels: chosen from the profile's core, weights packed
in the loop's order, bit-exact with BUILTIN_REF on the host (the intrinsics' portable C, ASan and
UBSan) and on the emulated Cortex-M4F (the real SXTB16 / SMLAD), on random models too."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from standalone_fuzz_models import differential, random_case, with_bias_changed
from standalone_models import WHOLE_MODELS, host_mismatches, op_cases, op_model, whole_model

from edgesdk.core.profiles import load_profile
from edgesdk.errors import ExportError
from edgesdk.firmware.standalone.dsp import (
    acc_bound,
    kernel_set_for,
    pack_depthwise,
    pack_fc4,
    pack_pointwise16,
    requant_constants,
)
from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.export import export_standalone
from edgesdk.firmware.standalone.hostrun import build_host, run_host
from edgesdk.firmware.standalone.reference import reference_outputs

M4F = "arduino-nano-33-ble"


def test_the_kernel_set_follows_the_core():
    assert [kernel_set_for(c) for c in ("cortex-m4", "cortex-m7", "cortex-m33")] == ["dsp"] * 3
    assert [kernel_set_for(c) for c in ("cortex-m0", "cortex-m0plus", None)] == ["portable"] * 3


def test_pointwise_weights_are_widened_to_halfword_pairs_per_group_of_four():
    w = np.arange(-20, 10, dtype=np.int8).reshape(5, 6)  # 5 channels (4 + 1), 6 inputs (4 + 2)
    bias = np.array([7, -8, 9, -10, 11], dtype=np.int32)
    words = pack_pointwise16(w, bias).view(np.uint32).tolist()
    pair = lambda lo, hi: (int(lo) & 0xFFFF) | (int(hi) & 0xFFFF) << 16  # noqa: E731
    group0 = [int(v) & 0xFFFFFFFF for v in bias[:4]]
    group0 += [p for c in range(4) for p in (pair(w[c, 0], w[c, 2]), pair(w[c, 1], w[c, 3]))]
    group0 += [int(w[c, k]) & 0xFFFFFFFF for k in (4, 5) for c in range(4)]
    group1 = [11, 0, 0, 0, pair(w[4, 0], w[4, 2]), pair(w[4, 1], w[4, 3])] + [0, 0] * 3
    group1 += [int(w[4, 4]) & 0xFFFFFFFF, 0, 0, 0, int(w[4, 5]) & 0xFFFFFFFF, 0, 0, 0]
    assert words == group0 + group1


def test_fully_connected_weights_are_packed_per_group_of_four_channels():
    w = np.arange(5 * 6, dtype=np.int8).reshape(5, 6)  # 5 channels (4 + 1), 6 inputs (4 + 2)
    got = pack_fc4(w).tolist()
    group0 = [int(v) for c in range(4) for v in w[c, :4]] + [
        int(w[c, k]) for k in (4, 5) for c in range(4)
    ]
    group1 = [*w[4, :4].tolist(), *[0] * 12, int(w[4, 4]), 0, 0, 0, int(w[4, 5]), 0, 0, 0]
    assert got == group0 + group1


def test_depthwise_weights_become_halfword_pairs():
    w = np.array([[1, -2, 3, -4], [5, 6, -7, 8]], dtype=np.int8)  # 2 taps, 4 channels
    words = pack_depthwise(w).view(np.uint32).tolist()
    half = lambda v: v & 0xFFFF  # noqa: E731
    assert words == [
        half(1) | half(3) << 16, half(-2) | half(-4) << 16,
        half(5) | half(-7) << 16, half(6) | half(8) << 16,
    ]  # fmt: skip


def test_an_unknown_kernel_set_is_refused():
    with pytest.raises(ExportError, match="kernels='neon'.*portable, dsp"):
        compile_model(whole_model("digits_cnn"), "m", kernels="neon")


def test_export_picks_dsp_kernels_for_an_m4f_and_portable_c_for_an_m0(tmp_path, cortex_m0):
    path = tmp_path / "ds_cnn.tflite"
    path.write_bytes(whole_model("ds_cnn"))
    m4 = export_standalone(path, load_profile(M4F), tmp_path / "m4", verify_samples=5)
    assert m4.kernel_set == "dsp" and m4.verified_samples == 5
    assert {"pointwise_dsp", "conv_dsp", "depthwise_dsp", "fully_connected_dsp"} <= set(m4.kernels)
    m0 = export_standalone(path, load_profile(cortex_m0), tmp_path / "m0", verify_samples=5)
    assert m0.kernel_set == "portable" and not any(k.endswith("_dsp") for k in m0.kernels)
    assert "SMLAD" not in (tmp_path / "m0" / "ds_cnn_model.c").read_text()


@pytest.mark.parametrize(
    "name", [*sorted(op_cases()), *(f"model:{m}" for m in sorted(WHOLE_MODELS))]
)
def test_every_op_and_model_is_bit_exact_with_the_dsp_kernels_on_the_host(name, tmp_path):
    """Each op case and look-alike model through the DSP kernel set (every depthwise shape,
    ADD and MUL included), copying and in place."""
    model = whole_model(name[6:]) if name.startswith("model:") else op_model(name)
    for in_place in (False, True):
        bad, total = host_mismatches(model, tmp_path / str(in_place), "dsp", in_place, 8, True)
        assert total > 0 and bad == 0, f"{name} (in place: {in_place}): {bad} of {total} differ"


def test_a_mean_of_more_than_256_extreme_values_does_not_overflow_a_lane(tmp_path):
    """MEAN's 16-bit lane sums (es_sum4) take 256 values at most: 289 values of 127 or -128
    each would overflow one lane; the result equals BUILTIN_REF's."""
    model = op_model("mean_large")
    compiled = compile_model(model, "m", kernels="dsp")
    assert {L.kernel for L in compiled.layers} == {"mean_dsp"}
    (tmp_path / "m_model.h").write_text(compiled.sources.header)
    (tmp_path / "m_model.c").write_bytes(compiled.sources.source)
    g = compiled.graph
    exe = build_host(tmp_path, "m", g, sanitize=True)
    shape = g.tensors[g.inputs[0]].shape
    vectors = [[np.full(shape, v, dtype=np.int8)] for v in (127, -128)]
    for v, row in zip(vectors, run_host(exe, g, vectors), strict=True):
        assert row[0].tobytes() == reference_outputs(model, g, v)[0].tobytes(), v[0].flat[0]


def _cases(start: int, count: int) -> list:
    return [c for s in range(start, start + count) if (c := random_case(s)) is not None]


def test_random_models_are_bit_exact_with_both_kernel_sets_on_the_host(tmp_path):
    cases = _cases(0, 40)
    kernels = set()
    for c in cases:
        kernels |= {L.kernel for L in compile_model(c.model, "m", kernels="dsp").layers}
    dsp = {"pointwise_dsp", "conv_dsp", "depthwise_dsp", "fully_connected_dsp"}
    assert dsp <= kernels and "depthwise_conv2d" not in kernels  # every depthwise shape in DSP
    assert differential(cases, tmp_path / "fuzz") == []


def test_the_differential_check_finds_a_wrong_byte(tmp_path):
    from edgesdk.firmware.standalone.graph import read_graph
    from edgesdk.firmware.standalone.reference import reference_outputs

    def moves(c: object) -> bool:  # a bias moved by 2^20 changes the first output byte
        g = read_graph(c.model)
        v = np.full(g.tensors[g.inputs[0]].shape, 3, dtype=np.int8)
        outs = [reference_outputs(m, g, [v])[0].flat[0] for m in (c.model, moved(c))]
        return outs[0] != outs[1]

    moved = lambda c: with_bias_changed(c.model, 1 << 20)  # noqa: E731
    good, case = _cases(0, 1)[0], next(c for c in _cases(0, 40) if moves(c))
    # the C of the model, the reference run on the same model with one bias moved
    bait = dataclasses.replace(case, reference=moved(case))
    findings = differential([good, bait], tmp_path / "fuzz")
    assert findings and all(f.startswith(f"seed {case.seed} (") for f in findings)


@pytest.mark.emulation
def test_dsp_kernels_are_bit_exact_on_the_emulated_m4f(tmp_path):
    from edgesdk.firmware.isa import disassemble, dsp_instructions
    from edgesdk.firmware.standalone.emulation import emulate_standalone
    from edgesdk.firmware.toolchain import find_toolchain

    profile = load_profile(M4F)
    models = {"ds_cnn": whole_model("ds_cnn"), "digits_cnn": whole_model("digits_cnn")}
    # every depthwise path (depth multiplier 2 with stride 2, a channel tail, dilation, 5x5 in
    # place), ADD and MUL, MEAN over more than 256 values, average pooling
    for case in ("dwconv_same_stride2_mult2", "dwconv_per_tensor", "dwconv_dilation_relu",
                 "in_place_chain", "add_mul_concat", "mean_large", "avgpool_same_stride2"):  # fmt: skip
        models[case] = op_model(case)
    dsp = {"pointwise_dsp", "conv_dsp", "depthwise_dsp", "fully_connected_dsp"}
    seen: dict[str, int] = {}
    for c in _cases(100, 40):  # two random cases of each DSP kernel
        kind = next(iter({L.kernel for L in compile_model(c.model, "m", kernels="dsp").layers}))
        if kind in dsp and seen.get(kind, 0) < 2:
            seen[kind] = seen.get(kind, 0) + 1
            models[f"fuzz{c.seed}"] = c.model
    assert seen == dict.fromkeys(dsp, 2)
    for name, data in models.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(data)
        out = tmp_path / name
        result = export_standalone(path, profile, out, test_vectors=3, verify=False)
        assert result.kernel_set == "dsp"
        work = tmp_path / f"{name}-work"
        emu = emulate_standalone(out, profile, per_layer=False, work_dir=work)
        assert emu.bit_exact, (name, emu.first_mismatch())
        elf = work / "firmware" / "firmware.elf"
        simd = dsp_instructions(elf, find_toolchain().objdump)
        # a kernel unpacks with SXTB16, or (depthwise on widened rows) multiplies halfwords
        halves = {i.text.split(" ", 1)[0] for i in disassemble(elf, find_toolchain().objdump)}
        assert simd.get("sxtb16", 0) > 0 or "smlabb" in halves, (name, simd)
        if name == "ds_cnn":
            assert simd.get("smlad", 0) > 0, simd


REQUANT_CHECK = r"""
#include <stdint.h>
#include <stdio.h>
%s
static uint64_t s = 88172645463325252ull;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)s; }
int main(void) {
  long i, bad = 0;
  int32_t rq[4];
  const int32_t edge[] = {0, 1, -1, INT32_MAX, INT32_MIN, 1 << 30, -(1 << 30), 12345, -12345};
  for (i = 0; i < 3000000; ++i) {
    int32_t x = (int32_t)rnd(), m = (int32_t)((rnd() & 0x3fffffffu) | 0x40000000u), sh;
    if (i %% 7 == 0) x = edge[rnd() %% 9];
    if (i %% 11 == 0) x >>= rnd() %% 31;
    if (i %% 13 == 0) m = (i %% 26 == 0) ? 0 : INT32_MAX;
    sh = (int32_t)(rnd() %% 62) - 31; /* -31 .. 30, QuantizeMultiplier's range */
    if (sh > 0) x >>= sh;
    /* the exact form of dsp.requant_constants: any x */
    rq[0] = m, rq[1] = ~(sh > 0 ? sh : 0), rq[3] = sh > 0 ? 0 : -sh;
    rq[2] = (int32_t)((1u << rq[3]) - 1u);
    bad += es_requant(x, m, sh) != es_requant_rq(x, rq);
  }
  printf("%%ld\n", bad);
  return 0;
}
"""

# per channel {m, shift, bound, the four constants of dsp.requant_constants}: x drawn in
# [-bound, bound], its ends included
REQUANT_BOUND_CHECK = r"""
#include <stdint.h>
#include <stdio.h>
%s
static const int32_t ch[][7] = {%s};
static uint64_t s = 88172645463325252ull;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)s; }
int main(void) {
  long i, k, bad = 0, fast = 0;
  for (i = 0; i < (long)(sizeof ch / sizeof ch[0]); ++i) {
    const int32_t m = ch[i][0], sh = ch[i][1], b = ch[i][2];
    fast += ch[i][4] > 0;
    for (k = 0; k < 1000; ++k) {
      int32_t x = (int32_t)((int64_t)(rnd() %% (2u * (uint32_t)b + 1u)) - b);
      if (k < 4) x = k == 0 ? b : k == 1 ? -b : k == 2 ? 0 : -1;
      if (k %% 5 == 4) x >>= rnd() %% 20;
      bad += es_requant(x, m, sh) != es_requant_rq(x, &ch[i][3]);
    }
  }
  printf("%%ld %%ld\n", bad, fast);
  return 0;
}
"""


def _host_run(tmp_path, name: str, source: str) -> str:
    import subprocess

    from edgesdk.firmware.standalone.hostrun import SANITIZE_FLAGS, STRICT_FLAGS

    (tmp_path / f"{name}.c").write_text(source)
    exe = tmp_path / name
    cc = ["gcc", *STRICT_FLAGS, *SANITIZE_FLAGS, str(tmp_path / f"{name}.c"), "-o", str(exe)]
    subprocess.run(cc, check=True)
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=True)
    assert "runtime error" not in run.stderr, run.stderr
    return run.stdout


def test_requantization_constants_per_channel():
    mult, shift = np.array([1 << 30, 2**31 - 1, 0, 1 << 30]), np.array([-3, 2, -31, 0])
    exact = [1 << 30, ~0, 7, 3, 2**31 - 1, ~2, 0, 0, 0, ~0, 2**31 - 1, 31, 1 << 30, ~0, 0, 0]
    assert requant_constants(mult, shift).tolist() == exact
    # the fast form where the bound allows it (right >= 1 only): {m, left + 1, 2^(right-1), right}
    bound = np.array([(1 << 30) - 1, (1 << 28) - 1, 5, 5])
    got = requant_constants(mult, shift, bound).tolist()
    assert got == [1 << 30, 1, 4, 3, *exact[4:8], 0, 1, 1 << 30, 31, *exact[12:]]
    over = requant_constants(mult, shift, bound + 1).tolist()  # one past: no fast form
    assert over[:8] == exact[:8]


def test_the_bound_of_the_accumulator_counts_the_input_range():
    w = np.array([[1, -2, 3], [0, 0, -128]], dtype=np.int8)
    assert acc_bound(w, np.array([-10, 7])).tolist() == [10 + 128 * 6, 7 + 128 * 128]


def _bound_channels(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 4000
    mult = rng.integers(1 << 30, 1 << 31, n)
    mult[::17], mult[1::17] = 0, 2**31 - 1
    shift = rng.integers(-31, 8, n)  # conv multipliers: mostly right shifts
    left = np.maximum(shift, 0)
    limit = ((1 << 30) - 1) >> left
    bound = np.where(rng.random(n) < 0.5, limit, (limit * rng.random(n)).astype(np.int64) + 1)
    bound[::7] = np.minimum(limit * 2, 2**31 - 2)[::7]  # beyond the limit: the exact form
    bound[3::7] = (limit + 1)[3::7]  # one past it: the exact form too
    return mult, shift, bound


def test_the_fast_requantization_is_exact_within_the_proven_bound(tmp_path):
    """es_requant_rq's fast form (SMMLAR) against common.c's es_requant on 4 M values x in
    [-bound, bound] of 4,000 channels (bounds at the limit dsp.requant_constants allows); with
    constants made from bounds half the true ones (a bound check that lets too much through)
    the same program must find differences."""
    from edgesdk.firmware.standalone.codegen import kernel_text

    text = kernel_text("common") + kernel_text("dsp")
    mult, shift, bound = _bound_channels(0)
    counts = []
    for claimed in (bound, bound // 2):
        rq = requant_constants(mult, shift, claimed).reshape(-1, 4)
        rows = ",".join(
            "{" + ",".join(map(str, (m, sh, b, *r))) + "}"
            for m, sh, b, r in zip(mult, shift, bound, rq.tolist(), strict=True)
        )
        counts.append(_host_run(tmp_path, f"rqb{len(counts)}", REQUANT_BOUND_CHECK % (text, rows)))
    (bad, fast), (bad_loose, _) = (tuple(map(int, c.split())) for c in counts)
    assert bad == 0 and fast > 2000
    assert bad_loose > 1000


def test_the_dsp_requantization_equals_the_reference_one(tmp_path):
    """es_requant_rq's exact form against common.c's es_requant on 3 M random and edge values;
    the same program with its rounding comparison loosened must find differences."""
    from edgesdk.firmware.standalone.codegen import kernel_text

    text = kernel_text("common") + kernel_text("dsp")
    loose = text.replace("((h & mask) > ((mask >> 1)", "((h & mask) >= ((mask >> 1)")
    assert loose != text
    counts = [
        int(_host_run(tmp_path, f"rq{i}", REQUANT_CHECK % t)) for i, t in enumerate((text, loose))
    ]
    assert counts[0] == 0 and counts[1] > 1000


REQUANT_SINGLE_CHECK = r"""
#include <stdint.h>
#include <stdio.h>
%s
static uint64_t s = 88172645463325252ull;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (uint32_t)s; }
int main(void) {
  long i, bad = 0;
  const int32_t edge[] = {0, 1, -1, INT32_MAX, INT32_MIN, 1 << 30, -(1 << 30), 12345, -12345};
  for (i = 0; i < 3000000; ++i) {
    int32_t x = (int32_t)rnd(), m = (int32_t)((rnd() & 0x3fffffffu) | 0x40000000u);
    const int32_t sh = (int32_t)(rnd() %% 62) - 31; /* -31 .. 30 */
    if (i %% 7 == 0) x = edge[rnd() %% 9];
    if (i %% 11 == 0) x >>= rnd() %% 31;
    if (i %% 13 == 0) m = (i %% 26 == 0) ? 0 : INT32_MAX;
    if (sh > 0) x >>= sh + 1; /* es_requant_single's own range: x * m * 2^sh in int64 */
    bad += es_requant_single(x, m, sh) != es_requant_single_dsp(x, m, sh);
  }
  printf("%%ld\n", bad);
  return 0;
}
"""


def test_the_fully_connected_requantization_equals_the_reference_one(tmp_path):
    """es_requant_single_dsp (SMMLA, one shift) against common.c's es_requant_single on 3 M random
    and edge values; the same program with SMMLAR (the high word rounded, not floored) must find
    differences."""
    from edgesdk.firmware.standalone.codegen import kernel_text

    text = kernel_text("common") + kernel_text("dsp") + kernel_text("fully_connected_dsp")
    loose = text.replace("ES_SMMLA(x, m, 1 << (-shift - 2))", "ES_SMMLAR(x, m, 1 << (-shift - 2))")
    assert loose != text
    runs = [
        _host_run(tmp_path, f"rqs{i}", REQUANT_SINGLE_CHECK % t)
        for i, t in enumerate((text, loose))
    ]
    counts = [int(r) for r in runs]
    assert counts[0] == 0 and counts[1] > 1000

"""The standalone engine's DSP-extension kernels: chosen from the profile's core, weights packed
in the loop's order, bit-exact with BUILTIN_REF on the host (the intrinsics' portable C, ASan and
UBSan) and on the emulated Cortex-M4F (the real SXTB16 / SMLAD), on random models too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from standalone_fuzz_models import differential, random_case, with_bias_changed
from standalone_models import WHOLE_MODELS, op_cases, op_model, whole_model

from edgesdk.core.profiles import load_profile
from edgesdk.errors import ExportError
from edgesdk.firmware.standalone.dsp import (
    kernel_set_for,
    pack_depthwise,
    pack_pointwise,
    pack_pointwise16,
    requant_constants,
)
from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.export import export_standalone, random_vectors
from edgesdk.firmware.standalone.hostrun import build_host, run_host
from edgesdk.firmware.standalone.reference import reference_outputs

M4F = "arduino-nano-33-ble"


def test_the_kernel_set_follows_the_core():
    assert [kernel_set_for(c) for c in ("cortex-m4", "cortex-m7", "cortex-m33")] == ["dsp"] * 3
    assert [kernel_set_for(c) for c in ("cortex-m0", "cortex-m0plus", None)] == ["portable"] * 3


def test_pointwise_weights_are_packed_in_the_order_the_loop_reads_them():
    w = np.arange(3 * 6, dtype=np.int8).reshape(3, 6)  # 3 channels (odd), 6 inputs (4 + 2)
    got = pack_pointwise(w).tolist()
    a, b = w[0].tolist(), w[1].tolist()
    pair0 = [a[0], b[0], a[2], b[2], a[1], b[1], a[3], b[3], a[4], b[4], a[5], b[5]]
    c = w[2].tolist()
    pair1 = [c[0], 0, c[2], 0, c[1], 0, c[3], 0, c[4], 0, c[5], 0]
    assert got == pair0 + pair1


def test_pointwise_weights_are_widened_to_halfword_pairs_per_group_of_four():
    w = np.arange(-20, 10, dtype=np.int8).reshape(5, 6)  # 5 channels (4 + 1), 6 inputs (4 + 2)
    words = pack_pointwise16(w).view(np.uint32).tolist()
    pair = lambda lo, hi: (int(lo) & 0xFFFF) | (int(hi) & 0xFFFF) << 16  # noqa: E731
    group0 = [p for c in range(4) for p in (pair(w[c, 0], w[c, 2]), pair(w[c, 1], w[c, 3]))]
    group0 += [int(w[c, k]) & 0xFFFFFFFF for k in (4, 5) for c in range(4)]
    group1 = [pair(w[4, 0], w[4, 2]), pair(w[4, 1], w[4, 3])] + [0, 0] * 3
    group1 += [int(w[4, 4]) & 0xFFFFFFFF, 0, 0, 0, int(w[4, 5]) & 0xFFFFFFFF, 0, 0, 0]
    assert words == group0 + group1


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


def _host_mismatches(model: bytes, folder: Path, in_place: bool) -> tuple[int, int]:
    """(differing, compared) output values of the DSP kernel set's C on the host (the
    intrinsics' portable C, ASan + UBSan) against BUILTIN_REF over 8 random inputs."""
    compiled = compile_model(model, "m", kernels="dsp", keep_scratch=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m_model.h").write_text(compiled.sources.header)
    (folder / "m_model.c").write_bytes(compiled.sources.source)
    exe = build_host(folder, "m", compiled.graph, sanitize=True)
    vectors = random_vectors(compiled.graph, 8, 0)
    bad = total = 0
    for v, row in zip(
        vectors, run_host(exe, compiled.graph, vectors, in_place=in_place), strict=True
    ):
        for a, b in zip(row, reference_outputs(model, compiled.graph, v), strict=True):
            bad += int(np.count_nonzero(a.reshape(-1) != b.reshape(-1)))
            total += a.size
    return bad, total


@pytest.mark.parametrize(
    "name", [*sorted(op_cases()), *(f"model:{m}" for m in sorted(WHOLE_MODELS))]
)
def test_every_op_and_model_is_bit_exact_with_the_dsp_kernels_on_the_host(name, tmp_path):
    """Each op case and look-alike model through the DSP kernel set (every depthwise shape,
    ADD and MUL included), copying and in place."""
    model = whole_model(name[6:]) if name.startswith("model:") else op_model(name)
    for in_place in (False, True):
        bad, total = _host_mismatches(model, tmp_path / str(in_place), in_place)
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
    rq[0] = m, rq[1] = sh > 0 ? sh : 0, rq[2] = sh > 0 ? 0 : -sh;
    rq[3] = (int32_t)((1u << rq[2]) - 1u); /* as dsp.requant_constants */
    bad += es_requant(x, m, sh) != es_requant_rq(x, rq);
  }
  printf("%%ld\n", bad);
  return 0;
}
"""


def test_requantization_constants_per_channel():
    rq = requant_constants(np.array([1 << 30, 2**31 - 1, 0]), np.array([-3, 2, -31]))
    assert rq.tolist() == [1 << 30, 0, 3, 7, 2**31 - 1, 2, 0, 0, 0, 0, 31, 2**31 - 1]


def test_the_dsp_requantization_equals_the_reference_one(tmp_path):
    """es_requant_rq (fewer instructions) against common.c's es_requant on 3 M random and edge
    values; the same program with its rounding comparison loosened must find differences."""
    import subprocess

    from edgesdk.firmware.standalone.codegen import kernel_text
    from edgesdk.firmware.standalone.hostrun import SANITIZE_FLAGS, STRICT_FLAGS

    text = kernel_text("common") + kernel_text("dsp")
    loose = text.replace("((h & mask) > ((mask >> 1)", "((h & mask) >= ((mask >> 1)")
    assert loose != text
    counts = []
    for i, kernels in enumerate((text, loose)):
        (tmp_path / f"rq{i}.c").write_text(REQUANT_CHECK % kernels)
        exe = tmp_path / f"rq{i}"
        cc = ["gcc", *STRICT_FLAGS, *SANITIZE_FLAGS, str(tmp_path / f"rq{i}.c"), "-o", str(exe)]
        subprocess.run(cc, check=True)
        counts.append(int(subprocess.run([str(exe)], capture_output=True, text=True).stdout))
    assert counts[0] == 0 and counts[1] > 1000

"""Residual blocks run row by row (fuse.py, kernels/resblock.c and resblock_dsp.c): taken only
for x -> CONV_2D -> CONV_2D -> ADD(x) with nothing else reading the intermediates, bit-exact
with BUILTIN_REF on the host with both kernel sets (copying and in place; on the emulated M0 and
M4F through test_standalone_emulation's op cases), and a check that fails on a wrong row."""

from __future__ import annotations

import pytest
from standalone_models import host_mismatches, op_model, whole_model

from edgesdk.firmware.standalone import codegen, engine
from edgesdk.firmware.standalone.engine import compile_model

FUSED = {"portable": "resblock", "dsp": "resblock_dsp"}


@pytest.mark.parametrize("kernels", ["portable", "dsp"])
def test_residual_blocks_are_fused_and_bit_exact_on_the_host(kernels, tmp_path):
    model = op_model("residual_rows")  # 3x3 (skip second) and 5x5 (skip first) blocks
    compiled = compile_model(model, "m", kernels=kernels)
    assert [L.kernel for L in compiled.layers].count(FUSED[kernels]) == 2
    assert {L.op.kind for L in compiled.layers} == {"CONV_2D", "RESBLOCK"}
    fused = [L for L in compiled.layers if L.kernel == FUSED[kernels]]
    assert all(L.op.index in compiled.plan.in_place for L in fused)  # written over x
    # the model's graph keeps its ops (the references run them one by one)
    assert [op.kind for op in compiled.graph.ops].count("ADD") == 2
    for in_place in (False, True):
        bad, total = host_mismatches(model, tmp_path / str(in_place), kernels, in_place, 6)
        assert total == 6 * 9 * 7 * 6 and bad == 0, (in_place, bad, total)


def test_a_block_of_1x1_convolutions_is_fused_and_bit_exact_with_the_portable_kernels(tmp_path):
    model = op_model("residual_pointwise")
    compiled = compile_model(model, "m", kernels="portable")
    assert [L.kernel for L in compiled.layers] == ["resblock"]
    for in_place in (False, True):
        bad, total = host_mismatches(model, tmp_path / str(in_place), "portable", in_place, 6)
        assert total == 6 * 5 * 4 * 7 and bad == 0, (in_place, bad, total)
    # the DSP set runs them as its pointwise kernel: not fused
    kinds = [L.op.kind for L in compile_model(model, "m", kernels="dsp").layers]
    assert kinds == ["CONV_2D", "CONV_2D", "ADD"]


def test_a_block_whose_intermediate_is_read_again_is_not_fused():
    model = op_model("residual_not_fused")
    for kernels in FUSED:
        kinds = [L.op.kind for L in compile_model(model, "m", kernels=kernels).layers]
        assert kinds == ["CONV_2D", "CONV_2D", "ADD", "CONCATENATION"]


def test_a_row_written_one_row_early_is_caught(tmp_path, monkeypatch):
    """The check can fail: the block's output row r written at row r - 1 (row 0 at 0)."""
    text = codegen.kernel_text

    def broken(name: str) -> str:
        src = text(name)
        if name == "resblock":
            wrong = src.replace("out + r * row)", "out + (r ? r - 1 : 0) * row)")
            assert wrong != src
            return wrong
        return src

    monkeypatch.setattr(codegen, "kernel_text", broken)
    bad, total = host_mismatches(op_model("residual_rows"), tmp_path, "portable", False, 6)
    assert total > 0 and bad > 0


def test_the_resnet8_plan_is_under_half_the_tflm_arena(monkeypatch):
    """ResNet-8 look-alike: the first stack fused (its first convolution's 16 KB output is a
    window of 3 rows); TFLite Micro + CMSIS-NN's arena incl. I/O was 55,364 B."""
    model = whole_model("resnet8_cifar")
    fused = compile_model(model, "m", kernels="dsp")
    assert [L.kernel for L in fused.layers].count("resblock_dsp") == 1
    assert fused.plan.arena_bytes <= 55_364 // 2
    monkeypatch.setattr(engine, "FUSE_RESIDUAL_BLOCKS", False)
    whole = compile_model(model, "m", kernels="dsp")
    assert "resblock_dsp" not in {L.kernel for L in whole.layers}
    assert whole.plan.arena_bytes > 32 * 1024  # the skip and the first conv's output alive

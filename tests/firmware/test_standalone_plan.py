"""The standalone engine's memory plan: inputs and outputs planned in the one static buffer
(the in-place entry), the operator-order search, and optional kernel scratch; at least as good
as TFLite Micro's planner on every look-alike model (the bit-exact runs of both entries are in
test_standalone.py)."""

from __future__ import annotations

import shutil

import pytest
from standalone_models import whole_model

from edgesdk.firmware.standalone import layers as layers_mod
from edgesdk.firmware.standalone import order as order_mod
from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.graph import Graph
from edgesdk.tflite.micro import load_interpreter, measure_arena

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


def is_topological(g: Graph, run: tuple[int, ...]) -> bool:
    """Every op reads only tensors written by ops before it (or model inputs / constants)."""
    producer = {t: op.index for op in g.ops for t in op.outputs}
    done: set[int] = set()
    by_index = {op.index: op for op in g.ops}
    for i in run:
        if any(producer.get(t, i) not in done and t in producer for t in by_index[i].inputs):
            return False
        done.add(i)
    return sorted(run) == sorted(by_index)


def tflm_head(model: bytes) -> int:
    return measure_arena(load_interpreter(model)[0]).head


def test_the_order_search_runs_one_branch_to_its_end_first():
    model = whole_model("two_branches")  # stored with both wide layers first
    compiled = compile_model(model, "m")
    search, g = compiled.search, compiled.graph
    model_order = tuple(op.index for op in g.ops)
    assert search.exhaustive and search.orders_tried == 6  # 2 branches of 2 ops: C(4,2) orders
    assert compiled.plan.order != model_order and is_topological(g, compiled.plan.order)
    # the model's order holds both wide tensors (192 + 160 bytes) at once; the chosen one not
    assert search.model_order_bytes >= 192 + 160 > compiled.plan.arena_bytes
    assert compiled.plan.arena_bytes < tflm_head(model) <= search.model_order_bytes + 16
    # the layers are generated in the chosen order
    text = compiled.sources.source.decode()
    calls = [text.index(f"EDGESDK_LAYER_HOOK({i});") for i in compiled.plan.order]
    assert calls == sorted(calls)
    # the check above can fail: the model's order swapped to read a tensor before it exists
    broken = (compiled.plan.order[1], compiled.plan.order[0], *compiled.plan.order[2:])
    assert not is_topological(g, broken)


def test_the_greedy_heuristics_find_it_when_the_graph_is_too_big_to_enumerate(monkeypatch):
    exhaustive = compile_model(whole_model("two_branches"), "m")
    monkeypatch.setattr(order_mod, "EXHAUSTIVE_OPS", 0)
    compiled = compile_model(whole_model("two_branches"), "m")
    assert not compiled.search.exhaustive and compiled.search.orders_tried <= 3
    assert exhaustive.search.exhaustive and exhaustive.search.orders_tried == 6
    assert compiled.plan.arena_bytes == exhaustive.plan.arena_bytes
    assert compiled.plan.arena_bytes < compiled.search.model_order_bytes
    assert is_topological(compiled.graph, compiled.plan.order)


def test_a_chain_has_one_order_and_keeps_it():
    compiled = compile_model(whole_model("ds_cnn"), "m")
    assert compiled.search.orders_tried == 1 and compiled.search.exhaustive
    assert compiled.plan.order == tuple(op.index for op in compiled.graph.ops)


def test_scratch_that_would_raise_the_peak_is_dropped(monkeypatch):
    """ResNet-style, without the convolutions' row overlays: the first 3x3 convolution's
    im2col (27 bytes) sits on top of its input and output, the peak; the scratch-free kernel
    brings the plan to TFLite Micro's head. With them, every scratch fits under the head."""
    model = whole_model("resnet_like")
    head = tflm_head(model)
    fast_rows = compile_model(model, "m", keep_scratch=True)
    assert fast_rows.plan.arena_bytes <= head and 0 in fast_rows.plan.in_place
    monkeypatch.setattr(layers_mod, "ROW_OVERLAYS", False)
    lean = compile_model(model, "m")
    fast = compile_model(model, "m", keep_scratch=True)
    assert lean.plan.arena_bytes <= head < fast.plan.arena_bytes  # the comparison can fail
    assert "es_conv2d_nocol(&op0," in lean.sources.source.decode()
    assert "es_conv2d_nocol(" not in fast.sources.source.decode().split("int m_invoke_in")[1]
    # scratch that does not raise the peak is kept (the faster kernels)
    digits = compile_model(whole_model("digits_cnn"), "m")
    assert digits.plan.scratch, "every scratch was dropped"


def test_the_in_place_entry_points_into_the_buffer():
    one = compile_model(whole_model("autoencoder"), "ae")
    header, source = one.sources.header, one.sources.source.decode()
    for decl in ("int8_t *ae_input(void);", "int8_t *ae_output(void);",
                 "int8_t *ae_input0(void);", "int ae_invoke_in_place(void);",
                 "int ae_invoke(const int8_t *input0, int8_t *output0);"):  # fmt: skip
        assert decl in header, decl
    g = one.graph
    where = one.plan.of(g.inputs[0]).offset
    assert f"int8_t *ae_input0(void) {{ return (es_arena + {where}); }}" in source
    two = compile_model(whole_model("two_in_two_out"), "m").sources.header
    assert "int8_t *m_input1(void);" in two and "int8_t *m_output1(void);" in two
    assert "int8_t *m_input(void);" not in two  # several inputs: indexed accessors only


@pytest.mark.parametrize(
    "name",
    ["digits_cnn", "ds_cnn", "mobilenet_vww", "resnet_like", "autoencoder", "two_in_two_out",
     "two_branches", "vww_stem", "resnet_blocks"],
)  # fmt: skip
def test_ram_including_io_is_at_most_tflite_micros_arena_head(name):
    model = whole_model(name)
    compiled = compile_model(model, "m")
    g = compiled.graph
    io = sum(g.tensors[t].nbytes for t in (*g.inputs, *g.outputs))
    head = tflm_head(model)
    assert compiled.plan.arena_bytes <= head, (compiled.plan.arena_bytes, head)
    # the I/O is inside, not beside: it is counted once (the plan would hold it anyway)
    assert all(compiled.plan.of(t).where == "arena" for t in (*g.inputs, *g.outputs))
    assert compiled.plan.arena_bytes >= max(g.tensors[t].nbytes for t in g.inputs) > 0
    assert compiled.plan.unshared_bytes >= io


# the plans with the convolutions over their own input (layers.row_overlay_shift), portable and
# DSP kernels, and without (the first plans of issue 26): VWW's 3-channel input inside the stem
# convolution's output, ResNet's 3x3 convolutions over the rows they have consumed
ROW_PLANS = {
    "vww_stem": ((2480, 2744), (3360, 3360)),
    "resnet_blocks": ((2952, 3096), (4032, 4248)),
}


@pytest.mark.parametrize("name", sorted(ROW_PLANS))
def test_convolutions_run_over_the_input_rows_they_have_consumed(name, monkeypatch):
    model = whole_model(name)
    (rows, before) = ROW_PLANS[name]
    for kernels, bound in zip(("portable", "dsp"), rows, strict=True):
        compiled = compile_model(model, "m", kernels=kernels)
        assert compiled.plan.arena_bytes <= bound, (kernels, compiled.plan.arena_bytes)
        kinds = {op.index: op.kind for op in compiled.graph.ops}
        assert kinds[0] == "CONV_2D" and 0 in compiled.plan.in_place  # the stem, over the input
        assert compiled.plan.arena_bytes <= 0.8 * tflm_head(model)
    monkeypatch.setattr(layers_mod, "ROW_OVERLAYS", False)
    for kernels, size in zip(("portable", "dsp"), before, strict=True):
        compiled = compile_model(model, "m", kernels=kernels)
        assert compiled.plan.arena_bytes == size and 0 not in compiled.plan.in_place


@pytest.mark.parametrize(
    ("args", "shift"),
    [
        ((12, 8, 12, 12, 8, 1, 1), 2 * 12 * 8),  # 3x3 SAME stride 1: two output rows ahead
        ((20, 3, 12, 10, 8, 2, 0), 10 * 8),  # stride 2, 3 -> 8 channels: one output row
        ((12, 8, 6, 6, 16, 2, 0), 6 * 16),  # 1x1 stride 2, widening
        ((10, 4, 8, 8, 4, 1, 0), 8 * 4),  # VALID 3x3, input rows wider: one output row
    ],
)
def test_the_row_overlay_shift_keeps_unread_input_rows_ahead_of_the_output(args, shift):
    assert layers_mod.row_overlay_shift(*args) == shift

"""Residual blocks run row by row: ``x -> CONV_2D -> CONV_2D -> ADD(x, .)`` as one layer
(kernels/resblock.c, resblock_dsp.c), so that the first convolution's output is never whole
in memory (a window of its rows is) and the block's output is written over x row by row."""

from __future__ import annotations

import dataclasses

from edgesdk.firmware.standalone.graph import Graph, Op
from edgesdk.firmware.standalone.layers import Layer
from edgesdk.firmware.standalone.planner import align

# kernel of the fused layer -> (convolution kernel, ADD kernel) it is made of
KERNELS = {"resblock": ("conv2d", "add"), "resblock_dsp": ("conv_dsp", "add_dsp")}
FUSED_KIND = "RESBLOCK"


def _fields(layer: Layer) -> dict[str, int]:
    return {k: int(v) for k, v in layer.fields if v.lstrip("-").isdigit()}


def _same_stride1(g: Graph, layer: Layer) -> bool:
    f, o = _fields(layer), layer.op.options
    x, out = g.tensors[layer.op.inputs[0]], g.tensors[layer.op.outputs[0]]
    return (
        o.padding == "SAME"
        and o.stride_h == o.stride_w == o.dilation_h == o.dilation_w == 1
        and f["k_h"] % 2 == 1
        and x.shape[:3] == out.shape[:3]
        and x.dtype == out.dtype == "int8"
    )


def _match(g: Graph, by_out: dict[int, Layer], add: Layer, kernel: str) -> Layer | None:
    conv_kernel, add_kernel = KERNELS[kernel]
    op = add.op
    if add.kernel != add_kernel or len(op.inputs) != 2:
        return None
    for x, y in (op.inputs, op.inputs[::-1]):
        c2 = by_out.get(y)
        c1 = by_out.get(c2.op.inputs[0]) if c2 is not None else None
        if c1 is None or c2 is None or c1.op.inputs[0] != x:
            continue
        if c1.kernel != conv_kernel or c2.kernel != conv_kernel:
            continue
        if not (_same_stride1(g, c1) and _same_stride1(g, c2)):
            continue
        t = g.tensors
        if not t[x].shape == t[op.outputs[0]].shape == t[c2.op.outputs[0]].shape:
            continue
        # the intermediates: used by the next step only, not graph outputs; x: by conv1 and
        # the ADD only (it is overwritten), not a graph output
        mid = (c1.op.outputs[0], c2.op.outputs[0])
        if any(m in g.outputs or len(g.consumers(m)) != 1 for m in mid):
            continue
        if x in g.outputs or {o.index for o in g.consumers(x)} != {c1.op.index, op.index}:
            continue
        f1, f2 = _fields(c1), _fields(c2)
        # x row r is last read by row r + pad_t1 of conv1, computed by output row r (the window
        # of conv2 reaches r - pad_t2 + k_h2 - 1)
        if f2["k_h"] - 1 - f2["pad_t"] < f1["pad_t"]:
            continue
        return dataclasses.replace(
            add,
            op=Op(op.index, FUSED_KIND, (x,), op.outputs, op.options, op.name),
            kernel=kernel,
            params_type="",
            fields=(("x_first", str(int(x == op.inputs[0]))),),
            arrays=(),
            macs=c1.macs + c2.macs,
            scratch=_scratch(g, c1, c2),
            overlay_shift=0,
            overlay_scratch=_scratch(g, c1, c2),
            overlay_rows=False,
            parts=(c1, c2, add),
        )
    return None


def _scratch(g: Graph, c1: Layer, c2: Layer) -> int:
    """The layout of resblock.c: the window, one output row, the convolutions' gather buffer."""
    f1, f2 = _fields(c1), _fields(c2)
    row1 = f1["out_w"] * f1["out_c"]
    row = f2["out_w"] * f2["out_c"]
    # the portable kernel gathers even a 1x1 convolution's pixel (its layer plans no scratch)
    col = max(c1.scratch, c2.scratch, *(f["k_h"] * f["k_w"] * f["in_c"] for f in (f1, f2)))
    return align(f2["k_h"] * row1) + align(row) + col


def fuse_residual_blocks(g: Graph, layers: list[Layer], kernels: str) -> tuple[Graph, list[Layer]]:
    """``g`` and ``layers`` with each matching residual block as one RESBLOCK op / layer (its
    inputs x, its output the ADD's; the two convolutions' ops gone from the graph)."""
    kernel = "resblock_dsp" if kernels == "dsp" else "resblock"
    by_out = {L.op.outputs[0]: L for L in layers if L.op.outputs}
    fused: dict[int, Layer] = {}
    gone: set[int] = set()
    for L in layers:
        if L.op.kind != "ADD":
            continue
        f = _match(g, by_out, L, kernel)
        if f is not None and not {p.op.index for p in f.parts} & (gone | set(fused)):
            fused[L.op.index] = f
            gone |= {f.parts[0].op.index, f.parts[1].op.index}
    if not fused:
        return g, layers
    new_layers = [fused.get(L.op.index, L) for L in layers if L.op.index not in gone]
    ops = tuple(
        fused[op.index].op if op.index in fused else op for op in g.ops if op.index not in gone
    )
    return dataclasses.replace(g, ops=ops), new_layers

"""The standalone engine's entry point: .tflite bytes -> graph -> memory plan -> C sources."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgesdk.errors import ExportError
from edgesdk.firmware.standalone.codegen import Sources, generate
from edgesdk.firmware.standalone.dsp import KERNEL_SETS, REQUIRED_SCRATCH, specialise
from edgesdk.firmware.standalone.fuse import KERNELS as FUSED_KERNELS
from edgesdk.firmware.standalone.fuse import fuse_residual_blocks
from edgesdk.firmware.standalone.graph import Graph, read_graph
from edgesdk.firmware.standalone.layers import Layer, build_layer
from edgesdk.firmware.standalone.order import OrderSearch, best_order
from edgesdk.firmware.standalone.planner import MemoryPlan, Overlay, plan_memory
from edgesdk.firmware.standalone.portable import specialise as portable_order
from edgesdk.firmware.standalone.reference import elementwise_table

FUSE_RESIDUAL_BLOCKS = True  # residual blocks run row by row (fuse.py)
ROW_OVERLAY_TRIALS = 64  # convolutions whose row overlay is tried without, one by one


@dataclass(frozen=True)
class Compiled:
    """A model compiled to C: the graph, its memory plan, its layers (in run order) and the
    sources."""

    graph: Graph  # as read (the plan and the sources: residual blocks fused, fuse.py)
    plan: MemoryPlan
    layers: tuple[Layer, ...]
    sources: Sources
    seconds: float  # generation time
    search: OrderSearch | None = None  # the operator orders compared for the plan

    @property
    def macs(self) -> int:
        return sum(L.macs for L in self.layers)


def _io_text(name: str, g: Graph, integer_only: bool = False) -> str:
    upper = name.upper()
    lines = []
    for kind, tensors in (("INPUT", g.inputs), ("OUTPUT", g.outputs)):
        for i, ti in enumerate(tensors):
            t = g.tensors[ti]
            tag = f"{upper}_{kind}{i}"
            ctype = "float" if t.dtype == "float32" else "int8_t"
            lines += [
                f"/* {kind.lower()} {i} '{t.name}': {t.dtype} {list(t.shape)} */",
                f"#define {tag}_DIMS {len(t.shape)}",
                f"#define {tag}_SHAPE {{{', '.join(str(d) for d in t.shape)}}}",
                f"#define {tag}_ELEMENTS {t.size}",
            ]
            if t.scale and t.dtype == "int8" and integer_only:  # no float in the sources
                lines += [
                    f"/* scale {float(np.float32(t.scale[0]))!r}: real = scale * (q - zero point) */",
                    f"#define {tag}_ZERO_POINT ({t.zp})",
                ]
            elif t.scale and t.dtype == "int8":
                s = f"{tag}_SCALE"
                lines += [
                    f"#define {s} {np.float32(t.scale[0])!r}f".replace("np.float32(", "").replace(
                        ")f", "f"
                    ),
                    f"#define {tag}_ZERO_POINT ({t.zp})",
                    f"static inline {ctype} {name}_quantize_{kind.lower()}{i}(float x) {{",
                    f"  float v = x / {s} + (float){tag}_ZERO_POINT;",
                    "  v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);",
                    f"  return ({ctype})(v >= 0.0f ? v + 0.5f : v - 0.5f);",
                    "}",
                    f"static inline float {name}_dequantize_{kind.lower()}{i}({ctype} q) {{",
                    f"  return ((float)q - (float){tag}_ZERO_POINT) * {s};",
                    "}",
                ]
            lines.append("")
    return "\n".join(lines) + "\n"


def check_integer_io(g: Graph) -> None:
    """Integer-only code needs int8 inputs and outputs (QUANTIZE / DEQUANTIZE of float I/O are
    float arithmetic).

    Raises:
        ExportError: a float input or output (one line, naming it).
    """
    for kind, tensors in (("input", g.inputs), ("output", g.outputs)):
        for t in tensors:
            if g.tensors[t].dtype != "int8":
                raise ExportError(
                    f"Integer-only C needs int8 inputs and outputs, but {kind} "
                    f"'{g.tensors[t].name}' is {g.tensors[t].dtype} (convert with int8 "
                    "inference_input_type/inference_output_type, or export without integer_only)"
                )


def _drop_scratch(
    search: OrderSearch,
    scratch: dict[int, int],
    plan: Callable[[dict[int, int], tuple[int, ...]], MemoryPlan],
    keep: frozenset[int] = frozenset(),
) -> OrderSearch:
    """Kernel scratch is optional (each kernel has a variant without it): if planning none
    lowers the peak, give it back op by op (largest first) wherever it does not raise it. ``keep``:
    ops whose kernel has no variant without scratch."""
    order = search.plan.order
    required = {i: n for i, n in scratch.items() if i in keep}
    best = plan(required, order)
    if best.arena_bytes >= search.plan.arena_bytes:
        return search
    kept: dict[int, int] = dict(required)
    for op_index, nbytes in sorted(scratch.items(), key=lambda kv: -kv[1]):
        if op_index in keep:
            continue
        trial = plan({**kept, op_index: nbytes}, order)
        if trial.arena_bytes <= best.arena_bytes:
            kept[op_index], best = nbytes, trial
    return dataclasses.replace(search, plan=best)


def compile_model(
    model: bytes, name: str, section: str = "", banner: str = "", keep_scratch: bool = False,
    integer_only: bool = False, float_softmax: bool = False, kernels: str = "portable",
) -> Compiled:  # fmt: skip
    """Compile ``model`` to C sources (nothing is written).

    ``keep_scratch``: plan every kernel's scratch (im2col, accumulators) even where it raises
    the peak (faster kernels, more RAM); by default the plan takes the lowest peak.
    ``integer_only``: no float or double anywhere in the sources (SOFTMAX as TFLite Micro's
    fixed-point kernel; int8 I/O only).
    ``float_softmax``: SOFTMAX as LiteRT's older float32-table kernel even where the fixed-point
    one runs (for comparisons only: it was 1 LSB off BUILTIN_REF on 17 of 3.2 M values).

    Raises:
        ExportError: an op or option outside the engine's set (one line, naming it), or float
            I/O / an unsupported softmax with ``integer_only``, or an unknown kernel set.
    """
    if kernels not in KERNEL_SETS:
        raise ExportError(
            f"Invalid standalone kernel set kernels={kernels!r} (must be one of "
            f"{', '.join(KERNEL_SETS)})",
            what="kernels",
            value=kernels,
        )
    start = time.perf_counter()
    g = read_graph(model)
    if integer_only:
        check_integer_io(g)
    layers = []
    for op in g.ops:
        lut = None
        if op.kind == "LOGISTIC" or (
            op.kind == "QUANTIZE" and g.tensors[op.inputs[0]].dtype == "int8"
        ):
            lut = elementwise_table(model, g, op)
        layer = build_layer(g, op, lut, integer_only, float_softmax)
        layer = specialise(g, layer) if kernels == "dsp" else layer
        layers.append(portable_order(g, layer))  # layers left on the portable kernels
    read = g  # the model's ops (what Compiled.graph gives: references run them one by one)
    if FUSE_RESIDUAL_BLOCKS:
        g, layers = fuse_residual_blocks(g, layers, kernels)  # planned and generated fused
    scratch = {L.op.index: L.scratch for L in layers if L.scratch}
    overlay_scratch = {L.op.index: L.overlay_scratch for L in layers if L.overlay_shift is not None}
    required = frozenset(
        L.op.index for L in layers if L.kernel in REQUIRED_SCRATCH or L.kernel in FUSED_KERNELS
    )

    def search_with(overlays: tuple[Overlay, ...], order: tuple[int, ...] | None) -> OrderSearch:
        def plan(o: tuple[int, ...], s: dict[int, int] = scratch) -> MemoryPlan:
            return plan_memory(g, s, overlays, overlay_scratch, o)

        if order is None:
            found = best_order(g, plan)
        else:
            found = OrderSearch(plan(order), 0, 1, False)
        if keep_scratch:
            return found
        return _drop_scratch(found, scratch, lambda s, o: plan(o, s), required)

    every = tuple(
        Overlay(L.op.index, L.op.inputs[0], L.overlay_shift)
        for L in layers
        if L.overlay_shift is not None
    )
    rows = {L.op.index for L in layers if L.overlay_rows and L.overlay_shift is not None}
    search = search_with(tuple(o for o in every if o.op not in rows), None)
    if rows:
        # the row overlays of convolutions (layers.row_overlay_shift) force their scratch and
        # pin tensors to each other: kept only if they lower the peak, then dropped one by one
        # (in the chosen order) wherever that lowers it further
        trial = search_with(every, None)
        if trial.plan.arena_bytes < search.plan.arena_bytes:
            search = dataclasses.replace(trial, model_order_bytes=search.model_order_bytes)
            active = set(rows)
            for op_index in sorted(rows)[:ROW_OVERLAY_TRIALS]:
                fewer = tuple(o for o in every if o.op not in rows or o.op in active - {op_index})
                t = search_with(fewer, search.plan.order)
                if t.plan.arena_bytes < search.plan.arena_bytes:
                    search = dataclasses.replace(search, plan=t.plan)
                    active.discard(op_index)
    plan = search.plan
    by_index = {L.op.index: L for L in layers}
    ordered = [by_index[i] for i in plan.order]
    sources = generate(name, g, plan, ordered, section, banner, _io_text(name, g, integer_only))
    return Compiled(read, plan, tuple(ordered), sources, time.perf_counter() - start, search)

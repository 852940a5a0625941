"""Static memory plan: tensor lifetimes, RESHAPE aliases, in-place element-wise ops and a
greedy-by-size offset planner (TFLite Micro's strategy) over one activation buffer."""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.firmware.standalone.graph import Graph

ALIGN = 4
IN_PLACE_OPS = frozenset({"ADD", "MUL", "LOGISTIC", "QUANTIZE"})  # out[i] depends on in[i] only


@dataclass(frozen=True)
class Placement:
    """Where one tensor lives: the arena (byte offset), or the caller's input/output buffer."""

    tensor: int
    where: str  # "arena" | "input" | "output"
    offset: int  # arena byte offset, or the input/output position
    size: int


@dataclass(frozen=True)
class MemoryPlan:
    """Placements of every activation tensor, the arena's peak, and what the plan saved."""

    placements: tuple[Placement, ...]
    arena_bytes: int
    unshared_bytes: int  # every arena tensor in its own buffer, for comparison
    aliased: tuple[int, ...]  # RESHAPE ops that cost no copy
    in_place: tuple[int, ...]  # ops that write over their input
    scratch: tuple[tuple[int, int], ...] = ()  # (op index, arena offset) of working memory

    def of(self, tensor: int) -> Placement:
        for p in self.placements:
            if p.tensor == tensor:
                return p
        raise KeyError(tensor)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(g: Graph, scratch: dict[int, int] | None = None) -> MemoryPlan:
    """Plan the activations of ``g`` (ops run in model order) and the working memory of ops
    (``scratch``: op index -> bytes, alive only while that op runs)."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while root.get(t, t) != t:
            t = root[t]
        return t

    outputs = set(g.outputs)
    aliased, in_place = [], []
    for op in g.ops:
        if op.kind == "RESHAPE" and op.outputs[0] not in outputs:
            root[op.outputs[0]] = find(op.inputs[0])
            aliased.append(op.index)
    # lifetimes of the storage roots, in op positions (-1: before the first op)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    activations = [t.index for t in g.tensors if t.data is None]
    for t in g.inputs:
        first[find(t)] = -1
    for op in g.ops:
        for t in op.outputs:
            first.setdefault(find(t), op.index)
        for t in op.inputs:
            if t >= 0 and g.tensors[t].data is None:
                r = find(t)
                last[r] = max(last.get(r, -1), op.index)
    end = max((op.index for op in g.ops), default=-1) + 1
    for t in g.outputs:
        last[find(t)] = end
    external = {find(t) for t in g.inputs} | {find(t) for t in g.outputs}
    for op in g.ops:
        out = op.outputs[0]
        kind_ok = op.kind in IN_PLACE_OPS and g.tensors[out].dtype == "int8"
        if not kind_ok or find(out) in external:
            continue
        for t in op.inputs:
            r = find(t) if t >= 0 else None
            if (
                r is not None
                and g.tensors[t].data is None
                and g.tensors[t].dtype == "int8"
                and r not in external
                and last.get(r) == op.index
                and g.tensors[r].nbytes == g.tensors[out].nbytes
            ):
                o = find(out)
                root[o] = r
                last[r] = max(last.get(o, op.index), op.index)
                in_place.append(op.index)
                break
    sizes = {}
    for t in activations:
        r = find(t)
        sizes[r] = max(sizes.get(r, 0), g.tensors[t].nbytes)
    arena_roots = [r for r in sizes if r not in external and r in first]
    for op_index, nbytes in (scratch or {}).items():
        key = -1 - op_index  # scratch buffers: negative keys, never a tensor index
        sizes[key], first[key], last[key] = nbytes, op_index, op_index
        arena_roots.append(key)
    order = sorted(arena_roots, key=lambda r: (-_align(sizes[r]), first[r]))
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    offsets: dict[int, int] = {}
    for r in order:
        lo, hi, size = first[r], last.get(r, first[r]), _align(sizes[r])
        busy = sorted((o, s) for o, s, f, la in placed if not (la < lo or f > hi))
        offset = 0
        for o, s in busy:
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        offsets[r] = offset
        placed.append((offset, size, lo, hi))
    in_pos = {t: i for i, t in enumerate(g.inputs)}
    out_pos = {t: i for i, t in enumerate(g.outputs)}
    placements = []
    for t in activations:
        r = find(t)
        if t in out_pos:
            placements.append(Placement(t, "output", out_pos[t], g.tensors[t].nbytes))
        elif r in in_pos:
            placements.append(Placement(t, "input", in_pos[r], g.tensors[t].nbytes))
        elif r in out_pos:
            placements.append(Placement(t, "output", out_pos[r], g.tensors[t].nbytes))
        elif r in offsets:
            placements.append(Placement(t, "arena", offsets[r], g.tensors[t].nbytes))
    peak = max((o + s for o, s, _, _ in placed), default=0)
    return MemoryPlan(
        scratch=tuple((-1 - r, offsets[r]) for r in arena_roots if r < 0),
        placements=tuple(placements),
        arena_bytes=peak,
        unshared_bytes=sum(_align(sizes[r]) for r in arena_roots),
        aliased=tuple(aliased),
        in_place=tuple(in_place),
    )

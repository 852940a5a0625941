"""Static memory plan: tensor lifetimes (the model's inputs and outputs included), RESHAPE
aliases, in-place element-wise ops, overlaid pointwise/depthwise convolutions and a
greedy-by-size offset planner (TFLite Micro's strategy) over one static buffer."""

from __future__ import annotations

from dataclasses import dataclass

from edgesdk.firmware.standalone.graph import Graph

ALIGN = 4
IN_PLACE_OPS = frozenset({"ADD", "MUL", "LOGISTIC", "QUANTIZE"})  # out[i] depends on in[i] only


@dataclass(frozen=True)
class Placement:
    """Where one tensor lives: its byte offset in the static buffer (inputs and outputs too)."""

    tensor: int
    where: str  # "arena" (kept as a field: every tensor is planned in the buffer)
    offset: int  # byte offset in the buffer
    size: int


@dataclass(frozen=True)
class Overlay:
    """An op whose output may share memory with its input: the input placed ``shift`` bytes
    into the output (the kernel reads each part of the input before it writes over it)."""

    op: int
    tensor: int  # the input that is overwritten
    shift: int


@dataclass(frozen=True)
class MemoryPlan:
    """Placements of every activation tensor (I/O included), the buffer's peak, and what the
    plan saved."""

    placements: tuple[Placement, ...]
    arena_bytes: int  # the whole RAM of the model: activations, I/O and kernel scratch
    unshared_bytes: int  # every tensor in its own buffer, for comparison
    aliased: tuple[int, ...]  # RESHAPE ops that cost no copy
    in_place: tuple[int, ...]  # ops that write over their input (element-wise or overlaid)
    scratch: tuple[tuple[int, int], ...] = ()  # (op index, arena offset) of working memory
    order: tuple[int, ...] = ()  # op indices in the order invoke() runs them

    def of(self, tensor: int) -> Placement:
        for p in self.placements:
            if p.tensor == tensor:
                return p
        raise KeyError(tensor)


def align(n: int) -> int:
    """``n`` rounded up to a multiple of ALIGN (every placement and scratch is aligned)."""
    return (n + ALIGN - 1) // ALIGN * ALIGN


# Over 80 lines: one pass per decision (aliases, lifetimes, in-place, overlays, sizes, greedy
# placement), in the order they depend on each other.
def plan_memory(
    g: Graph,
    scratch: dict[int, int] | None = None,
    overlays: tuple[Overlay, ...] = (),
    overlay_scratch: dict[int, int] | None = None,
    order: tuple[int, ...] | None = None,
) -> MemoryPlan:
    """Plan the activations and the I/O tensors of ``g`` in one buffer.

    Args:
        scratch: op index -> bytes of working memory, alive only while that op runs.
        overlays: ops that can write over their input (with the input shifted into the output);
            used when that input dies at the op and is the caller's neither.
        overlay_scratch: working memory of an overlaid op instead of its ``scratch``.
        order: op indices in the order they run (a topological order; default: model order).
    """
    by_index = {op.index: op for op in g.ops}
    ops = [by_index[i] for i in order] if order is not None else list(g.ops)
    pos = {op.index: k for k, op in enumerate(ops)}  # op index -> time step
    parent: dict[int, tuple[int, int]] = {}  # tensor -> (tensor it lives in, byte offset)

    def find(t: int) -> tuple[int, int]:
        off = 0
        while t in parent:
            t, o = parent[t]
            off += o
        return t, off

    aliased, in_place = [], []
    for op in ops:
        if op.kind == "RESHAPE":
            parent[op.outputs[0]] = find(op.inputs[0])
            aliased.append(op.index)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    activations = [t.index for t in g.tensors if t.data is None]
    for t in g.inputs:
        first[find(t)[0]] = -1
    for op in ops:
        for t in op.outputs:
            first.setdefault(find(t)[0], pos[op.index])
        for t in op.inputs:
            if t >= 0 and g.tensors[t].data is None:
                r = find(t)[0]
                last[r] = max(last.get(r, -1), pos[op.index])
    end = len(ops)
    for t in g.outputs:
        last[find(t)[0]] = end

    def dies_here(t: int, step: int) -> bool:
        r = find(t)[0] if t >= 0 else None
        return (
            r is not None
            and g.tensors[t].data is None
            and g.tensors[t].dtype == "int8"
            and last.get(r) == step
        )

    def merge(child_root: int, into: int, offset: int, op_index: int) -> None:
        parent[child_root] = (into, offset)
        first[into] = min(first.get(into, op_index), first.get(child_root, op_index))
        last[into] = max(last.get(into, op_index), last.get(child_root, op_index))

    by_op = {o.op: o for o in overlays}
    for op in ops:
        out, step = op.outputs[0], pos[op.index]
        if find(out)[0] != out or g.tensors[out].dtype != "int8":
            continue
        if op.kind in IN_PLACE_OPS:
            for t in op.inputs:
                if dies_here(t, step) and g.tensors[t].nbytes == g.tensors[out].nbytes:
                    r, o = find(t)
                    merge(out, r, o, step)  # the output sits exactly on the input
                    in_place.append(op.index)
                    break
        elif op.index in by_op and dies_here(by_op[op.index].tensor, step):
            r, o = find(by_op[op.index].tensor)
            merge(r, out, by_op[op.index].shift - o, step)  # the input sits inside
            in_place.append(op.index)
    # every storage root is a set of members (tensors, or one op's scratch), each with its own
    # byte range relative to the root and its own lifetime: roots are placed so that no two
    # members alive at the same time share a byte (first fit, largest root first)
    t_first: dict[int, int] = {t: -1 for t in g.inputs}
    t_last: dict[int, int] = {t: end for t in g.outputs}
    for op in ops:
        for t in op.outputs:
            t_first.setdefault(t, pos[op.index])
        for t in op.inputs:
            if t >= 0:
                t_last[t] = max(t_last.get(t, -1), pos[op.index])
    members: dict[int, list[tuple[int, int, int, int]]] = {}  # root -> (rel, size, first, last)
    for t in activations:
        r, o = find(t)
        f = t_first.get(t, 0)
        members.setdefault(r, []).append((o, g.tensors[t].nbytes, f, t_last.get(t, f)))
    arena_roots = [r for r in members if r in first]
    unshared = sum(align(g.tensors[t].nbytes) for t in activations if find(t)[0] in arena_roots)
    chosen = dict(scratch or {})
    for op_index in in_place:
        if overlay_scratch and op_index in overlay_scratch:
            chosen[op_index] = overlay_scratch[op_index]
    for op_index, nbytes in chosen.items():
        if nbytes > 0:
            key = -1 - op_index  # scratch buffers: negative keys, never a tensor index
            members[key] = [(0, align(nbytes), pos[op_index], pos[op_index])]
            arena_roots.append(key)
            unshared += align(nbytes)
    lo = {r: min(m[0] for m in members[r]) for r in members}
    span = {r: max(m[0] + m[1] for m in members[r]) - lo[r] for r in members}
    order = sorted(arena_roots, key=lambda r: (-span[r], min(m[2] for m in members[r])))
    placed: list[tuple[int, int, int, int]] = []  # absolute start, end, first, last
    offsets: dict[int, int] = {}
    for r in order:
        mine = [(rel - lo[r], size, f, la) for rel, size, f, la in members[r]]
        clashes = [
            (rel, q) for rel, _, f, la in mine for q in placed if not (q[3] < f or q[2] > la)
        ]
        candidates = sorted({0, *(align(max(0, q[1] - rel)) for rel, q in clashes)})
        for x in candidates:
            if all(
                x + rel + size <= q[0] or x + rel >= q[1]
                for rel, size, f, la in mine
                for q in placed
                if not (q[3] < f or q[2] > la)
            ):
                break
        offsets[r] = x
        placed += [(x + rel, x + rel + size, f, la) for rel, size, f, la in mine]
    placements = []
    for t in activations:
        r, o = find(t)
        if r in offsets:
            placements.append(Placement(t, "arena", offsets[r] + o - lo[r], g.tensors[t].nbytes))
    return MemoryPlan(
        placements=tuple(placements),
        arena_bytes=max((q[1] for q in placed), default=0),
        unshared_bytes=unshared,
        aliased=tuple(aliased),
        in_place=tuple(in_place),
        scratch=tuple((-1 - r, offsets[r]) for r in arena_roots if r < 0),
        order=tuple(op.index for op in ops),
    )

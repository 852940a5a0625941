"""Static memory plan: tensor lifetimes, RESHAPE aliases, in-place element-wise ops, overlaid
pointwise/depthwise convolutions and a greedy-by-size offset planner (TFLite Micro's strategy)
over one activation buffer."""

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
class Overlay:
    """An op whose output may share memory with its input: the input placed ``shift`` bytes
    into the output (the kernel reads each part of the input before it writes over it)."""

    op: int
    tensor: int  # the input that is overwritten
    shift: int


@dataclass(frozen=True)
class MemoryPlan:
    """Placements of every activation tensor, the arena's peak, and what the plan saved."""

    placements: tuple[Placement, ...]
    arena_bytes: int
    unshared_bytes: int  # every arena tensor in its own buffer, for comparison
    aliased: tuple[int, ...]  # RESHAPE ops that cost no copy
    in_place: tuple[int, ...]  # ops that write over their input (element-wise or overlaid)
    scratch: tuple[tuple[int, int], ...] = ()  # (op index, arena offset) of working memory

    def of(self, tensor: int) -> Placement:
        for p in self.placements:
            if p.tensor == tensor:
                return p
        raise KeyError(tensor)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


# Over 80 lines: one pass per decision (aliases, lifetimes, in-place, overlays, sizes, greedy
# placement), in the order they depend on each other.
def plan_memory(
    g: Graph,
    scratch: dict[int, int] | None = None,
    overlays: tuple[Overlay, ...] = (),
    overlay_scratch: dict[int, int] | None = None,
) -> MemoryPlan:
    """Plan the activations of ``g`` (ops run in model order).

    Args:
        scratch: op index -> bytes of working memory, alive only while that op runs.
        overlays: ops that can write over their input (with the input shifted into the output);
            used when that input dies at the op and is the caller's neither.
        overlay_scratch: working memory of an overlaid op instead of its ``scratch``.
    """
    parent: dict[int, tuple[int, int]] = {}  # tensor -> (tensor it lives in, byte offset)

    def find(t: int) -> tuple[int, int]:
        off = 0
        while t in parent:
            t, o = parent[t]
            off += o
        return t, off

    outputs = set(g.outputs)
    aliased, in_place = [], []
    for op in g.ops:
        if op.kind == "RESHAPE" and op.outputs[0] not in outputs:
            parent[op.outputs[0]] = find(op.inputs[0])
            aliased.append(op.index)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    activations = [t.index for t in g.tensors if t.data is None]
    for t in g.inputs:
        first[find(t)[0]] = -1
    for op in g.ops:
        for t in op.outputs:
            first.setdefault(find(t)[0], op.index)
        for t in op.inputs:
            if t >= 0 and g.tensors[t].data is None:
                r = find(t)[0]
                last[r] = max(last.get(r, -1), op.index)
    end = max((op.index for op in g.ops), default=-1) + 1
    for t in g.outputs:
        last[find(t)[0]] = end
    external = {find(t)[0] for t in (*g.inputs, *g.outputs)}

    def dies_here(t: int, op_index: int) -> bool:
        r = find(t)[0] if t >= 0 else None
        return (
            r is not None
            and g.tensors[t].data is None
            and g.tensors[t].dtype == "int8"
            and r not in external
            and last.get(r) == op_index
        )

    def merge(child_root: int, into: int, offset: int, op_index: int) -> None:
        parent[child_root] = (into, offset)
        first[into] = min(first.get(into, op_index), first.get(child_root, op_index))
        last[into] = max(last.get(into, op_index), last.get(child_root, op_index))

    by_op = {o.op: o for o in overlays}
    for op in g.ops:
        out = op.outputs[0]
        if find(out)[0] in external or g.tensors[out].dtype != "int8":
            continue
        if op.kind in IN_PLACE_OPS:
            for t in op.inputs:
                if dies_here(t, op.index) and g.tensors[t].nbytes == g.tensors[out].nbytes:
                    r, o = find(t)
                    merge(out, r, o, op.index)  # the output sits exactly on the input
                    in_place.append(op.index)
                    break
        elif op.index in by_op and dies_here(by_op[op.index].tensor, op.index):
            r, o = find(by_op[op.index].tensor)
            merge(r, out, by_op[op.index].shift - o, op.index)  # the input sits inside
            in_place.append(op.index)
    # every storage root is a set of members (tensors, or one op's scratch), each with its own
    # byte range relative to the root and its own lifetime: roots are placed so that no two
    # members alive at the same time share a byte (first fit, largest root first)
    t_first: dict[int, int] = {t: -1 for t in g.inputs}
    t_last: dict[int, int] = {t: end for t in g.outputs}
    for op in g.ops:
        for t in op.outputs:
            t_first.setdefault(t, op.index)
        for t in op.inputs:
            if t >= 0:
                t_last[t] = max(t_last.get(t, -1), op.index)
    members: dict[int, list[tuple[int, int, int, int]]] = {}  # root -> (rel, size, first, last)
    for t in activations:
        r, o = find(t)
        f = t_first.get(t, 0)
        members.setdefault(r, []).append((o, g.tensors[t].nbytes, f, t_last.get(t, f)))
    arena_roots = [r for r in members if r not in external and r in first]
    unshared = sum(_align(g.tensors[t].nbytes) for t in activations if find(t)[0] in arena_roots)
    chosen = dict(scratch or {})
    for op_index in in_place:
        if overlay_scratch and op_index in overlay_scratch:
            chosen[op_index] = overlay_scratch[op_index]
    for op_index, nbytes in chosen.items():
        if nbytes > 0:
            key = -1 - op_index  # scratch buffers: negative keys, never a tensor index
            members[key] = [(0, _align(nbytes), op_index, op_index)]
            arena_roots.append(key)
            unshared += _align(nbytes)
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
        candidates = sorted({0, *(_align(max(0, q[1] - rel)) for rel, q in clashes)})
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
    in_pos = {t: i for i, t in enumerate(g.inputs)}
    out_pos = {t: i for i, t in enumerate(g.outputs)}
    placements = []
    for t in activations:
        r, o = find(t)
        nbytes = g.tensors[t].nbytes
        if t in out_pos:
            placements.append(Placement(t, "output", out_pos[t], nbytes))
        elif r in in_pos:
            placements.append(Placement(t, "input", in_pos[r], nbytes))
        elif r in out_pos:
            placements.append(Placement(t, "output", out_pos[r], nbytes))
        elif r in offsets:
            placements.append(Placement(t, "arena", offsets[r] + o - lo[r], nbytes))
    return MemoryPlan(
        placements=tuple(placements),
        arena_bytes=max((q[1] for q in placed), default=0),
        unshared_bytes=unshared,
        aliased=tuple(aliased),
        in_place=tuple(in_place),
        scratch=tuple((-1 - r, offsets[r]) for r in arena_roots if r < 0),
    )

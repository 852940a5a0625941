"""Operator order: the topological orders of a graph with branches, searched for the one whose
memory plan has the lowest peak (exhaustive for small graphs, greedy/DFS heuristics beyond)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edgesdk.firmware.standalone.graph import Graph
from edgesdk.firmware.standalone.planner import MemoryPlan

EXHAUSTIVE_LIMIT = 200  # orders planned one by one; beyond it, heuristics only
EXHAUSTIVE_OPS = 48  # larger graphs: heuristics only (enumerating costs ops^2 per order)


@dataclass(frozen=True)
class OrderSearch:
    """The chosen plan, and what the search compared it with."""

    plan: MemoryPlan
    model_order_bytes: int  # the peak with the ops in the model's order (every kernel scratch)
    orders_tried: int
    exhaustive: bool  # every topological order was planned


def dependencies(g: Graph) -> dict[int, set[int]]:
    """op index -> the op indices whose outputs it reads."""
    producer = {t: op.index for op in g.ops for t in op.outputs}
    return {op.index: {producer[t] for t in op.inputs if t in producer} for op in g.ops}


def topological_orders(g: Graph, limit: int) -> Iterator[tuple[int, ...]]:
    """Up to ``limit`` topological orders, the model's own first."""
    deps = dependencies(g)
    index = [op.index for op in g.ops]
    found = 0

    def walk(done: list[int], left: list[int]) -> Iterator[tuple[int, ...]]:
        nonlocal found
        if not left:
            found += 1
            yield tuple(done)
            return
        seen = set(done)
        for i in left:
            if found >= limit:
                return
            if deps[i] <= seen:
                yield from walk([*done, i], [j for j in left if j != i])

    yield from walk([], index)


def greedy_orders(g: Graph, nbytes: Callable[[int], int]) -> list[tuple[int, ...]]:
    """Two list schedules: run first the ready op that frees the most bytes net of what it
    allocates, and a depth-first one that finishes a branch before starting the next."""
    deps = dependencies(g)
    users: dict[int, int] = {}
    for op in g.ops:
        for t in set(op.inputs):
            users[t] = users.get(t, 0) + 1
    by_index = {op.index: op for op in g.ops}
    orders = []
    for depth_first in (False, True):
        done: list[int] = []
        left = [op.index for op in g.ops]
        remaining = dict(users)
        while left:
            ready = [i for i in left if deps[i] <= set(done)]

            def gain(i: int, remaining: dict[int, int] = remaining) -> int:
                op = by_index[i]
                last_use = [t for t in set(op.inputs) if remaining.get(t) == 1]
                freed = sum(nbytes(t) for t in last_use if t not in g.outputs)
                return freed - sum(nbytes(t) for t in op.outputs)

            if depth_first and done:  # prefer an op that reads what the last op wrote
                last = set(by_index[done[-1]].outputs)
                near = [i for i in ready if last & set(by_index[i].inputs)]
                ready = near or ready
            pick = max(ready, key=lambda i: (gain(i), -left.index(i)))
            for t in set(by_index[pick].inputs):
                remaining[t] = remaining.get(t, 0) - 1
            done.append(pick)
            left.remove(pick)
        orders.append(tuple(done))
    return orders


def best_order(g: Graph, plan: Callable[[tuple[int, ...]], MemoryPlan]) -> OrderSearch:
    """Plan every candidate order; keep the lowest peak (ties: the earliest candidate, so the
    model's order when nothing is better)."""
    model = tuple(op.index for op in g.ops)
    candidates = (
        list(topological_orders(g, EXHAUSTIVE_LIMIT + 1)) if len(g.ops) <= EXHAUSTIVE_OPS else []
    )
    exhaustive = 0 < len(candidates) <= EXHAUSTIVE_LIMIT
    if not exhaustive:
        const = lambda t: g.tensors[t].data is not None  # noqa: E731
        sizes = lambda t: 0 if t < 0 or const(t) else g.tensors[t].nbytes  # noqa: E731
        candidates = [model, *greedy_orders(g, sizes)]
    best = plan(model)
    base = best.arena_bytes
    seen = {model}
    for order in candidates:
        if order in seen:
            continue
        seen.add(order)
        p = plan(order)
        if p.arena_bytes < best.arena_bytes:
            best = p
    return OrderSearch(best, base, len(seen), exhaustive or len(g.ops) <= 1)

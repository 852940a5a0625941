"""The package's structure, read from its imports (lazy ones inside functions included): no
import circle between modules, and no stage imports the façade, the composer or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edgesdk

ROOT = Path(edgesdk.__file__).resolve().parent
FACADE = {"edgesdk.api", "edgesdk.device_api", "edgesdk.mobile_api"}
ABOVE_STAGES = FACADE | {"edgesdk.runs"}
BASE = ("edgesdk.core", "edgesdk.errors")  # import nothing of the stages


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "ansible_kit" in path.parts:  # runs on devices, standalone
            continue
        name = ".".join(("edgesdk", *path.relative_to(ROOT).with_suffix("").parts))
        found[name.removesuffix(".__init__")] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The edgesdk modules ``path`` imports at run time (not under ``if TYPE_CHECKING``)."""

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names if a.name.startswith("edgesdk")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("edgesdk"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    found.add(full if full in known else resolve(node.module))
        stack.extend(ast.iter_child_nodes(node))
    found.discard(None)
    return found  # type: ignore[return-value]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports_of(p, known) - {m} for m, p in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative enough)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_modules():
    assert cycles(graph()) == []


def upward(g: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a stage up to the façade, the composer or the CLI."""
    return [
        (m, t)
        for m, targets in g.items()
        for t in targets
        if m != "edgesdk"  # the lazy top-level package exports the façade's verbs
        and not m.startswith("edgesdk.cli")
        and m not in ABOVE_STAGES
        and (t in ABOVE_STAGES or t.startswith("edgesdk.cli"))
    ]


def test_no_stage_imports_the_facade_the_composer_or_the_cli():
    assert upward(graph()) == []


def test_the_base_imports_no_stage():
    g = graph()
    bad = [
        (m, t)
        for m, targets in g.items()
        if m.startswith(BASE)
        for t in targets
        if not t.startswith(BASE)
    ]
    assert bad == []


@pytest.mark.parametrize(
    "module, target",
    [
        ("edgesdk.tflite.agreement", "edgesdk.tflite.micro"),  # micro imports agreement
        ("edgesdk.firmware.tflm.export", "edgesdk.api"),
        ("edgesdk.compression.host", "edgesdk.runs"),
    ],
)
def test_the_checks_can_fail(module, target):
    """One import added to the real graph (a circle, or a stage reaching up) is caught."""
    g = graph()
    assert cycles(g) == [] and upward(g) == []
    g[module].add(target)
    assert cycles(g) or upward(g)

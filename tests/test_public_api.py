"""The public API is typed: every verb's parameters and return resolve (imports made only for
annotations, under ``if TYPE_CHECKING:``, included) and none is or contains ``typing.Any``;
the façade stays light to import."""

from __future__ import annotations

import ast
import collections.abc
import importlib
import inspect
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import edgesdk

FACADE = ("edgesdk.api", "edgesdk.device_api", "edgesdk.mobile_api")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def annotation_namespace(module: ModuleType) -> dict[str, object]:
    """The module's globals plus what its top-level ``if TYPE_CHECKING:`` blocks import."""
    namespace = dict(vars(module))
    tree = ast.parse(Path(module.__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            block = ast.Module(body=node.body, type_ignores=[])
            exec(compile(block, module.__file__, "exec"), namespace)  # our own import lines
    return namespace


def public_verbs() -> dict[str, Callable[..., object]]:
    """``edgesdk.__all__``'s functions and every public function the façade modules define."""
    verbs: dict[str, Callable[..., object]] = {}
    for name in edgesdk.__all__:
        value = getattr(edgesdk, name)
        if inspect.isfunction(value):
            verbs[f"{value.__module__}.{value.__name__}"] = value
    for module_name in FACADE:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == module_name:
                if not name.startswith("_"):
                    verbs[f"{module_name}.{name}"] = value
    return verbs


def untyped(hint: object) -> bool:
    """Whether a resolved annotation is or contains ``Any`` (``Callable[..., X]`` too)."""
    if hint is typing.Any:
        return True
    if isinstance(hint, list):  # the argument list of a Callable
        return any(untyped(h) for h in hint)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is collections.abc.Callable and args and args[0] is Ellipsis:
        return True  # any arguments at all
    return any(untyped(arg) for arg in args if arg is not Ellipsis)  # tuple[int, ...] is fine


def problems(func: Callable[..., object], namespace: dict[str, object]) -> list[str]:
    """What is untyped in ``func``'s signature: missing annotations and ``Any``."""
    hints = typing.get_type_hints(func, globalns=namespace)
    found = []
    names = [*inspect.signature(func).parameters, "return"]
    for name in names:
        if name not in hints:
            found.append(f"{name}: no annotation")
        elif untyped(hints[name]):
            found.append(f"{name}: {hints[name]}")
    return found


def test_every_public_verb_is_found():
    verbs = public_verbs()
    api_verbs = {name for name in edgesdk.__all__ if inspect.isfunction(getattr(edgesdk, name))}
    assert len(api_verbs) >= 28 and {"quantize", "deploy", "package"} <= api_verbs
    assert "edgesdk.device_api.presented_fingerprint" in verbs
    assert "edgesdk.mobile_api.inspect_mobile" in verbs
    assert all(not name.rpartition(".")[2].startswith("_") for name in verbs)


def test_no_public_verb_takes_or_returns_any():
    namespaces = {m: annotation_namespace(importlib.import_module(m)) for m in FACADE}
    found = {
        name: problems(func, namespaces[func.__module__])
        for name, func in sorted(public_verbs().items())
    }
    assert {name: p for name, p in found.items() if p} == {}


def test_the_check_catches_any_nested_any_and_missing_annotations():
    def nested(x: dict[str, typing.Any], y: int) -> int:
        return y

    def callback(x: Callable[..., None]) -> None:
        pass

    def bare(x, y: int) -> None:  # x unannotated: the point
        pass

    def returns(x: int) -> list[typing.Any]:
        return [x]

    def typed(x: Callable[[int, int], None] | None, **kw: str | None) -> tuple[int, str]:
        return 1, ""

    assert problems(nested, globals()) == ["x: dict[str, typing.Any]"]
    assert problems(callback, globals()) == ["x: collections.abc.Callable[..., None]"]
    assert problems(bare, globals()) == ["x: no annotation"]
    assert problems(returns, globals()) == ["return: list[typing.Any]"]
    assert problems(typed, globals()) == []


def test_result_types_are_the_stages_own_classes():
    """The annotations name what the verbs really return (spot checks across the three
    modules, resolved like the check above)."""
    from edgesdk.devices.check import DeviceReport
    from edgesdk.firmware.standalone.export import StandaloneExportResult
    from edgesdk.firmware.tflm.export import ExportResult
    from edgesdk.mobile.package import PackageResult

    def hints(module: str, name: str) -> dict[str, object]:
        mod = importlib.import_module(module)
        return typing.get_type_hints(getattr(mod, name), globalns=annotation_namespace(mod))

    assert hints("edgesdk.api", "export_c")["return"] == ExportResult | StandaloneExportResult
    assert hints("edgesdk.device_api", "device_check")["return"] is DeviceReport
    assert hints("edgesdk.mobile_api", "package")["return"] is PackageResult
    assert hints("edgesdk.device_api", "deploy")["progress"] == Callable[[int, int], None] | None


@pytest.mark.parametrize("module", ["edgesdk", *FACADE, "edgesdk.cli"])
def test_the_facade_imports_no_heavy_module(module):
    code = (
        f"import sys, {module}\n"
        "heavy = ('tensorflow', 'numpy', 'paramiko', 'keras', 'tf_keras', 'torch', 'litert_torch')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"

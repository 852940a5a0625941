"""The model a pipeline names: a file or folder, or a function returning a PyTorch module
(``path/file.py:function`` or ``module:function``), found without importing it; the file a
function comes from is what the cache hashes."""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder
from pathlib import Path

from edgesdk.errors import ConfigError
from edgesdk.inputs.frontends import is_function_spec


def module_file(module: str) -> Path | None:
    """The file ``module`` is imported from (the working folder first, then ``sys.path``, as
    the PyTorch loader imports it); found without running any of it, None when not found."""
    search: list[str] | None = [os.getcwd(), *sys.path]
    spec = None
    parts = module.split(".")
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    if spec is None or not spec.has_location or spec.origin is None:
        return None
    return Path(spec.origin)


def resolve_model(text: str, base: Path, source: Path) -> tuple[Path, str | None]:
    """The model's file (absolute) and, for a function source, the function as written.

    Raises:
        ConfigError: the file, or the module a function comes from, does not exist.
    """
    path = base / text
    if path.exists():
        return path.absolute(), None
    if not is_function_spec(text):
        raise ConfigError(f"Model {path} named in {source} does not exist", what="model")
    module, _, _function = text.rpartition(":")
    if module.endswith(".py"):
        found: Path | None = base / module
        if not found.is_file():  # type: ignore[union-attr]
            raise ConfigError(
                f"Model module {found} (of {text!r}) named in {source} does not exist",
                what="model",
            )
    else:
        found = module_file(module)
        if found is None:
            raise ConfigError(
                f"Model module {module!r} (of {text!r}) named in {source} is not importable "
                "from the working folder or sys.path",
                what="model",
            )
    return found.absolute(), text  # type: ignore[union-attr]

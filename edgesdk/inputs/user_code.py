"""Importing a user's ``module:function`` or ``path/file.py:function`` (data sources and
PyTorch model builders): one importer, each caller's error class and words."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from edgesdk.errors import EdgeSdkError


def import_function(
    spec: str, error: type[EdgeSdkError], what: str, check_file: bool = False
) -> Any:
    """The callable ``spec`` names.

    Args:
        error: the error class raised (DatasetError, ModelError, ...).
        what: "data" or "model": the messages say "Cannot import data module ...".
        check_file: a missing ``.py`` file is its own line ("Data module not found: ...").

    Raises:
        ``error``: the module cannot be imported (user code may raise anything) or has no
            such function.
    """
    module_name, _, func_name = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if check_file and not file.is_file():
                raise error(f"{what.capitalize()} module not found: {module_name}")
            loader_spec = importlib.util.spec_from_file_location(file.stem, file)
            if loader_spec is None or loader_spec.loader is None:
                raise error(f"Cannot import {what} module {module_name}")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(module_name)
    except error:
        raise
    except Exception as e:  # noqa: BLE001 - user code may raise anything while importing
        raise error(f"Cannot import {what} module {module_name}: {type(e).__name__}: {e}") from e
    func = getattr(module, func_name, None)
    if not callable(func):
        raise error(f"{module_name} has no function {func_name!r}")
    return func

"""Optional client libraries of the mobile stage, imported with a one-line hint when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgesdk.errors import PackagingError

# mediapipe pins absl-py~=2.3 and tfmot 0.8.1 declares ~=1.2: no pip extra can hold both, so
# these are installed by their own pip call (scripts/setup-tests.sh does the same)
PIP_SPECS = {"mediapipe": "mediapipe==1.2.3", "coremltools": "coremltools==9.0"}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (dotted), or raise one line that says how to install its package.

    Raises:
        PackagingError: the package is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        spec = PIP_SPECS.get(top, top)
        raise PackagingError(
            f"{purpose} needs {top}, which is not installed: pip install '{spec}'",
            what=top,
            allowed=spec,
        ) from e

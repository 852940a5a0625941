"""The firmware engines as a table: the one place an engine name is decided.

An engine turns a .tflite into a C bundle (``export``, which also writes the firmware project
when asked) and runs a bundle it wrote on an emulated core (``emulate``). Each engine is a
module in its own package (``tflm/entry.py``, ``standalone/entry.py``) that satisfies
:class:`FirmwareEngine`; what both link against lives beside them (``linking.py``,
``emulator.py``, ``size.py``, ``target_board.py``). A new engine is one more entry in
:data:`ENGINES`: ``export-c --engine NAME``, ``emulate`` (through the bundle's export.json) and
the API reach it with no other edit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ConfigError, EdgeSdkError, ExportError, FirmwareError


class Engine(str, Enum):
    """The built-in engines (their values are what export.json and ``--engine`` carry)."""

    TFLM = "tflm"  # the model as a C array for the TFLite Micro interpreter
    STANDALONE = "standalone"  # the model compiled to plain C99 kernels, no interpreter


DEFAULT_ENGINE = Engine.TFLM
# the engine of a bundle whose export.json names none (written before engines were recorded)
UNNAMED_BUNDLE_ENGINE = Engine.TFLM


@dataclass(frozen=True)
class ExportRequest:
    """What ``export-c`` asks of an engine (options an engine lacks are refused before)."""

    model: str | Path
    profile: TargetProfile
    out_dir: str | Path
    name: str | None = None
    test_vectors: int = 0
    verify: bool = True
    verify_samples: int | None = None  # None: the engine's own default
    force: bool = False
    seed: int = 0
    firmware: bool = False  # also write the bundle's firmware/ project
    data_spec: str | None = None
    integer_only: bool = False
    kernels: str | None = None  # the engine's kernel set (None: the core's usual one)
    arena: str | None = None  # "host" or "target": where the declared arena comes from
    io: str | None = None  # float I/O: "int8" rewrites it, "float32" keeps it (FPU cores)


@dataclass(frozen=True)
class EmulateRequest:
    """What ``emulate`` asks of the engine that wrote a bundle."""

    bundle_dir: Path
    target: str | Path | TargetProfile | None = None
    tflm_src: str | Path | None = None  # engines without TFLite Micro ignore it
    timeout: float = 120.0
    work_dir: str | Path | None = None
    board: str | None = None
    kernels: str | None = None  # engines without kernel sets refuse it


class EngineResult(Protocol):
    """What an engine returns: a JSON-able result (its dict names the engine)."""

    def to_dict(self) -> dict[str, Any]: ...


class FirmwareEngine(Protocol):
    """One engine: a module (or object) with these three members."""

    # ExportRequest options beyond the common ones that this engine takes (e.g. integer_only)
    OPTIONS: frozenset[str]
    # the values an option may take with this engine (e.g. its kernel sets), where it says
    CHOICES: dict[str, tuple[str, ...]]

    def export(self, request: ExportRequest) -> Any: ...

    def emulate(self, request: EmulateRequest) -> Any: ...


# name -> the engine's module path (imported on first use) or the engine itself
ENGINES: dict[str, str | FirmwareEngine] = {
    Engine.TFLM.value: "edgesdk.firmware.tflm.entry",
    Engine.STANDALONE.value: "edgesdk.firmware.standalone.entry",
}
# options only some engines take: option -> what the message says about it
ENGINE_OPTIONS = {
    "integer_only": "no float or double in the C",
    "kernels": "a kernel set",
    "arena": "the TFLite Micro tensor arena",
    "io": "rewrites or keeps a model's float I/O",
}


def names() -> list[str]:
    """The engines edgesdk knows, in the table's order."""
    return list(ENGINES)


def engine(name: str | Engine) -> FirmwareEngine:
    """The engine called ``name``.

    Raises:
        ConfigError: not an engine in the table.
    """
    key = name.value if isinstance(name, Engine) else name
    entry = ENGINES.get(key) if isinstance(key, str) else None
    if entry is None:
        raise ConfigError(
            f"Invalid engine={key!r} (must be one of: {', '.join(ENGINES)})",
            what="engine",
            value=str(key),
            allowed=names(),
        )
    if isinstance(entry, str):
        entry = importlib.import_module(entry)  # type: ignore[assignment]
        ENGINES[key] = entry  # type: ignore[assignment]
    return entry  # type: ignore[return-value]


def check_options(
    name: str | Engine, given: Callable[[str], Any], error: type[EdgeSdkError] = ExportError
) -> FirmwareEngine:
    """The engine ``name``, after checking it takes every engine-specific option that
    ``given(option)`` says is set.

    Raises:
        ConfigError: an unknown engine.
        ``error``: an option the engine does not take (one line naming the engines that do).
    """
    chosen = engine(name)
    key = name.value if isinstance(name, Engine) else name
    for option in ENGINE_OPTIONS:
        if given(option) and option not in chosen.OPTIONS:
            takers = [n for n in ENGINES if option in engine(n).OPTIONS]
            raise error(
                f"{option} needs engine={' or '.join(repr(t) for t in takers)} "
                f"({ENGINE_OPTIONS[option]}), got engine={key!r}",
                what=option,
                value=key,
            )
    for option, allowed in getattr(chosen, "CHOICES", {}).items():
        value = given(option)
        if value is not None and value not in allowed:
            raise ConfigError(
                f"Invalid {option}={str(value)[:40]!r} (must be one of: {', '.join(allowed)}) "
                f"for engine={key!r}",
                what=option,
                value=str(value)[:40],
                allowed=list(allowed),
            )
    return chosen


def export(request: ExportRequest, name: str | Engine = DEFAULT_ENGINE) -> Any:
    """Write the bundle with engine ``name``.

    Raises:
        ConfigError: an unknown engine.
        ExportError: an option the engine does not take, or the engine's own refusals.
    """
    return check_options(name, lambda option: getattr(request, option)).export(request)


def engine_of(folder: Path) -> str:
    """The engine that wrote the bundle in ``folder``: its export.json's ``engine``.

    Raises:
        FirmwareError: no or a malformed export.json, or an engine edgesdk does not know.
    """
    from edgesdk.firmware.bundle_input import EXPORT_JSON, field, read_export_json, shown

    folder = Path(folder).expanduser().resolve()
    data = read_export_json(folder, required=True) or {}
    name = field(data, "engine", "str?", folder / EXPORT_JSON) or UNNAMED_BUNDLE_ENGINE.value
    if name not in ENGINES:
        raise FirmwareError(
            f"Invalid engine={shown(name)} in {folder / EXPORT_JSON} (must be one of: "
            f"{', '.join(ENGINES)})",
            what="engine",
            value=shown(name),
            allowed=names(),
        )
    return name


def emulate(request: EmulateRequest) -> Any:
    """Run the bundle on an emulated core with the engine that wrote it (export.json says).

    Raises:
        FirmwareError: see the engine's ``emulate``.
    """
    name = engine_of(request.bundle_dir)
    chosen = engine(name)
    if request.kernels is not None and "kernels" not in chosen.OPTIONS:
        raise FirmwareError(
            f"kernels={request.kernels!r} is for engines with kernel sets; "
            f"{request.bundle_dir} was written by the {name} engine",
            what="kernels",
            value=request.kernels,
        )
    return chosen.emulate(request)

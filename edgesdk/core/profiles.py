"""Target profiles: what the hardware is, loaded from TOML (built-in or by path)."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from edgesdk.core.options import ALLOWED_IO, IoType, QuantMode, TargetKind
from edgesdk.errors import ConfigError

SCHEMA_VERSION = 1

# [header] section and qualifiers are written into generated C as they are: only a section
# name, and only C qualifiers / attributes, never anything that ends a declaration
SECTION_NAME = re.compile(r"[A-Za-z0-9_.$]{1,128}")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
_ARG = rf'(?:0[xX][0-9A-Fa-f]{{1,16}}|[0-9]{{1,20}}|{_IDENT}|"[A-Za-z0-9_.$]{{0,128}}")'
_ATTRIBUTE = rf"{_IDENT}(?: ?\( ?{_ARG}(?: ?, ?{_ARG}){{0,7}} ?\))?"
_QUALIFIER = rf"(?:__attribute__ ?\(\( ?{_ATTRIBUTE}(?: ?, ?{_ATTRIBUTE}){{0,7}} ?\)\)|{_IDENT})"
QUALIFIERS = re.compile(rf"{_QUALIFIER}(?: {{1,4}}{_QUALIFIER}){{0,15}}")


@dataclass(frozen=True)
class QuantizationDefaults:
    """The profile's default quantization and what the target can run."""

    mode: QuantMode = QuantMode.INT8
    io: IoType = IoType.INT8
    per_channel: bool = True
    allowed_modes: tuple[QuantMode, ...] = tuple(QuantMode)
    float_ops_allowed: bool = True


@dataclass(frozen=True)
class MemoryBudget:
    """RAM and flash of the target, and how much of it the rest of the firmware needs."""

    ram_bytes: int
    flash_bytes: int | None = None
    ram_reserved_bytes: int = 0
    flash_reserved_bytes: int = 0

    @property
    def ram_budget_bytes(self) -> int:
        """RAM left for the model's arena and I/O buffers."""
        return self.ram_bytes - self.ram_reserved_bytes

    @property
    def flash_budget_bytes(self) -> int | None:
        """Flash left for the model and the inference runtime (None: no limit known)."""
        if self.flash_bytes is None:
            return None
        return self.flash_bytes - self.flash_reserved_bytes


@dataclass(frozen=True)
class HeaderOptions:
    """How C sources for this target are written."""

    language: str = "cc"
    alignment: int = 16
    section: str = ""
    qualifiers: str = ""
    arena_margin_percent: int = 10
    runtime_flash_estimate_bytes: int = 0
    runtime_ram_estimate_bytes: int = 0  # RAM besides the arena: runtime statics and stack
    lsb_tolerance: int = 1  # above it, TFLite Micro vs reference kernels is a warning
    max_top1_change_percent: float = 1.0  # above it, an error


@dataclass(frozen=True)
class BenchmarkDefaults:
    """Default benchmark settings (threads=0: one per core)."""

    threads: int = 0
    warmup: int = 10
    runs: int = 100


@dataclass(frozen=True)
class McuInfo:
    """What a microcontroller is, for firmware: core, FPU, memory origins, and the qemu board
    that emulates it (empty when none does: the target is then not emulated)."""

    core: str  # cortex-m0plus, cortex-m4, cortex-m7, xtensa-lx7, ...
    fpu: str = "none"  # none, fpv4-sp-d16, fpv5-d16, ...
    flash_origin: int = 0
    ram_origin: int = 0x20000000
    qemu_machine: str = ""
    qemu_cpu: str = ""
    emulation_note: str = ""  # what differs between the board and the emulated one

    @property
    def emulated(self) -> bool:
        return bool(self.qemu_machine)


@dataclass(frozen=True)
class MobileInfo:
    """What a phone target runs: the platform, the delegate or Core ML, and where an app keeps
    the model (Android ``assets/``, iOS ``Resources/``)."""

    platform: str  # android, ios
    delegate: str  # xnnpack (CPU), gpu, coreml
    model_format: str = "tflite"  # tflite, mlpackage
    assets_dir: str = ""  # where the app keeps the model file
    client: str = "mediapipe"  # the library the app snippets use
    coreml_deployment_target: str = ""  # iOS15, ... (ios-coreml only)
    coreml_precision: str = ""  # float16, float32 (ios-coreml only)


@dataclass(frozen=True)
class TargetProfile:
    """A device the model is made for."""

    schema_version: int
    name: str
    description: str
    kind: TargetKind
    arch: str
    cpu: str
    memory: MemoryBudget
    cores: int = 1
    clock_mhz: int | None = None
    runtimes: tuple[str, ...] = ()
    quantization: QuantizationDefaults = field(default_factory=QuantizationDefaults)
    header: HeaderOptions = field(default_factory=HeaderOptions)
    benchmark: BenchmarkDefaults = field(default_factory=BenchmarkDefaults)
    mcu: McuInfo | None = None
    mobile: MobileInfo | None = None
    source: str = ""

    def to_dict(self, with_source: bool = True) -> dict[str, Any]:
        """Plain data; without ``source`` it is what ``from_dict`` reads back."""
        data = _to_plain(self)
        if not with_source:
            data.pop("source")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> TargetProfile:
        profile = _build(cls, data, where=source or "profile", skip=("source",))
        profile = dataclasses.replace(profile, source=source)
        _check(profile)
        return profile


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        plain = {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {k: v for k, v in plain.items() if v is not None}  # TOML has no null
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert it (enums, tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"Invalid {where} (must be a table)")
        return _build(tp, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"Invalid {where}={value!r} (must be a list)")
        return tuple(_coerce(args[0], v, f"{where}[]") for v in value)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            allowed = ", ".join(m.value for m in tp)
            raise ConfigError(f"Invalid {where}={value!r} (must be one of: {allowed})") from None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"Invalid {where}={value!r} (must be true or false)")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"Invalid {where}={value!r} (must be a non-negative integer)")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"Invalid {where}={value!r} (must be a non-negative number)")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"Invalid {where}={value!r} (must be a string)")
        return value
    raise ConfigError(f"Invalid {where}: unsupported type {_type_name(tp)}")  # pragma: no cover


def _build(cls: Any, data: dict[str, Any], where: str, skip: tuple[str, ...] = ()) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown key {unknown[0]!r} in {where} (valid keys: {', '.join(sorted(fields))})"
        )
    values = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            values[name] = _coerce(hints[name], data[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"Missing key {name!r} in {where}")
    return cls(**values)


def _check(p: TargetProfile) -> None:
    if p.schema_version != SCHEMA_VERSION:
        raise ConfigError(
            f"Invalid schema_version={p.schema_version} in {p.source or p.name} "
            f"(this edgesdk reads version {SCHEMA_VERSION})"
        )
    q = p.quantization
    if q.mode not in q.allowed_modes:
        raise ConfigError(
            f"Invalid quantization.mode={q.mode.value} in {p.name} (not in allowed_modes)"
        )
    if q.io not in ALLOWED_IO[q.mode]:
        allowed = ", ".join(i.value for i in ALLOWED_IO[q.mode])
        raise ConfigError(
            f"Invalid quantization.io={q.io.value} in {p.name} (must be one of: {allowed})"
        )
    align = p.header.alignment
    if align == 0 or align & (align - 1):
        raise ConfigError(f"Invalid header.alignment={align} in {p.name} (must be a power of two)")
    _check_c_text(p)
    if p.header.language not in ("c", "cc"):
        raise ConfigError(
            f"Invalid header.language={p.header.language!r} in {p.name} (must be one of: c, cc)"
        )
    if (p.kind is TargetKind.MOBILE) != (p.mobile is not None):
        raise ConfigError(
            f'Invalid profile {p.name}: kind = "mobile" and a [mobile] table go together'
        )
    if p.mobile is not None:
        _check_mobile(p.name, p.mobile)
    if p.memory.ram_reserved_bytes > p.memory.ram_bytes:
        raise ConfigError(f"Invalid memory.ram_reserved_bytes in {p.name} (larger than ram_bytes)")


def _check_c_text(p: TargetProfile) -> None:
    """[header] values that generated C carries verbatim: a section name and qualifiers."""
    section, qualifiers = p.header.section, p.header.qualifiers
    if section and not SECTION_NAME.fullmatch(section):
        raise ConfigError(
            f"Invalid header.section={section!r} in {p.name} (must be a section name: letters, "
            "digits, '.', '_' and '$', e.g. .rodata.model)",
            what="header.section",
            value=section,
        )
    if qualifiers and not QUALIFIERS.fullmatch(qualifiers):
        raise ConfigError(
            f"Invalid header.qualifiers={qualifiers!r} in {p.name} (must be C qualifiers or "
            "attributes separated by spaces: identifiers such as PROGMEM or volatile, or "
            "__attribute__((name)) / __attribute__((name(arg, ...))) whose args are numbers, "
            'identifiers or "section.names")',
            what="header.qualifiers",
            value=qualifiers,
        )


MOBILE_CHOICES = {
    "platform": ("android", "ios"),
    "delegate": ("xnnpack", "gpu", "coreml"),
    "model_format": ("tflite", "mlpackage"),
    "client": ("mediapipe", "tasklib", "coreml"),
}


def _check_mobile(name: str, m: MobileInfo) -> None:
    for key, allowed in MOBILE_CHOICES.items():
        value = getattr(m, key)
        if value not in allowed:
            raise ConfigError(
                f"Invalid mobile.{key}={value!r} in {name} (must be one of: {', '.join(allowed)})"
            )
    if m.coreml_precision not in ("", "float16", "float32"):
        raise ConfigError(
            f"Invalid mobile.coreml_precision={m.coreml_precision!r} in {name} "
            "(must be one of: float16, float32)"
        )


def _builtin_dir() -> Any:
    """The built-in profiles: TOML files shipped as package data of ``edgesdk.core``."""
    return resources.files("edgesdk.core") / "profile_data"


def builtin_names() -> list[str]:
    """Names of the profiles shipped with edgesdk."""
    return sorted(p.name[:-5] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def _parse(text: str, source: str) -> TargetProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Invalid TOML in profile {source}: {e}") from e
    return TargetProfile.from_dict(data, source=source)


def load_profile(name_or_path: str | Path) -> TargetProfile:
    """Load a built-in profile by name or a user profile from a ``.toml`` path.

    Raises:
        ConfigError: unknown name, unreadable file, unknown or mistyped keys.
    """
    text_name = str(name_or_path)
    path = Path(text_name).expanduser()
    if text_name.endswith(".toml") or path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"Cannot read target profile {path}: {e.strerror}") from e
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"Cannot read target profile {path}: not UTF-8 text (byte {e.start})"
            ) from e
        return _parse(text, str(path))
    return load_builtin_profile(text_name)


def load_builtin_profile(name: str) -> TargetProfile:
    """A built-in profile by name, never a file (for names read from files, such as a bundle's
    export.json).

    Raises:
        ConfigError: no built-in profile has that name.
    """
    if name not in builtin_names():
        raise ConfigError(
            f"Unknown target {name!r} (built-in targets: {', '.join(builtin_names())}; "
            "or give a path to a .toml profile)"
        )
    entry = _builtin_dir() / f"{name}.toml"
    return _parse(entry.read_text(encoding="utf-8"), f"builtin:{name}")


def list_profiles() -> list[TargetProfile]:
    """All built-in profiles, sorted by name."""
    return [load_profile(n) for n in builtin_names()]

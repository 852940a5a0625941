"""The device inventory: ``devices.json`` in the edgesdk config folder (``EDGESDK_HOME``)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic
from edgesdk.errors import ConfigError, DeviceError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def is_valid_name(name: str) -> bool:
    """A device or group name: letters, digits, '.', '_', '-' (no template, shell or YAML syntax)."""
    return bool(_NAME.match(name))


def config_home() -> Path:
    """edgesdk's config folder: ``$EDGESDK_HOME`` or ``~/.config/edgesdk``."""
    env = os.environ.get("EDGESDK_HOME")
    return Path(env).expanduser() if env else Path.home() / ".config" / "edgesdk"


@dataclass(frozen=True)
class Device:
    """How to reach a device. ``None`` fields come from ``~/.ssh/config`` or SSH defaults."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    key: str | None = None
    python: str = "python3"
    workdir: str = "edgesdk"
    target: str | None = None
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(dict.fromkeys(self.groups)))
        for group in self.groups:
            if not is_valid_name(group):
                raise ConfigError(f"Invalid group name {group!r} (letters, digits, '.', '_', '-')")
        if not is_valid_name(self.name):
            raise ConfigError(
                f"Invalid device name {self.name!r} (letters, digits, '.', '_', '-'; up to 63)"
            )
        if not self.host or self.host.startswith("-"):
            raise ConfigError(f"Invalid host {self.host!r} (expected a host name or address)")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigError(f"Invalid port={self.port} (must be 1-65535)")
        if not self.workdir.strip() or "\0" in self.workdir:
            raise ConfigError(f"Invalid workdir {self.workdir!r} (expected a folder path)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Device:
        return cls(**{**data, "groups": tuple(data.get("groups", ()))})


class Inventory:
    """Devices by name, stored atomically in ``<config>/devices.json``."""

    def __init__(self, home: Path | None = None):
        self.home = home or config_home()
        self.path = self.home / "devices.json"

    def _load(self) -> dict[str, Device]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {d["name"]: Device.from_dict(d) for d in data.get("devices", [])}
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"Cannot read the device inventory {self.path}: {e}") from e

    def _save(self, devices: dict[str, Device]) -> None:
        payload = {"devices": [d.to_dict() for d in sorted(devices.values(), key=lambda d: d.name)]}
        write_atomic(self.path, json.dumps(payload, indent=2) + "\n")

    def list(self) -> list[Device]:
        return sorted(self._load().values(), key=lambda d: d.name)

    def get(self, name: str) -> Device:
        devices = self._load()
        if name not in devices:
            known = ", ".join(devices) or "none yet; add one with 'edgesdk device add'"
            raise DeviceError(f"Unknown device {name!r} (known devices: {known})", retryable=False)
        return devices[name]

    def resolve(self, device: str | Device) -> Device:
        """A Device as it is, or the inventory's device of that name."""
        return device if isinstance(device, Device) else self.get(device)

    def group(self, name: str) -> list[Device]:
        """The devices of a group, sorted by name.

        Raises:
            DeviceError: no device is in that group.
        """
        devices = [d for d in self.list() if name in d.groups]
        if not devices:
            groups = sorted({g for d in self.list() for g in d.groups})
            raise DeviceError(
                f"No devices in group {name!r} (groups: {', '.join(groups) or 'none'})"
            )
        return devices

    def add_many(self, devices: list[Device]) -> tuple[list[str], list[str]]:
        """Add or replace several devices in one write; returns (added, updated) names."""
        current = self._load()
        added = [d.name for d in devices if d.name not in current]
        updated = [d.name for d in devices if d.name in current]
        current.update({d.name: d for d in devices})
        self._save(current)
        return added, updated

    def add(self, device: Device, replace_existing: bool = False) -> Device:
        devices = self._load()
        if device.name in devices and not replace_existing:
            raise DeviceError(f"Device {device.name!r} exists already (remove it first)")
        devices[device.name] = device
        self._save(devices)
        return device

    def remove(self, name: str) -> Device:
        devices = self._load()
        device = self.get(name)
        del devices[name]
        self._save(devices)
        return device

    def update(self, name: str, **changes: Any) -> Device:
        devices = self._load()
        device = replace(self.get(name), **changes)
        devices[name] = device
        self._save(devices)
        return device

"""Trusting host keys for a whole group: from a fingerprints file, or confirmed one by one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgesdk.devices.inventory import Device
from edgesdk.errors import ConfigError, EdgeSdkError


@dataclass(frozen=True)
class TrustOutcome:
    """What happened to one device's host key."""

    device: str
    trusted: bool
    fingerprint: str | None  # what the device presents (None: it could not be reached)
    reason: str = ""  # why it was not trusted

    def to_dict(self) -> dict[str, object]:
        return {
            "device": self.device,
            "trusted": self.trusted,
            "fingerprint": self.fingerprint,
            "reason": self.reason,
        }


def read_fingerprints(path: str | Path) -> dict[str, str]:
    """A file of ``DEVICE SHA256:...`` lines (blank lines and ``#`` comments allowed).

    Raises:
        ConfigError: unreadable, or a line of another form (its number and text named).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(
            f"Cannot read fingerprints file {path}: {e.strerror}", what="fingerprints"
        ) from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"Cannot read fingerprints file {path}: not UTF-8 text", what="fingerprints"
        ) from e
    result = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith("SHA256:"):
            raise ConfigError(
                f"{path}:{number}: expected 'DEVICE SHA256:...', got {line.strip()!r}",
                what="fingerprints",
                value=line.strip(),
                allowed="DEVICE SHA256:...",
            )
        result[parts[0]] = parts[1]
    return result


def trust_devices(
    devices: list[Device],
    expected: dict[str, str] | None,
    confirm: Callable[[Device, str], bool] | None,
    presented: Callable[[Device], str],
    record: Callable[[Device, str], str],
) -> list[TrustOutcome]:
    """Record each device's host key where it matches ``expected`` (or ``confirm`` says yes).

    Args:
        devices: the devices to trust.
        expected: fingerprints by device name (from :func:`read_fingerprints`); None to ask.
        confirm: asked per device when ``expected`` is None; without it nothing is trusted.
        presented: returns the fingerprint a device presents (nothing trusted yet).
        record: records the key if the device still presents that fingerprint.
    """
    outcomes = []
    for device in devices:
        try:
            actual = presented(device)
        except EdgeSdkError as e:
            outcomes.append(TrustOutcome(device.name, False, None, str(e)))
            continue
        if expected is not None:
            ok = expected.get(device.name) == actual
            reason = f"presents {actual}, file says {expected.get(device.name, 'nothing')}"
        else:
            ok = confirm is not None and confirm(device, actual)
            reason = "not confirmed"
        if ok:
            outcomes.append(TrustOutcome(device.name, True, record(device, actual)))
        else:
            outcomes.append(TrustOutcome(device.name, False, actual, reason))
    return outcomes

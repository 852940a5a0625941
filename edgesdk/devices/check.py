"""`device check`: what the device runs (OS, arch, Python, numpy, TFLite runtimes, free disk,
whether it is emulated)."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any

from edgesdk.core.results import JsonResult
from edgesdk.devices import runner
from edgesdk.devices.ssh import Session
from edgesdk.errors import DeviceError

PROBE = r"""
import json, os, platform, sys
from importlib import metadata
info = {"os": platform.platform(), "arch": platform.machine(), "python": platform.python_version(),
        "python_path": sys.executable}
try:
    import numpy
    info["numpy"] = numpy.__version__
except ImportError:
    info["numpy"] = None
info["runtime"] = info["runtime_version"] = None
for name in ("ai_edge_litert", "tflite_runtime", "tensorflow"):
    try:
        mod = __import__(name)
        info["runtime"], info["runtime_version"] = name, getattr(mod, "__version__", "?")
        break
    except ImportError:
        pass
info["runtimes"] = {}
for dist in ("ai-edge-litert", "tflite-runtime", "tensorflow"):
    try:
        info["runtimes"][dist] = metadata.version(dist)
    except metadata.PackageNotFoundError:
        pass
info["emulated"] = emulation()
path = os.path.expanduser(sys.argv[1])  # as deploy and the Ansible module read it
while path and not os.path.isdir(path):
    path = os.path.dirname(path)
st = os.statvfs(path or ".")
info["disk_free_bytes"] = st.f_bavail * st.f_frsize
info["disk_path"] = os.path.abspath(path or ".")
print(json.dumps(info))
"""
# the runner's own detection, so `device check` and benchmarks agree on what is emulated
PROBE = inspect.getsource(runner.emulation) + PROBE


@dataclass(frozen=True)
class DeviceReport(JsonResult):
    """What a device runs, as it answered the probe (its text is the device's: show it with
    care), and where it was reached.

    Attributes:
        device: the inventory name; ``host``/``user``: as connected (after ~/.ssh/config).
        os, arch, python, python_path: the device's platform and the Python that answered.
        numpy, runtime, runtime_version: None when missing (``runtime``: the module the
            on-device runner would use: ai_edge_litert, tflite_runtime or tensorflow).
        runtimes: every TFLite runtime distribution installed, by name, with its version.
        emulated: how the userland is emulated (``"qemu-aarch64 user mode"``), None on hardware.
        disk_free_bytes, disk_path: free space where models go (the nearest existing folder).
    """

    device: str
    host: str
    user: str | None
    os: str
    arch: str
    python: str
    python_path: str
    numpy: str | None
    runtime: str | None
    runtime_version: str | None
    runtimes: dict[str, str]
    emulated: str | None
    disk_free_bytes: int
    disk_path: str

    @property
    def ready(self) -> bool:
        """Whether models can run there (numpy and a runtime)."""
        return bool(self.numpy and self.runtime)

    def to_dict(self) -> dict[str, Any]:
        return {
            "os": self.os,
            "arch": self.arch,
            "python": self.python,
            "python_path": self.python_path,
            "numpy": self.numpy,
            "runtime": self.runtime,
            "runtime_version": self.runtime_version,
            "runtimes": dict(self.runtimes),
            "emulated": self.emulated,
            "disk_free_bytes": self.disk_free_bytes,
            "disk_path": self.disk_path,
            "device": self.device,
            "host": self.host,
            "user": self.user,
            "ready": self.ready,
        }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _report(answer: str, device: str, host: str, user: str | None) -> DeviceReport:
    """The probe's last line (JSON the device printed) as a DeviceReport."""
    try:
        info = json.loads(answer.strip().splitlines()[-1])
        runtimes = info.get("runtimes") or {}
        return DeviceReport(
            device=device,
            host=host,
            user=user,
            os=str(info["os"]),
            arch=str(info["arch"]),
            python=str(info["python"]),
            python_path=str(info["python_path"]),
            numpy=_text(info["numpy"]),
            runtime=_text(info["runtime"]),
            runtime_version=_text(info["runtime_version"]),
            runtimes={str(k): str(v) for k, v in runtimes.items()},
            emulated=_text(info.get("emulated")),
            disk_free_bytes=int(info["disk_free_bytes"]),
            disk_path=str(info["disk_path"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        raise DeviceError(
            f"Unreadable answer from {device}'s probe ({type(e).__name__}: {e})",
            what=device,
            retryable=False,
        ) from e


def check(session: Session) -> DeviceReport:
    """Probe the device with its own Python; nothing is written on it."""
    device = session.device
    result = session.run([device.python, "-c", PROBE, device.workdir], timeout=60, check=False)
    if result.exit_code != 0:
        tail = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise DeviceError(
            f"{device.python} does not run on {device.name} (exit {result.exit_code}): {tail}"
        )
    return _report(
        result.text(), device.name, session.endpoint.host_key_name, session.endpoint.user
    )

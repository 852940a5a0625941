"""`device check`: what the device runs (OS, arch, Python, numpy, TFLite runtimes, free disk,
whether it is emulated)."""

from __future__ import annotations

import inspect
import json
from typing import Any

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


def check(session: Session) -> dict[str, Any]:
    """Probe the device with its own Python; nothing is written on it."""
    device = session.device
    result = session.run([device.python, "-c", PROBE, device.workdir], timeout=60, check=False)
    if result.exit_code != 0:
        tail = (result.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise DeviceError(
            f"{device.python} does not run on {device.name} (exit {result.exit_code}): {tail}"
        )
    info = json.loads(result.text().strip().splitlines()[-1])
    info["device"] = device.name
    info["host"] = session.endpoint.host_key_name
    info["user"] = session.endpoint.user
    info["ready"] = bool(info["numpy"] and info["runtime"])
    return info

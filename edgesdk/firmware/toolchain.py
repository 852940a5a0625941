"""Find the Arm GNU toolchain, newlib, qemu-system-arm and make, and build the icount qemu plugin."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgesdk.errors import FirmwareError

TEMPLATES = Path(__file__).parent / "templates"

# tool -> Debian package that provides it (Debian 12 names)
DEBIAN_PACKAGES: dict[str, str] = {
    "arm-none-eabi-gcc": "gcc-arm-none-eabi",
    "arm-none-eabi-g++": "gcc-arm-none-eabi",
    "arm-none-eabi-ar": "binutils-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "arm-none-eabi-nm": "binutils-arm-none-eabi",
    "arm-none-eabi-objdump": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "make": "make",
    "gcc": "gcc",
    "zstd": "zstd",
    "libc_nano.a": "libnewlib-arm-none-eabi",
    "librdimon_nano.a": "libnewlib-arm-none-eabi",
    "libstdc++_nano.a": "libstdc++-arm-none-eabi-newlib",
}
ALL_PACKAGES: tuple[str, ...] = tuple(sorted(set(DEBIAN_PACKAGES.values())))


@dataclass(frozen=True)
class Toolchain:
    """Absolute paths of the tools the firmware flow runs."""

    gcc: Path
    gxx: Path
    ar: Path
    size: Path
    nm: Path
    objdump: Path
    make: Path
    qemu: Path
    gcc_version: str
    qemu_version: str


def missing_message(tool: str) -> str:
    """``missing X: install Debian package Y`` for one tool or library."""
    package = DEBIAN_PACKAGES.get(tool, "?")
    return f"missing {tool}: install Debian package {package} (apt-get install {package})"


def which(tool: str) -> Path:
    """Absolute path of ``tool`` on PATH.

    Raises:
        FirmwareError: not found (the message names the Debian package).
    """
    found = shutil.which(tool)
    if found is None:
        raise FirmwareError(missing_message(tool))
    return Path(found)


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise FirmwareError(f"Cannot run {cmd[0]}: {e}") from e
    return out.splitlines()[0].strip() if out else ""


def _check_target_library(gcc: Path, name: str, extra: tuple[str, ...] = ()) -> None:
    """Raise unless the cross compiler finds ``name`` (newlib, libstdc++) for a Thumb target."""
    cmd = [str(gcc), "-mcpu=cortex-m0", "-mthumb", *extra, f"-print-file-name={name}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    if not out or out == name or not Path(out).is_file():
        raise FirmwareError(missing_message(name))


def find_toolchain() -> Toolchain:
    """Locate every tool the firmware flow needs and check newlib-nano and libstdc++ are there.

    Raises:
        FirmwareError: something is missing; the message names the Debian package.
    """
    gcc = which("arm-none-eabi-gcc")
    gxx = which("arm-none-eabi-g++")
    names = ("arm-none-eabi-ar", "arm-none-eabi-size", "arm-none-eabi-nm", "arm-none-eabi-objdump")
    tools = {t: which(t) for t in names}
    make = which("make")
    qemu = which("qemu-system-arm")
    for lib in ("libc_nano.a", "librdimon_nano.a", "libstdc++_nano.a"):
        _check_target_library(gxx, lib)
    return Toolchain(
        gcc=gcc,
        gxx=gxx,
        ar=tools["arm-none-eabi-ar"],
        size=tools["arm-none-eabi-size"],
        nm=tools["arm-none-eabi-nm"],
        objdump=tools["arm-none-eabi-objdump"],
        make=make,
        qemu=qemu,
        gcc_version=_first_line([str(gxx), "--version"]),
        qemu_version=_first_line([str(qemu), "--version"]),
    )


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/edgesdk`` or ``~/.cache/edgesdk``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgesdk"


def icount_plugin(toolchain: Toolchain, cache: Path | None = None) -> Path:
    """Build (once, cached by source and qemu version) and return the icount qemu plugin.

    The plugin declares the qemu 7.2 plugin API itself: host gcc is enough, no glib or qemu
    headers.

    Raises:
        FirmwareError: host gcc is missing or the plugin does not compile.
    """
    source = TEMPLATES / "icount.c"
    text = source.read_bytes()
    key = hashlib.sha256(text + toolchain.qemu_version.encode()).hexdigest()[:16]
    target = (cache or cache_root()) / "qemu-plugins" / key / "libicount.so"
    if target.is_file():
        return target
    host_gcc = which("gcc")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    cmd = [str(host_gcc), "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-o", tmp, str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise FirmwareError(f"The icount qemu plugin does not compile: {proc.stderr.strip()}")
    os.replace(tmp, target)
    return target

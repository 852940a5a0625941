"""Locate TFLite Micro sources and build libtensorflow-microlite.a once per core and flags (cached;
one build per cache key at a time, across processes)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from edgesdk.core.manifest import sha256_path
from edgesdk.errors import FirmwareError
from edgesdk.firmware.cores import Core
from edgesdk.firmware.toolchain import TEMPLATES, Toolchain, cache_root, which

log = logging.getLogger(__name__)

ENV_VAR = "EDGESDK_TFLM_SRC"
KIT_DIR = Path("..") / "shared" / "third_party" / "tflite-micro"  # relative to a project root
KIT_GLOB = "tflm-kit-*.tar.zst"
SOURCES_FILE = "lib_sources.txt"
LIBRARY_NAME = "libtensorflow-microlite.a"
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
_CACHE_FORMAT = 1  # bump when the layout of a cache entry or the build recipe changes
_TREE_SUFFIXES = (".cc", ".c", ".h", ".hpp", ".inc")
_TREE_SKIP = {".git", "gen", "build", "obj"}
LOCK_POLL_SECONDS = 0.5  # how often a process waiting for another's build tries the lock


class BuildType(str, Enum):
    """TFLM build flavour; the firmware must be compiled with the same defines."""

    DEFAULT = "default"  # error strings kept: TFLM explains failures in the firmware's output
    RELEASE = "release"  # -DNDEBUG -DTF_LITE_STRIP_ERROR_STRINGS: smaller and faster


COMMON_DEFINES: tuple[str, ...] = (
    "-DTF_LITE_STATIC_MEMORY",
    "-DTF_LITE_DISABLE_X86_NEON",
    "-DKERNELS_OPTIMIZED_FOR_SPEED",
    "-DTF_LITE_MCU_DEBUG_LOG",
)
BUILD_TYPE_DEFINES: dict[BuildType, tuple[str, ...]] = {
    BuildType.DEFAULT: (),
    BuildType.RELEASE: ("-DNDEBUG", "-DTF_LITE_STRIP_ERROR_STRINGS"),
}
CXX_FLAGS: tuple[str, ...] = (
    "-std=c++17",
    "-fno-rtti",
    "-fno-exceptions",
    "-fno-threadsafe-statics",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-ffunction-sections",
    "-fdata-sections",
    "-fmessage-length=0",
    "-fomit-frame-pointer",
    "-funsigned-char",
    "-Wall",
    "-Wno-unused-parameter",
    "-Wno-type-limits",
)
# include folders relative to the source root (the library is compiled from there)
INCLUDE_DIRS: tuple[str, ...] = (
    ".",
    DOWNLOADS,
    f"{DOWNLOADS}/gemmlowp",
    f"{DOWNLOADS}/flatbuffers/include",
    f"{DOWNLOADS}/kissfft",
    f"{DOWNLOADS}/ruy",
    f"{DOWNLOADS}/cmsis/Cortex_DFP/Device/ARMCM4/Include",
    f"{DOWNLOADS}/cmsis/CMSIS/Core/Include",
)
_REQUIRED = (
    "tensorflow/lite/micro/micro_interpreter.h",
    f"{DOWNLOADS}/flatbuffers/include/flatbuffers/flatbuffers.h",
    f"{DOWNLOADS}/gemmlowp/fixedpoint/fixedpoint.h",
    f"{DOWNLOADS}/ruy/ruy/profiler/instrumentation.h",
)


@dataclass(frozen=True)
class TflmSource:
    """A TFLite Micro source tree ready to compile."""

    root: Path
    identity: str  # "kit-sha256:<hex>" or "tree-sha256:<hex>"
    sources: tuple[str, ...]  # .cc files relative to root

    def include_dirs(self) -> tuple[Path, ...]:
        return tuple((self.root / d).resolve() for d in INCLUDE_DIRS)


@dataclass(frozen=True)
class TflmLibrary:
    """A built (cached) TFLM static library and the flags firmware must be compiled with."""

    path: Path
    key: str
    core: str
    build_type: BuildType
    opt: str
    cpu_flags: tuple[str, ...]
    defines: tuple[str, ...]
    cxx_flags: tuple[str, ...]
    include_dirs: tuple[Path, ...]
    build_seconds: float
    reused: bool  # True: found in the cache, not built by this call
    waited_seconds: float = 0.0  # waited for another process building the same key


def locate_source(root: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The TFLM source to use: ``$EDGESDK_TFLM_SRC`` (folder or kit file), else the kit beside ``root``.

    Args:
        root: a project root; the kit is looked up at ``root/../shared/third_party/tflite-micro``.
        env: environment to read (default ``os.environ``).

    Raises:
        FirmwareError: nothing found, or the variable points at nothing.
    """
    env = os.environ if env is None else env
    value = env.get(ENV_VAR)
    if value:
        path = Path(value).expanduser()
        if not path.exists():
            raise FirmwareError(f"{ENV_VAR}={value} does not exist (must be a TFLM folder or kit)")
        return path
    tried = []
    if root is not None:
        kit_dir = (Path(root) / KIT_DIR).resolve()
        tried.append(str(kit_dir))
        kits = sorted(kit_dir.glob(KIT_GLOB)) if kit_dir.is_dir() else []
        if len(kits) > 1:
            raise FirmwareError(f"Several TFLM kits in {kit_dir}: {[k.name for k in kits]}")
        if kits:
            return kits[0]
    raise FirmwareError(
        f"No TFLite Micro source: set {ENV_VAR} to a TFLM source folder or kit "
        f"(looked for {KIT_GLOB} in {tried or 'no folder: no root given'})"
    )


def _tree_identity(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _TREE_SKIP)
        for name in sorted(filenames):
            if name.endswith(_TREE_SUFFIXES) or name == SOURCES_FILE:
                p = Path(dirpath) / name
                h.update(str(p.relative_to(root)).encode() + b"\0")
                h.update(p.read_bytes() + b"\0")
    return "tree-sha256:" + h.hexdigest()


def _extract_kit(kit: Path, cache: Path) -> tuple[Path, str]:
    """Unpack a ``.tar.zst`` kit once into the cache; return (folder, identity)."""
    digest = sha256_path(kit)
    dest = cache / "tflm" / f"src-{digest[:16]}"
    if not dest.is_dir():
        zstd = which("zstd")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
        try:
            with subprocess.Popen([str(zstd), "-dc", str(kit)], stdout=subprocess.PIPE) as proc:
                if proc.stdout is None:
                    raise FirmwareError("zstd started without an output pipe")
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                    tar.extractall(tmp, filter="data")
            if proc.returncode != 0:
                raise FirmwareError(f"zstd could not decompress {kit} (exit {proc.returncode})")
            os.rename(tmp, dest)
        except (OSError, tarfile.TarError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if not dest.is_dir():
                raise FirmwareError(f"Cannot unpack the TFLM kit {kit}: {e}") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest, f"kit-sha256:{digest}"


def open_source(path: Path, cache: Path | None = None) -> TflmSource:
    """Check a TFLM source folder (or unpack a kit file) and read its library source list.

    A folder may be the source root itself or a kit folder holding ``subset/``.

    Raises:
        FirmwareError: the tree lacks TFLM, its third-party downloads or ``lib_sources.txt``.
    """
    path = Path(path).expanduser().resolve()
    if path.is_file():
        folder, identity = _extract_kit(path, cache or cache_root())
    else:
        folder, identity = path, ""
    root = folder / "subset" if (folder / "subset" / SOURCES_FILE).is_file() else folder
    missing = [r for r in _REQUIRED if not (root / r).is_file()]
    if missing:
        raise FirmwareError(
            f"{root} is not a complete TFLite Micro source tree: missing {', '.join(missing)} "
            "(a git checkout needs its third-party downloads; the kit has them)"
        )
    listing = root / SOURCES_FILE
    if not listing.is_file():
        raise FirmwareError(
            f"{root} has no {SOURCES_FILE} (the list of library .cc files, one per line, "
            "relative to the source root); the TFLM kit ships one"
        )
    sources = tuple(s.strip() for s in listing.read_text().splitlines() if s.strip())
    absent = [s for s in sources if not (root / s).is_file()]
    if absent:
        raise FirmwareError(f"{SOURCES_FILE} lists {len(absent)} missing files, e.g. {absent[0]}")
    return TflmSource(root=root, identity=identity or _tree_identity(root), sources=sources)


def library_flags(core: Core, build_type: BuildType, opt: str = "-Os") -> tuple[str, ...]:
    """Every compiler flag of the library build except include folders."""
    return (
        *core.cpu_flags,
        *COMMON_DEFINES,
        *core.cmsis_defines,
        *BUILD_TYPE_DEFINES[build_type],
        opt,
        *CXX_FLAGS,
    )


def cache_key(source: TflmSource, flags: tuple[str, ...], compiler_version: str) -> str:
    """sha256 of source identity, compiler flags, compiler version and the build recipe."""
    recipe = (TEMPLATES / "tflm_lib.mk").read_bytes()
    blob = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "source": source.identity,
            "flags": list(flags),
            "includes": list(INCLUDE_DIRS),
            "compiler": compiler_version,
            "recipe": hashlib.sha256(recipe).hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _library(
    entry: Path,
    source: TflmSource,
    core: Core,
    build_type: BuildType,
    opt: str,
    reused: bool,
    waited: float = 0.0,
) -> TflmLibrary:
    meta = json.loads((entry / "build.json").read_text())
    return TflmLibrary(
        path=entry / LIBRARY_NAME,
        key=entry.name,
        core=core.name,
        build_type=build_type,
        opt=opt,
        cpu_flags=core.cpu_flags,
        defines=(*COMMON_DEFINES, *core.cmsis_defines, *BUILD_TYPE_DEFINES[build_type]),
        cxx_flags=(opt, *CXX_FLAGS),
        include_dirs=source.include_dirs(),
        build_seconds=float(meta["build_seconds"]),
        reused=reused,
        waited_seconds=round(waited, 1),
    )


def _complete(entry: Path) -> bool:
    return (entry / LIBRARY_NAME).is_file() and (entry / "build.json").is_file()


@contextmanager
def build_lock(base: Path, key: str, what: str, timeout: float) -> Iterator[float]:
    """Hold the lock of one cache key (``flock`` on ``<key>.lock`` beside the entry) while
    building it; yield the seconds spent waiting for another process that held it.

    The kernel releases the lock when its holder exits, even if killed, so a crashed build
    never blocks the next one.

    Raises:
        FirmwareError: another process held it for more than ``timeout`` seconds.
    """
    path = base / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(
                "Another process is building the TFLite Micro library for %s (cache key %s): "
                "waiting for it, then using its library",
                what,
                key[:16],
            )
            while True:
                time.sleep(LOCK_POLL_SECONDS)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() - start > timeout:
                        raise FirmwareError(
                            f"Another process has been building the TFLite Micro library for "
                            f"{what} for over {timeout:.0f} s (lock {path})",
                            retryable=True,
                        ) from None
        yield time.monotonic() - start
    finally:
        os.close(fd)  # releases the lock


def build_library(
    source: TflmSource,
    core: Core,
    toolchain: Toolchain,
    build_type: BuildType = BuildType.DEFAULT,
    opt: str = "-Os",
    jobs: int = 2,
    cache: Path | None = None,
    timeout: float = 3600.0,
) -> TflmLibrary:
    """Return the cached library for (source, core, flags, compiler), building it if needed.

    One process builds a cache key at a time: another that needs the same key waits for that
    build (logging that it waits) and uses its library; if the builder dies, the next one
    builds. The build goes to a temporary folder that is renamed into place, so an
    interrupted build never leaves a half-written cache entry.

    Raises:
        FirmwareError: the build fails or times out (the message ends with the compiler's
            output), or another process's build of the same key took longer than ``timeout``.
    """
    flags = library_flags(core, build_type, opt)
    key = cache_key(source, flags, toolchain.gcc_version)
    base = (cache or cache_root()) / "tflm"
    entry = base / key
    if _complete(entry):
        return _library(entry, source, core, build_type, opt, reused=True)
    base.mkdir(parents=True, exist_ok=True)
    with build_lock(base, key, core.name, timeout) as waited:
        if _complete(entry):  # built by the process this one waited for
            log.info("Using the TFLite Micro library %s built by another process", key[:16])
            return _library(entry, source, core, build_type, opt, reused=True, waited=waited)
        for stale in base.glob(f".{key[:16]}.tmp-*"):  # left by a killed build of this key
            shutil.rmtree(stale, ignore_errors=True)
        built = _build(source, core, toolchain, build_type, flags, entry, jobs, timeout)
    return _library(entry, source, core, build_type, opt, reused=not built, waited=waited)


def _build(
    source: TflmSource,
    core: Core,
    toolchain: Toolchain,
    build_type: BuildType,
    flags: tuple[str, ...],
    entry: Path,
    jobs: int,
    timeout: float,
) -> bool:
    """Build the library into a temporary folder and rename that to ``entry``; False when
    another process's entry got there first (this build is then dropped)."""
    key, base = entry.name, entry.parent
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{key[:16]}.tmp-"))
    try:
        (tmp / SOURCES_FILE).write_text("\n".join(source.sources) + "\n")
        cxxflags = [*flags, *(f"-I{d}" for d in INCLUDE_DIRS)]
        cmd = [
            str(toolchain.make),
            "-C",
            str(source.root),
            "-f",
            str(TEMPLATES / "tflm_lib.mk"),
            f"-j{jobs}",
            f"OUT={tmp}",
            f"SOURCES={tmp / SOURCES_FILE}",
            f"CXX={toolchain.gxx}",
            f"AR={toolchain.ar}",
            "CXXFLAGS=" + " ".join(shlex.quote(f) for f in cxxflags),
        ]
        start = time.monotonic()
        with (tmp / "build.log").open("w") as build_log:
            try:
                proc = subprocess.run(
                    cmd, stdout=build_log, stderr=subprocess.STDOUT, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired as e:
                raise FirmwareError(f"TFLM library build timed out after {timeout:.0f} s") from e
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            tail = (tmp / "build.log").read_text()[-3000:]
            raise FirmwareError(f"TFLM library build failed (make exit {proc.returncode}):\n{tail}")
        shutil.rmtree(tmp / "obj")
        meta = {
            "key": key,
            "core": core.name,
            "build_type": build_type.value,
            "flags": list(flags),
            "includes": list(INCLUDE_DIRS),
            "source": source.identity,
            "source_root": str(source.root),
            "compiler": toolchain.gcc_version,
            "jobs": jobs,
            "build_seconds": round(seconds, 1),
            "library_bytes": (tmp / LIBRARY_NAME).stat().st_size,
        }
        (tmp / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(tmp, entry)
        except OSError:  # built meanwhile by a process that did not lock (an older edgesdk)
            shutil.rmtree(tmp, ignore_errors=True)
            return False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True

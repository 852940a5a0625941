"""Locate TFLite Micro sources and build libtensorflow-microlite.a once per core and flags (cached;
one build per cache key at a time, across processes)."""

from __future__ import annotations

import fcntl
import functools
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
# the CMSIS-NN add-on of the kit (unpacked into the same folder), beside it
ADDON_DIR = Path("..") / "shared" / "third_party" / "cmsis-nn"
ADDON_GLOB = "cmsis-nn-kit-*.tar.zst"
SOURCES_FILE = "lib_sources.txt"
LIBRARY_NAME = "libtensorflow-microlite.a"
DOWNLOADS = "tensorflow/lite/micro/tools/make/downloads"
CMSIS_NN_GLUE = "tensorflow/lite/micro/kernels/cmsis_nn"
TREE_TOOL = "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py"
HOW_TO_MAKE_A_TREE = (
    f"make one in a TFLite Micro checkout with its own tool: python3 {TREE_TOOL} OUT_DIR "
    '(add --makefile_options="TARGET=cortex_m_generic OPTIMIZED_KERNEL_DIR=cmsis_nn '
    'TARGET_ARCH=cortex-m4+fp" for CMSIS-NN)'
)
# TFLite Micro's signal-processing library (audio front-end custom ops): no bundle edgesdk writes
# registers them, so the library is built without it (41 of 202 files: a fifth of every build)
NOT_BUILT = ("signal/",)
_CACHE_FORMAT = 3  # bump when the layout of a cache entry or the build recipe changes
_TREE_SUFFIXES = (".cc", ".c", ".h", ".hpp", ".inc")
_TREE_SKIP = {".git", "gen", "build", "obj"}
LOCK_POLL_SECONDS = 0.5  # how often a process waiting for another's build tries the lock


class KernelSet(str, Enum):
    """TFLite Micro's kernels: its portable reference code, or Arm's CMSIS-NN (SIMD through
    the DSP extension where the core has it), which is what Cortex-M firmware ships."""

    REFERENCE = "reference"
    CMSIS_NN = "cmsis-nn"


KERNEL_LABELS = {KernelSet.REFERENCE: "reference kernels", KernelSet.CMSIS_NN: "CMSIS-NN"}
# what TFLite Micro's OPTIMIZED_KERNEL_DIR=cmsis_nn adds to every file of library and firmware
# (without -DCMSIS_NN the int8-only registrations silently alias the generic ones)
CMSIS_NN_DEFINES = ("-DCMSIS_NN", "-DARM_NN_ENABLE_F16=0", "-DARM_NN_ENABLE_F32=0")
_DEVICE_HEADER_DEFINE = "-DCMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="
# CMSIS-NN sources TFLite Micro leaves out with ARM_NN_ENABLE_F16/F32=0
_CMSIS_NN_SKIP = ("_f16.c", "_f32.c", "arm_nntables_flt.c")


def parse_kernels(value: str | KernelSet | None, where: Path | None = None) -> KernelSet | None:
    """``value`` as a KernelSet (None stays None: the default). ``where``: the bundle file it
    was read from (a FirmwareError then, naming it).

    Raises:
        ConfigError: not a kernel set (FirmwareError with ``where``).
    """
    if value is None or isinstance(value, KernelSet):
        return value
    try:
        return KernelSet(value)
    except ValueError:
        from edgesdk.errors import ConfigError

        allowed = [k.value for k in KernelSet]
        shown = repr(value)[:40]
        error = ConfigError if where is None else FirmwareError
        raise error(
            f"Invalid kernels={shown}{'' if where is None else f' in {where}'} (must be one of: "
            f"{', '.join(allowed)})",
            what="kernels",
            value=shown,
            allowed=allowed,
        ) from None


def default_kernels(core_name: str) -> KernelSet:
    """The kernel set firmware for ``core_name`` is normally built with: CMSIS-NN on every
    Cortex-M core (its plain C path on ARMv6-M, SIMD where the core has the DSP extension)."""
    return KernelSet.CMSIS_NN if core_name.startswith("cortex-m") else KernelSet.REFERENCE


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
C_ONLY_FLAGS: tuple[str, ...] = ("-std=c17",)  # CMSIS-NN's .c files (as TFLite Micro builds them)
CXX_ONLY_FLAGS: tuple[str, ...] = ("-std=c++17", "-fno-rtti", "-fno-exceptions",
                                   "-fno-threadsafe-statics")  # fmt: skip
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
CMSIS_NN_INCLUDE_DIRS = (f"{DOWNLOADS}/cmsis", f"{DOWNLOADS}/cmsis_nn",
                         f"{DOWNLOADS}/cmsis_nn/Include")  # fmt: skip
_REQUIRED = (
    "tensorflow/lite/micro/micro_interpreter.h",
    f"{DOWNLOADS}/flatbuffers/include/flatbuffers/flatbuffers.h",
    f"{DOWNLOADS}/gemmlowp/fixedpoint/fixedpoint.h",
    f"{DOWNLOADS}/ruy/ruy/profiler/instrumentation.h",
)
# a tree made by create_tflm_tree.py: third-party code under third_party/, no source list
TREE_INCLUDE_DIRS = (".", "third_party/gemmlowp", "third_party/flatbuffers/include",
                     "third_party/kissfft", "third_party/ruy")  # fmt: skip
TREE_CMSIS_NN_INCLUDE_DIRS = ("third_party/cmsis", "third_party/cmsis_nn",
                              "third_party/cmsis/CMSIS/Core/Include",
                              "third_party/cmsis_nn/Include")  # fmt: skip
_TREE_REQUIRED = (
    "tensorflow/lite/micro/micro_interpreter.h",
    "third_party/flatbuffers/include/flatbuffers/flatbuffers.h",
    "third_party/gemmlowp/fixedpoint/fixedpoint.h",
)
KIT, TREE = "kit", "tree"


@dataclass(frozen=True)
class TflmSource:
    """A TFLite Micro source tree ready to compile, and the kernel sets it can build."""

    root: Path
    identity: str  # "kit-sha256:<hex>" or "tree-sha256:<hex>"
    sources: tuple[str, ...]  # library sources with the reference kernels (): it has none)
    layout: str = KIT  # KIT: lib_sources.txt + downloads/; TREE: made by create_tflm_tree.py
    cmsis_nn_sources: tuple[str, ...] = ()  # library sources with CMSIS-NN (): it has none)

    @property
    def kernel_sets(self) -> tuple[KernelSet, ...]:
        have = ((KernelSet.REFERENCE, self.sources), (KernelSet.CMSIS_NN, self.cmsis_nn_sources))
        return tuple(k for k, files in have if files)

    def sources_for(self, kernels: KernelSet) -> tuple[str, ...]:
        """The library's source files for ``kernels``.

        Raises:
            FirmwareError: this source cannot build that kernel set.
        """
        files = self.sources if kernels is KernelSet.REFERENCE else self.cmsis_nn_sources
        if not files:
            can = ", ".join(k.value for k in self.kernel_sets) or "none"
            hint = (
                "a tree made with OPTIMIZED_KERNEL_DIR=cmsis_nn holds only CMSIS-NN kernels; "
                if self.layout == TREE and kernels is KernelSet.REFERENCE
                else ""
            )
            raise FirmwareError(
                f"The TFLite Micro source {self.root} cannot build the {kernels.value} kernels "
                f"(it can build: {can}); {hint}{HOW_TO_MAKE_A_TREE}",
                what="kernels",
                value=kernels.value,
                allowed=[k.value for k in self.kernel_sets],
            )
        return files

    def include_dirs(self, kernels: KernelSet = KernelSet.REFERENCE) -> tuple[Path, ...]:
        return tuple((self.root / d).resolve() for d in self.include_names(kernels))

    def include_names(self, kernels: KernelSet) -> tuple[str, ...]:
        cmsis = kernels is KernelSet.CMSIS_NN
        if self.layout == TREE:
            return (*TREE_INCLUDE_DIRS, *(TREE_CMSIS_NN_INCLUDE_DIRS if cmsis else ()))
        return (*INCLUDE_DIRS, *(CMSIS_NN_INCLUDE_DIRS if cmsis else ()))

    def defines(self, core: Core, kernels: KernelSet) -> tuple[str, ...]:
        """The core's CMSIS defines (without a device header the source lacks: a tree has
        none, and release builds never read the cycle counter it is for) and the kernels'."""
        names = self.include_names(kernels)
        device = tuple(
            d
            for d in core.cmsis_defines
            if not d.startswith(_DEVICE_HEADER_DEFINE)
            or any(
                (self.root / n / d[len(_DEVICE_HEADER_DEFINE) :].strip('"')).is_file()
                for n in names
            )
        )
        return (*device, *(CMSIS_NN_DEFINES if kernels is KernelSet.CMSIS_NN else ()))


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
    kernels: KernelSet = KernelSet.REFERENCE
    source: str = ""  # the source's identity
    source_layout: str = KIT


def locate_source(
    root: Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[Path, ...]:
    """The TFLM source to use: ``$EDGESDK_TFLM_SRC`` (a folder, or kit files joined by ``:``),
    else the kit beside ``root`` with its CMSIS-NN add-on when that is there too.

    Args:
        root: a project root; the kit is looked up at ``root/../shared/third_party/tflite-micro``
            and the add-on at ``root/../shared/third_party/cmsis-nn``.
        env: environment to read (default ``os.environ``).

    Raises:
        FirmwareError: nothing found, or the variable points at nothing.
    """
    env = os.environ if env is None else env
    value = env.get(ENV_VAR)
    if value:
        paths = tuple(Path(v).expanduser() for v in value.split(os.pathsep) if v)
        for path in paths:
            if not path.exists():
                raise FirmwareError(
                    f"{ENV_VAR}={value}: {path} does not exist (must be a TFLite Micro tree or "
                    f"kit); {HOW_TO_MAKE_A_TREE}"
                )
        return paths
    tried = []
    if root is not None:
        found = []
        for folder, glob in ((KIT_DIR, KIT_GLOB), (ADDON_DIR, ADDON_GLOB)):
            kit_dir = (Path(root) / folder).resolve()
            tried.append(str(kit_dir))
            kits = sorted(kit_dir.glob(glob)) if kit_dir.is_dir() else []
            if len(kits) > 1:
                raise FirmwareError(f"Several TFLM kits in {kit_dir}: {[k.name for k in kits]}")
            found += kits
            if not found:
                break  # no add-on without the kit
        if found:
            return tuple(found)
    raise FirmwareError(
        f"No TFLite Micro source: give `tflm_src` or set {ENV_VAR} to a TFLite Micro tree; "
        f"{HOW_TO_MAKE_A_TREE} (looked for {KIT_GLOB} in {tried or 'no folder'})"
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


def _extract_kits(kits: tuple[Path, ...], cache: Path) -> tuple[Path, str]:
    """Unpack ``.tar.zst`` kits (the TFLM kit, then add-ons) once into one cache folder;
    return (folder, identity)."""
    digests = [sha256_path(k) for k in kits]
    digest = (
        digests[0] if len(digests) == 1 else hashlib.sha256(":".join(digests).encode()).hexdigest()
    )
    dest = cache / "tflm" / f"src-{digest[:16]}"
    if not dest.is_dir():
        zstd = which("zstd")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
        try:
            for kit in kits:
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
                raise FirmwareError(f"Cannot unpack the TFLM kit {kits[0]}: {e}") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest, "kit-sha256:" + ":".join(digests)


def _built(sources: tuple[str, ...]) -> tuple[str, ...]:
    """The library sources edgesdk compiles: all but :data:`NOT_BUILT`."""
    return tuple(s for s in sources if not s.startswith(NOT_BUILT))


def _cmsis_nn_c(root: Path, folder: str) -> list[str]:
    """CMSIS-NN's .c files under ``root/folder`` as TFLite Micro compiles them (no f16/f32)."""
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(
        str(p.relative_to(root))
        for p in base.rglob("*.c")
        if p.is_file() and not p.name.endswith(_CMSIS_NN_SKIP)
    )


def _kit_cmsis_nn(root: Path, reference: tuple[str, ...]) -> tuple[str, ...]:
    """A kit's sources with CMSIS-NN (TFLM's specialize rule: each kernels/cmsis_nn/X.cc
    replaces kernels/X.cc), or () when the CMSIS-NN add-on is not unpacked into it."""
    nn_c = _cmsis_nn_c(root, f"{DOWNLOADS}/cmsis_nn/Source")
    glue = root / CMSIS_NN_GLUE
    if not nn_c or not glue.is_dir():
        return ()
    replaced = {f"tensorflow/lite/micro/kernels/{p.name}": f"{CMSIS_NN_GLUE}/{p.name}"
                for p in sorted(glue.glob("*.cc"))}  # fmt: skip
    return (*(replaced.get(s, s) for s in reference), *nn_c)


def _open_tree(root: Path, identity: str) -> TflmSource:
    """A tree made by create_tflm_tree.py: every .cc/.c under tensorflow/ and signal/ is a
    library source (what TFLM's list_library_sources gave the tool), plus CMSIS-NN's .c when
    the tree was made with it (it then holds only CMSIS-NN's versions of those kernels)."""
    missing = [r for r in _TREE_REQUIRED if not (root / r).is_file()]
    if missing:
        raise FirmwareError(
            f"{root} is not a complete TFLite Micro tree: missing {', '.join(missing)}; "
            f"{HOW_TO_MAKE_A_TREE}"
        )
    sources = tuple(
        sorted(
            str(p.relative_to(root))
            for top in ("tensorflow", "signal")
            for p in (root / top).rglob("*")
            if p.suffix in (".cc", ".c") and p.is_file()
        )
    )
    sources = _built(sources)
    identity = identity or _tree_identity(root)
    if (root / CMSIS_NN_GLUE).is_dir():
        nn_c = _cmsis_nn_c(root, "third_party/cmsis_nn/Source")
        if not nn_c:
            raise FirmwareError(
                f"{root} has TFLite Micro's CMSIS-NN kernels but not CMSIS-NN itself "
                f"(third_party/cmsis_nn/Source); {HOW_TO_MAKE_A_TREE}"
            )
        return TflmSource(root, identity, (), TREE, (*sources, *nn_c))
    return TflmSource(root, identity, sources, TREE)


def open_source(path: Path | tuple[Path, ...], cache: Path | None = None) -> TflmSource:
    """Check a TFLM source: a folder (the kit's ``subset/`` or its parent, or a tree made by
    create_tflm_tree.py) or kit files (unpacked once), and list the library's sources.

    Raises:
        FirmwareError: not a TFLite Micro source, or one missing files it needs (one line,
            saying how to make a tree with TFLite Micro's own tool).
    """
    paths = (path,) if isinstance(path, Path | str) else tuple(path)
    paths = tuple(Path(p).expanduser().resolve() for p in paths)
    if all(p.is_file() for p in paths):
        folder, identity = _extract_kits(paths, cache or cache_root())
    elif len(paths) == 1 and paths[0].is_dir():
        folder, identity = paths[0], ""
    else:
        raise FirmwareError(
            f"{ENV_VAR} must be one folder or kit files, got {', '.join(map(str, paths))}"
        )
    root = folder / "subset" if (folder / "subset" / SOURCES_FILE).is_file() else folder
    listing = root / SOURCES_FILE
    if not listing.is_file():
        if (root / TREE_TOOL).is_file():
            raise FirmwareError(
                f"{root} is a TFLite Micro checkout, not a tree to build from: "
                f"{HOW_TO_MAKE_A_TREE}, and give that folder"
            )
        return _open_tree(root, identity)
    missing = [r for r in _REQUIRED if not (root / r).is_file()]
    if missing:
        raise FirmwareError(
            f"{root} is not a complete TFLite Micro source tree: missing {', '.join(missing)}; "
            f"{HOW_TO_MAKE_A_TREE}"
        )
    sources = tuple(s.strip() for s in listing.read_text().splitlines() if s.strip())
    absent = [s for s in sources if not (root / s).is_file()]
    if absent:
        raise FirmwareError(f"{SOURCES_FILE} lists {len(absent)} missing files, e.g. {absent[0]}")
    identity = identity or _tree_identity(root)
    sources = _built(sources)
    return TflmSource(root, identity, sources, KIT, _kit_cmsis_nn(root, sources))


def library_flags(
    core: Core, build_type: BuildType, opt: str = "-Os",
    source: TflmSource | None = None, kernels: KernelSet = KernelSet.REFERENCE,
) -> tuple[str, ...]:  # fmt: skip
    """Every compiler flag of the library build except include folders."""
    defines = source.defines(core, kernels) if source is not None else core.cmsis_defines
    return (
        *core.cpu_flags,
        *COMMON_DEFINES,
        *defines,
        *BUILD_TYPE_DEFINES[build_type],
        opt,
        *CXX_FLAGS,
    )


def cache_key(
    source: TflmSource, flags: tuple[str, ...], compiler_version: str,
    kernels: KernelSet = KernelSet.REFERENCE,
) -> str:  # fmt: skip
    """sha256 of source identity, kernel set and its file list, compiler flags, compiler
    version and the build recipe."""
    recipe = (TEMPLATES / "tflm_lib.mk").read_bytes()
    files = "\n".join(source.sources_for(kernels)).encode()
    blob = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "source": source.identity,
            "kernels": kernels.value,
            "files": hashlib.sha256(files).hexdigest(),
            "flags": list(flags),
            "includes": list(source.include_names(kernels)),
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
    kernels: KernelSet = KernelSet.REFERENCE,
) -> TflmLibrary:
    meta = json.loads((entry / "build.json").read_text())
    return TflmLibrary(
        path=entry / LIBRARY_NAME,
        key=entry.name,
        core=core.name,
        build_type=build_type,
        opt=opt,
        cpu_flags=core.cpu_flags,
        defines=(*COMMON_DEFINES, *source.defines(core, kernels), *BUILD_TYPE_DEFINES[build_type]),
        cxx_flags=(opt, *CXX_FLAGS),
        include_dirs=source.include_dirs(kernels),
        build_seconds=float(meta["build_seconds"]),
        reused=reused,
        waited_seconds=round(waited, 1),
        kernels=kernels,
        source=source.identity,
        source_layout=source.layout,
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
    kernels: KernelSet = KernelSet.REFERENCE,
) -> TflmLibrary:
    """Return the cached library for (source, kernel set, core, flags, compiler), building it
    if needed.

    One process builds a cache key at a time: another that needs the same key waits for that
    build (logging that it waits) and uses its library; if the builder dies, the next one
    builds. The build goes to a temporary folder that is renamed into place, so an
    interrupted build never leaves a half-written cache entry.

    Raises:
        FirmwareError: the source cannot build ``kernels``, the build fails or times out (the
            message ends with the compiler's output), or another process's build of the same
            key took longer than ``timeout``.
    """
    files = source.sources_for(kernels)  # a kernel set the source lacks: one line, first
    flags = library_flags(core, build_type, opt, source, kernels)
    key = cache_key(source, flags, toolchain.gcc_version, kernels)
    base = (cache or cache_root()) / "tflm"
    entry = base / key
    done = functools.partial(_library, entry, source, core, build_type, opt, kernels=kernels)
    if _complete(entry):
        return done(reused=True)
    base.mkdir(parents=True, exist_ok=True)
    what = f"{core.name} ({kernels.value})"
    with build_lock(base, key, what, timeout) as waited:
        if _complete(entry):  # built by the process this one waited for
            log.info("Using the TFLite Micro library %s built by another process", key[:16])
            return done(reused=True, waited=waited)
        for stale in base.glob(f".{key[:16]}.tmp-*"):  # left by a killed build of this key
            shutil.rmtree(stale, ignore_errors=True)
        job = _Job(source, core, toolchain, build_type, kernels, files, flags)
        built = _build(job, entry, jobs, timeout)
    return done(reused=not built, waited=waited)


@dataclass(frozen=True)
class _Job:
    """One library build: what is compiled, and how."""

    source: TflmSource
    core: Core
    toolchain: Toolchain
    build_type: BuildType
    kernels: KernelSet
    files: tuple[str, ...]
    flags: tuple[str, ...]  # C++ flags without include folders


def _build(job: _Job, entry: Path, jobs: int, timeout: float) -> bool:
    """Build the library into a temporary folder and rename that to ``entry``; False when
    another process's entry got there first (this build is then dropped)."""
    source, core, toolchain, build_type, flags = (
        job.source, job.core, job.toolchain, job.build_type, job.flags)  # fmt: skip
    key, base = entry.name, entry.parent
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{key[:16]}.tmp-"))
    try:
        (tmp / SOURCES_FILE).write_text("\n".join(job.files) + "\n")
        includes = [f"-I{d}" for d in source.include_names(job.kernels)]
        cxxflags = [*flags, *includes]
        # the C files (CMSIS-NN's) get the same flags with C's standard instead of C++'s
        cflags = [f for f in flags if f not in CXX_ONLY_FLAGS] + [*C_ONLY_FLAGS, *includes]
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
            f"CC={toolchain.gcc}",
            f"AR={toolchain.ar}",
            "CXXFLAGS=" + " ".join(shlex.quote(f) for f in cxxflags),
            "CFLAGS=" + " ".join(shlex.quote(f) for f in cflags),
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
            "kernels": job.kernels.value,
            "files": len(job.files),
            "flags": list(flags),
            "includes": list(source.include_names(job.kernels)),
            "source": source.identity,
            "source_layout": source.layout,
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

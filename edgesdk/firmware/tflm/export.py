"""Firmware bundle: model C array, I/O constants, arena size and op resolver, verified on TFLite Micro."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from edgesdk import __version__
from edgesdk.core.fileio import check_out_dir, staged_dir
from edgesdk.core.manifest import record_export
from edgesdk.core.profiles import TargetProfile
from edgesdk.core.results import JsonResult
from edgesdk.errors import ExportError
from edgesdk.firmware.bundle_input import io_record
from edgesdk.firmware.csource import (
    C_TYPES,
    camel,
    comment_text,
    sanitize_identifier,
    write_byte_array,
)
from edgesdk.firmware.engines import Engine
from edgesdk.firmware.tflm.library import KernelSet, default_kernels, parse_kernels
from edgesdk.firmware.tflm.registrations import Registration, registrations
from edgesdk.firmware.vectors import samples_for, test_vectors_header, untied
from edgesdk.tflite.io_choice import InterfaceRecord, prepare_io, verify_io, with_file
from edgesdk.tflite.layout_record import LayoutRecord, read_layout
from edgesdk.tflite.micro import (
    ArenaMeasurement,
    OpSupport,
    OutputParity,
    check_arena,
    compare_with_litert,
    declared_arena,
    fit_arena,
    load_interpreter,
    measure_arena,
    op_support,
)
from edgesdk.tflite.model_info import ModelInfo, TensorInfo, inspect_bytes, read_tflite
from edgesdk.tflite.parity import first_divergence, lsb_warnings, parity_failures, parity_message
from edgesdk.tflite.preflight import preflight

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """Use of one memory against the profile's budget (None: no budget known)."""

    used: int
    budget: int | None

    @property
    def percent(self) -> float | None:
        return None if not self.budget else 100.0 * self.used / self.budget

    @property
    def over(self) -> bool:
        return self.budget is not None and self.used > self.budget

    def to_dict(self) -> dict[str, Any]:
        return {"used": self.used, "budget": self.budget, "percent": self.percent}


@dataclass(frozen=True)
class ExportResult(JsonResult):
    """What export-c wrote and what it verified."""

    model: str
    target: str
    name: str
    out_dir: str
    files: tuple[str, ...]
    model_bytes: int
    sha256: str
    arena: ArenaMeasurement
    arena_declared: int
    flash: Budget
    ram: Budget
    ops: tuple[OpSupport, ...]
    parity: tuple[OutputParity, ...] = ()
    divergence: dict[str, Any] | None = None  # first op where TFLite Micro and LiteRT differ
    samples_from: str = "random"  # where test vectors and parity inputs came from
    lsb_tolerance: int = 1
    test_vectors: int = 0
    forced: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    io: dict[str, Any] = field(default_factory=dict)  # name, dtype, shape of inputs, outputs
    kernels: str = KernelSet.CMSIS_NN.value  # the kernel set the firmware is for
    registrations: tuple[Registration, ...] = ()
    arena_source: str = "host"  # where arena_declared comes from: "host" or "target"
    arena_measured_target: int | None = None  # arena used by the firmware on the target's core
    layers: tuple[tuple[int, str], ...] = ()  # (op index, op) of the main subgraph, run order
    interface: InterfaceRecord | None = None  # the I/O asked for (`io`): rewritten or kept
    layout: LayoutRecord | None = None  # the input layout a converter changed (PyTorch NCHW)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": Engine.TFLM.value,
            "kernels": self.kernels,
            "registrations": [r.to_dict() for r in self.registrations],
            "layers": [{"op_index": i, "op": op} for i, op in self.layers],
            "model": self.model,
            "target": self.target,
            "name": self.name,
            "out_dir": self.out_dir,
            "files": list(self.files),
            "model_bytes": self.model_bytes,
            "sha256": self.sha256,
            "arena_measured": self.arena.to_dict(),
            "arena_declared": self.arena_declared,
            "arena_source": self.arena_source,
            "arena_measured_target": self.arena_measured_target,
            "flash": self.flash.to_dict(),
            "ram": self.ram.to_dict(),
            "ops": [o.to_dict() for o in self.ops],
            "verified": bool(self.parity),
            "parity": [p.to_dict() for p in self.parity],
            "divergence": self.divergence,
            "samples_from": self.samples_from,
            "lsb_tolerance": self.lsb_tolerance,
            "test_vectors": self.test_vectors,
            "forced": self.forced,
            "warnings": list(self.warnings),
            "io": self.io,
            "interface": self.interface.to_dict() if self.interface else None,
            "layout": self.layout.to_dict() if self.layout else None,
        }


def _io_block(prefix: str, upper: str, kind: str, index: int, t: TensorInfo) -> list[str]:
    ctype = C_TYPES.get(t.dtype, "uint8_t")
    tag = f"{upper}_{kind.upper()}{index}"
    lines = [
        f"/* {kind} {index} '{t.name}': {t.dtype} {list(t.shape)} */",
        f"#define {tag}_DIMS {len(t.shape)}",
        f"#define {tag}_SHAPE {{{', '.join(str(d) for d in t.shape)}}}",
        f"#define {tag}_ELEMENTS {int(np.prod(t.shape)) if t.shape else 1}",
        f"typedef {ctype} {prefix}_{kind}{index}_t;",
    ]
    if t.quantized:
        info = np.iinfo(np.dtype(t.dtype))
        scale, zero = t.scale[0], t.zero_point[0]
        lines += [
            f"#define {tag}_SCALE {scale!r}f",
            f"#define {tag}_ZERO_POINT ({zero})",
            f"static inline {ctype} {prefix}_quantize_{kind}{index}(float x) {{",
            f"  float v = x / {tag}_SCALE + (float){tag}_ZERO_POINT;",
            f"  v = v < {info.min}.0f ? {info.min}.0f : (v > {info.max}.0f ? {info.max}.0f : v);",
            f"  return ({ctype})(v >= 0.0f ? v + 0.5f : v - 0.5f);",
            "}",
            f"static inline float {prefix}_dequantize_{kind}{index}({ctype} q) {{",
            f"  return ((float)q - (float){tag}_ZERO_POINT) * {tag}_SCALE;",
            "}",
        ]
    return [*lines, ""]


def _banner(
    what: str, source: str, data: bytes, sha: str, profile: TargetProfile, layout: str = ""
) -> str:
    extra = f" * {comment_text(layout)}\n" if layout else ""
    return (
        f"/* {what}: generated by edgesdk {__version__} for target {comment_text(profile.name)}. "
        f"Do not edit.\n * Model: {comment_text(source)} ({len(data)} bytes, sha256 {sha})\n"
        f"{extra} */\n"
    )


def _model_header(
    name: str, banner: str, info: ModelInfo, arena: int, measured: int, profile: TargetProfile
) -> str:
    upper, cname = name.upper(), camel(name)
    inputs, outputs = info.io_tensors()
    lines = [
        banner.rstrip("\n"),
        f"#ifndef EDGESDK_{upper}_MODEL_H_",
        f"#define EDGESDK_{upper}_MODEL_H_",
        "",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"#define {upper}_MODEL_ALIGNMENT {profile.header.alignment}",
        f"extern const unsigned char g_{name}_model_data[];",
        f"extern const unsigned int g_{name}_model_data_len;",
        "",
        "enum {",
        f"  k{cname}ModelSize = {info.size_bytes},",
        f"  /* measured {measured} bytes + {profile.header.arena_margin_percent}% margin "
        f"+ {profile.header.alignment} alignment slack */",
        f"  k{cname}TensorArenaSize = {arena},",
        f"  k{cname}InputCount = {len(inputs)},",
        f"  k{cname}OutputCount = {len(outputs)}",
        "};",
        "",
    ]
    for i, t in enumerate(inputs):
        lines += _io_block(name, upper, "input", i, t)
    for i, t in enumerate(outputs):
        lines += _io_block(name, upper, "output", i, t)
    lines += [
        "#ifdef __cplusplus",
        '}  /* extern "C" */',
        "#endif",
        "",
        f"#endif  /* EDGESDK_{upper}_MODEL_H_ */",
        "",
    ]
    return "\n".join(lines)


def _write_model_source(
    f: BinaryIO, name: str, banner: str, data: bytes, profile: TargetProfile
) -> None:
    h = profile.header
    attrs = ""
    if h.section:
        attrs += f' __attribute__((section("{h.section}")))'
    if h.qualifiers:
        attrs += f" {h.qualifiers}"
    f.write(
        (
            f"{banner}"
            f'#include "{name}_model.h"\n\n'
            "#if defined(__cplusplus)\n#define EDGESDK_ALIGNAS(n) alignas(n)\n"
            "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n"
            "#define EDGESDK_ALIGNAS(n) _Alignas(n)\n"
            "#else\n#define EDGESDK_ALIGNAS(n) __attribute__((aligned(n)))\n#endif\n\n"
            f"EDGESDK_ALIGNAS({h.alignment}) const unsigned char g_{name}_model_data[]{attrs} = {{\n"
        ).encode()
    )
    write_byte_array(f, data)
    f.write(f"}};\nconst unsigned int g_{name}_model_data_len = {len(data)};\n".encode())


def _resolver_header(name: str, banner: str, regs: list[Registration]) -> str:
    upper, cname = name.upper(), camel(name)
    body = "\n".join(f"  if (resolver.{r.call} != kTfLiteOk) return kTfLiteError;" for r in regs)
    headers = sorted({r.header for r in regs if r.header})
    includes = "".join(f'#include "{h}"\n' for h in headers)
    int8 = sum(r.int8_only for r in regs)
    return (
        f"{banner}"
        f"#ifndef EDGESDK_{upper}_OP_RESOLVER_H_\n#define EDGESDK_{upper}_OP_RESOLVER_H_\n\n"
        '#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n'
        f"{includes}\n"
        f"constexpr unsigned int k{cname}OpCount = {len(regs)};\n"
        f"using {cname}OpResolver = tflite::MicroMutableOpResolver<k{cname}OpCount>;\n\n"
        f"// Registers exactly the {len(regs)} ops the model uses; {int8} with the int8-only\n"
        "// kernel (every instance of the op in the model is int8: with CMSIS-NN, compiled with\n"
        "// -DCMSIS_NN, that links only the int8 code), the others with the generic one.\n"
        f"inline TfLiteStatus {cname}RegisterOps({cname}OpResolver& resolver) {{\n"
        f"{body}\n  return kTfLiteOk;\n}}\n\n#endif  // EDGESDK_{upper}_OP_RESOLVER_H_\n"
    )


# Over 80 lines: the checks that must pass before anything is written, in order, then one
# atomic write of the whole folder.
def export_tflm(
    model: str | Path,
    profile: TargetProfile,
    out_dir: str | Path,
    name: str | None = None,
    test_vectors: int = 0,
    verify: bool = True,
    verify_samples: int = 100,
    force: bool = False,
    seed: int = 0,
    firmware: bool = False,
    data_spec: str | None = None,
    kernels: str | None = None,
    arena: str | None = None,
    io: str | None = None,
) -> ExportResult:
    """Write the TFLite Micro bundle for ``model`` and ``profile`` into ``out_dir`` (atomically).

    ``kernels``: the TFLite Micro kernel set the firmware is for ("reference" or "cmsis-nn";
    default: the profile's core's usual set, CMSIS-NN on Cortex-M), recorded in export.json
    (``emulate`` builds with it) and in the firmware project's defines.
    ``arena``: "host" (default: the arena TFLite Micro measured on this 64-bit host, plus the
    profile's margin) or "target": the arena the firmware used on the emulated target core
    (built with ``kernels``), plus the same margin; the bundle is then run there once more
    with that arena before it is written.

    Raises:
        InspectionError: not a (complete) .tflite file.
        ExportError: bad name, ops the target cannot run, TFLite Micro / LiteRT disagreement,
            budgets exceeded (unless ``force``).
        OutputError: the folder exists with files (unless ``force``) or cannot be written.

    ``io="int8"`` rewrites float I/O around an int8 body to int8 I/O (checked against the
    model as given, written into the bundle); ``io="float32"`` keeps it on a core with an FPU
    (:mod:`edgesdk.tflite.io_choice`).
    """
    kernel_set = parse_kernels(kernels) or _profile_kernels(profile)
    on_target = _arena_source(arena, profile) == ARENA_TARGET
    if firmware and not test_vectors:
        test_vectors = 4  # the firmware checks its outputs against them
    data = read_tflite(model)
    info = inspect_bytes(data, str(model))
    original = data
    layout = read_layout(data)
    data, info, interface = prepare_io(data, info, profile, io, str(model))
    ident = sanitize_identifier(name if name is not None else Path(model).stem)
    out = Path(out_dir).expanduser().absolute()
    check_out_dir(out, force)
    ops = op_support(info, profile, float_io=interface is not None and interface.io == "float32")
    regs = registrations(info, ops)
    refused = [o for o in ops if not o.supported]
    if refused:
        reasons = "; ".join(f"{o.op}: {o.reason}" for o in refused)
        raise ExportError(f"Model cannot run on {profile.name}: {reasons}")
    preflight(data, str(model))  # a model that crashes a native runtime fails in a child
    interpreter, _ = load_interpreter(data)
    arena = measure_arena(interpreter)
    h = profile.header
    if on_target:  # what the firmware used on the target's core (a 32-bit arena)
        target_used: int | None = _arena_on_target(model, profile, kernel_set, io)
        declared = declared_arena(target_used or 0, h.arena_margin_percent, h.alignment)
        arena_note = None
    else:
        target_used = None
        declared = declared_arena(arena.total, h.arena_margin_percent, h.alignment)
        declared, arena_note = fit_arena(data, declared, h.alignment)
    inputs, outputs = info.io_tensors()
    io_bytes = sum(_tensor_bytes(t) for t in (*inputs, *outputs))
    flash = Budget(len(data) + h.runtime_flash_estimate_bytes, profile.memory.flash_budget_bytes)
    ram = Budget(
        declared + io_bytes + h.runtime_ram_estimate_bytes, profile.memory.ram_budget_bytes
    )
    warnings = _check_budgets(profile, flash, ram, force) + ([arena_note] if arena_note else [])
    samples, samples_from = samples_for(interpreter, info, data_spec, max(verify_samples, 1), seed)
    interface = verify_io(interface, original, data, samples, str(model))
    parity: list[OutputParity] = []
    divergence = None
    if verify:
        if not on_target:  # a 32-bit target's arena is smaller than what this host needs
            check_arena(data, declared)
        parity = compare_with_litert(data, interpreter, len(samples), seed, samples, str(model))
        first = next((p.first_difference for p in parity if p.first_difference is not None), None)
        if first is not None:
            divergence = first_divergence(data, samples[first], str(model))
        warnings += lsb_warnings(parity, h.lsb_tolerance)
        bad = parity_failures(parity, h.max_top1_change_percent)
        if bad:
            where = (
                f"; first divergence at op {divergence['op_index']} {divergence['op']} "
                f"({divergence['tensor']}, {divergence['max_lsb']} LSB)"
                if divergence
                else ""
            )
            raise ExportError(parity_message(bad[0], h.max_top1_change_percent) + where)
        if divergence and any(p.max_lsb > h.lsb_tolerance for p in parity):
            warnings.append(
                f"first divergence: op {divergence['op_index']} {divergence['op']} "
                f"({divergence['tensor']}), up to {divergence['max_lsb']} LSB"
            )
    sha = hashlib.sha256(data).hexdigest()
    with staged_dir(out, "the bundle") as tmp:
        files = _write_sources(
            tmp, ident, str(model), data, sha, profile, info, declared, arena.total, regs,
            interpreter, untied(interpreter, info, samples, test_vectors, warnings),
            layout.line() if layout else "",
        )  # fmt: skip
        if interface is not None and interface.rewritten:
            files.append(f"{ident}_int8_io.tflite")
            (tmp / files[-1]).write_bytes(data)
            interface = with_file(interface, files[-1], data)
        if firmware:
            _write_user_project(tmp, ident, files, declared, (inputs, outputs), test_vectors,
                                profile, kernel_set)  # fmt: skip
            files.append("firmware/")
        result = ExportResult(
            model=str(model),
            target=profile.name,
            name=ident,
            out_dir=str(out),
            files=(*files, "export.json", "manifest.json"),
            model_bytes=len(data),
            sha256=sha,
            arena=arena,
            arena_declared=declared,
            flash=flash,
            ram=ram,
            ops=tuple(ops),
            parity=tuple(parity),
            divergence=divergence,
            samples_from=samples_from,
            lsb_tolerance=h.lsb_tolerance,
            test_vectors=test_vectors,
            forced=force,
            warnings=tuple(warnings),
            io=io_record(inputs, outputs),
            kernels=kernel_set.value,
            registrations=tuple(regs),
            arena_source=ARENA_TARGET if on_target else ARENA_HOST,
            layers=tuple((op.index, op.name) for op in info.main.ops),
            arena_measured_target=target_used,
            interface=interface,
            layout=layout,
        )
        options = {"name": ident, "verify": verify, "test_vectors": test_vectors, "force": force,
                   "kernels": kernel_set.value, "io": io,
                   "arena": ARENA_TARGET if on_target else ARENA_HOST}  # fmt: skip
        record_export(tmp, out, model, result, options, profile)
        if on_target and test_vectors:  # the declared arena, run once on the target's core
            _check_on_target(tmp, profile, kernel_set)
    for w in warnings:
        log.warning("%s", w)
    return result


def _write_user_project(
    tmp: Path,
    ident: str,
    files: list[str],
    declared: int,
    io: tuple[list[TensorInfo], list[TensorInfo]],
    vector_count: int,
    profile: TargetProfile,
    kernels: KernelSet,
) -> None:
    """``tmp/firmware/``: the project a user builds with their own TFLite Micro."""
    from edgesdk.firmware.tflm.project import Bundle
    from edgesdk.firmware.tflm.user_project import write_for_profile

    bundle = Bundle(
        folder=tmp,
        name=ident,
        model_source=tmp / files[1],
        headers=tuple(tmp / f for f in (files[0], files[2], files[3])),
        arena_size=declared,
        input_count=len(io[0]),
        output_count=len(io[1]),
        vector_count=vector_count,
        estimate=None,
        kernels=kernels,
    )
    write_for_profile(bundle, profile)


ARENA_HOST, ARENA_TARGET = "host", "target"


def _arena_source(value: str | None, profile: TargetProfile) -> str:
    """``value`` checked: "host" (also for None) or "target" (which needs an [mcu] section).

    Raises:
        ConfigError: another value.
        ExportError: "target" for a profile whose core cannot be emulated.
    """
    from edgesdk.errors import ConfigError

    choice = ARENA_HOST if value is None else value
    if choice not in (ARENA_HOST, ARENA_TARGET):
        raise ConfigError(
            f"Invalid arena={value!r} (must be one of: {ARENA_HOST}, {ARENA_TARGET})",
            what="arena",
            value=str(value)[:40],
            allowed=[ARENA_HOST, ARENA_TARGET],
        )
    if choice == ARENA_TARGET and profile.mcu is None:
        raise ExportError(
            f'`arena="target"` measures the arena on the target\'s core under qemu; '
            f'{profile.name} has no [mcu] section (use `arena="host"`)',
            what="arena",
            value=choice,
        )
    return choice


def _arena_on_target(
    model: str | Path, profile: TargetProfile, kernels: KernelSet, io: str | None
) -> int:
    """The arena the firmware uses on the target's emulated core (a probe bundle with one
    test vector, built and run like ``emulate``; nothing of it is kept).

    Raises:
        ExportError: the probe did not run bit-exact (the firmware's own error otherwise).
    """
    import tempfile

    from edgesdk.firmware.tflm.emulation import emulate

    with tempfile.TemporaryDirectory(prefix="edgesdk-arena-") as tmp:
        probe = Path(tmp) / "probe"
        export_tflm(model, profile, probe, "probe", test_vectors=1, verify=False,
                    kernels=kernels.value, io=io)  # fmt: skip
        run = emulate(probe, profile, kernels=kernels.value)
    if not run.bit_exact:
        raise ExportError(
            f"The firmware on {run.core} did not match the host's TFLite Micro outputs, so its "
            "arena figure is not used (emulating the bundle shows which vectors differ)",
            what="arena",
        )
    return int(run.ram["arena_used"])


def _check_on_target(folder: Path, profile: TargetProfile, kernels: KernelSet) -> None:
    """The staged bundle, run on the target's core with the arena it declares.

    Raises:
        ExportError: it does not allocate or does not match (nothing is written).
    """
    from edgesdk.errors import FirmwareError
    from edgesdk.firmware.tflm.emulation import emulate

    try:
        run = emulate(folder, profile, kernels=kernels.value)
    except FirmwareError as e:
        raise ExportError(f"The arena measured on the target did not hold: {e}") from e
    if not run.bit_exact:
        raise ExportError("The bundle's firmware with the target's arena differs from the host")


def _profile_kernels(profile: TargetProfile) -> KernelSet:
    """The usual kernel set of the profile's core (CMSIS-NN on Cortex-M), reference without
    an [mcu] section."""
    from edgesdk.firmware.cores import COMPILERS

    mcu = profile.mcu
    compiler = COMPILERS.get((mcu.core, mcu.fpu)) if mcu is not None else None
    return default_kernels(compiler.name if compiler else "")


def _check_budgets(profile: TargetProfile, flash: Budget, ram: Budget, force: bool) -> list[str]:
    """Flash and RAM against the profile's budgets: an error, or warnings with ``force``."""
    warnings = []
    for what, b in (
        ("flash (model + runtime estimate)", flash),
        ("RAM (arena + I/O buffers + runtime estimate)", ram),
    ):
        if b.over:
            message = (
                f"Over the {what} budget of {profile.name}: {b.used} bytes needed, "
                f"{b.budget} available ({b.percent:.0f}%)"
            )
            if not force:
                raise ExportError(message + "; use `force=True` to write anyway")
            warnings.append(message + "; written anyway (`force=True`)")
    return warnings


def _write_sources(
    tmp: Path,
    ident: str,
    source: str,
    data: bytes,
    sha: str,
    profile: TargetProfile,
    info: Any,
    declared: int,
    arena_used: int,
    regs: list[Registration],
    interpreter: Any,
    vectors: list[list[np.ndarray]],
    layout: str = "",
) -> list[str]:
    """Write the header, the model source, the op resolver (and test vectors) into ``tmp``;
    returns the file names."""
    ext = "cc" if profile.header.language == "cc" else "c"
    files = [f"{ident}_model.h", f"{ident}_model.{ext}", f"{ident}_op_resolver.h"]

    def banner(file_name: str) -> str:
        return _banner(file_name, source, data, sha, profile, layout)

    (tmp / files[0]).write_text(
        _model_header(ident, banner(files[0]), info, declared, arena_used, profile)
    )
    with (tmp / files[1]).open("wb") as f:
        _write_model_source(f, ident, banner(files[1]), data, profile)
    (tmp / files[2]).write_text(_resolver_header(ident, banner(files[2]), regs))
    if vectors:
        files.append(f"{ident}_test_vectors.h")
        (tmp / files[3]).write_text(
            test_vectors_header(ident, banner(files[3]), interpreter, info, vectors)
        )
    return files


def _tensor_bytes(t: TensorInfo) -> int:
    """Bytes of one tensor's data."""
    size = np.dtype(t.dtype if t.dtype in C_TYPES else "uint8").itemsize
    return int(np.prod(t.shape)) * size if t.shape else size

"""``export-c --engine standalone``: write the model as plain C (no interpreter), verified bit
for bit against LiteRT's reference kernels by compiling it with the host's C compiler."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import __version__
from edgesdk.core.fileio import check_out_dir, staged_dir
from edgesdk.core.manifest import record_export
from edgesdk.core.profiles import TargetProfile
from edgesdk.core.results import JsonResult
from edgesdk.errors import ExportError
from edgesdk.firmware.bundle_input import io_record
from edgesdk.firmware.csource import camel, comment_text, sanitize_identifier
from edgesdk.firmware.engines import Engine
from edgesdk.firmware.standalone.dsp import kernel_set_for
from edgesdk.firmware.standalone.engine import Compiled, compile_model
from edgesdk.firmware.standalone.graph import Graph
from edgesdk.firmware.standalone.mixed_reference import LITERT_REF, MixedReference, op_references
from edgesdk.tflite.layout_record import LayoutRecord, read_layout
from edgesdk.tflite.preflight import preflight

log = logging.getLogger(__name__)
ENGINE = Engine.STANDALONE.value


@dataclass(frozen=True)
class StandaloneExportResult(JsonResult):
    """What ``export-c --engine standalone`` wrote and verified."""

    model: str
    target: str
    name: str
    out_dir: str
    files: tuple[str, ...]
    model_bytes: int
    sha256: str
    arena_bytes: int  # peak of the static buffer (the memory plan: activations, I/O, scratch)
    unshared_bytes: int  # the same tensors without sharing, for comparison
    io_bytes: int  # the caller's own I/O buffers, with the copying entry only
    constant_bytes: int  # weights, biases, multipliers and tables (the const section)
    ram_budget: int | None
    ops: tuple[tuple[str, int], ...]  # op -> count, compiled
    layers: tuple[tuple[int, str], ...]  # (op index, op) in the order invoke() runs them
    kernels: tuple[str, ...]
    macs: int
    verified_samples: int  # inputs compared bit for bit with op_references (both entries)
    verified_with: str  # the host compiler, or "" when not verified
    test_vectors: int
    generation_seconds: float
    model_order_bytes: int = 0  # the peak before both choices: model's op order, all scratch
    orders_tried: int = 1  # operator orders planned to find the lowest peak
    run_order: tuple[int, ...] = ()  # op indices in the order the C runs them
    samples_from: str = "random"  # where verification inputs and test vectors come from
    forced: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    integer_only: bool = False  # no float or double in the C (SOFTMAX as TFLite Micro's)
    op_references: tuple[tuple[int, str, str], ...] = ()  # (op index, op, verified against)
    io: dict[str, Any] = field(default_factory=dict)  # name, dtype, shape of inputs, outputs
    kernel_set: str = "portable"  # or "dsp": the DSP extension's kernels (dsp.KERNEL_SETS)
    layout: LayoutRecord | None = None  # the input layout a converter changed (PyTorch NCHW)

    @property
    def engine(self) -> str:
        return ENGINE

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": ENGINE,
            "model": self.model,
            "target": self.target,
            "name": self.name,
            "out_dir": self.out_dir,
            "files": list(self.files),
            "model_bytes": self.model_bytes,
            "sha256": self.sha256,
            "ram": {
                # the whole RAM of the model with <name>_invoke_in_place(): inputs and
                # outputs live in the plan's buffer
                "arena_peak": self.arena_bytes,
                "includes_io": True,
                "arena_unshared": self.unshared_bytes,
                "io_buffers": self.io_bytes,  # the caller's, with the copying <name>_invoke()
                "budget": self.ram_budget,
                "model_order_peak": self.model_order_bytes,
                "orders_tried": self.orders_tried,
                "run_order": list(self.run_order),
            },
            "constant_bytes": self.constant_bytes,
            "ops": [{"op": op, "count": n} for op, n in self.ops],
            "layers": [{"op_index": i, "op": op} for i, op in self.layers],
            "kernels": list(self.kernels),
            "kernel_set": self.kernel_set,
            "macs": self.macs,
            "verified": self.verified_samples > 0,
            "verified_samples": self.verified_samples,
            "verified_with": self.verified_with,
            "samples_from": self.samples_from,
            "reference": " + ".join(sorted({r for _, _, r in self.op_references})) or LITERT_REF,
            "integer_only": self.integer_only,
            "op_references": [
                {"op_index": i, "op": op, "reference": r} for i, op, r in self.op_references
            ],
            "test_vectors": self.test_vectors,
            "generation_seconds": round(self.generation_seconds, 4),
            "forced": self.forced,
            "warnings": list(self.warnings),
            "io": self.io,
            "layout": self.layout.to_dict() if self.layout else None,
        }


def random_vectors(g: Graph, count: int, seed: int) -> list[list[np.ndarray]]:
    """Raw inputs: uniform int8 over the full range (float inputs: standard normal)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        row = []
        for t in g.inputs:
            ten = g.tensors[t]
            if ten.dtype == "int8":
                row.append(rng.integers(-128, 128, size=ten.shape).astype(np.int8))
            else:
                row.append(rng.normal(size=ten.shape).astype(np.float32))
        out.append(row)
    return out


def _c_rows(ctype: str, ident: str, rows: list[np.ndarray]) -> str:
    def cell(v: Any) -> str:
        return f"{float(v).hex()}f" if ctype == "float" else str(int(v))

    lines = []
    for r in rows:
        flat = [cell(v) for v in r.reshape(-1)]
        chunks = [", ".join(flat[i : i + 16]) for i in range(0, len(flat), 16)]
        lines.append("  {\n    " + ",\n    ".join(chunks) + "\n  }")
    return (
        f"static const {ctype} {ident}[{len(rows)}][{rows[0].size}] = {{\n"
        + ",\n".join(lines)
        + "\n};\n"
    )


def vectors_header(
    name: str,
    banner: str,
    g: Graph,
    vectors: list[list[np.ndarray]],
    outputs: list[list[np.ndarray]],
    reference: str = "LiteRT's reference kernels (BUILTIN_REF)",
) -> str:
    """``<name>_test_vectors.h``: inputs and the reference's outputs."""
    upper, cname = name.upper(), camel(name)
    ctype = lambda t: "float" if g.tensors[t].dtype == "float32" else "int8_t"  # noqa: E731
    parts = [
        banner,
        f"#ifndef EDGESDK_{upper}_TEST_VECTORS_H_\n#define EDGESDK_{upper}_TEST_VECTORS_H_\n\n",
        f'#include "{name}_model.h"\n\n',
        f"/* Expected outputs are {reference}'s for these inputs. */\n",
        f"enum {{ k{cname}TestVectorCount = {len(vectors)} }};\n\n",
    ]
    for i, t in enumerate(g.inputs):
        parts.append(_c_rows(ctype(t), f"k{cname}TestInput{i}", [v[i] for v in vectors]))
    for o, t in enumerate(g.outputs):
        parts.append(_c_rows(ctype(t), f"k{cname}TestOutput{o}", [r[o] for r in outputs]))
    parts.append(f"\n#endif  /* EDGESDK_{upper}_TEST_VECTORS_H_ */\n")
    return "".join(parts)


def verify_on_host(
    model: bytes, compiled: Compiled, name: str, vectors: list[list[np.ndarray]], folder: Path,
    sanitize: bool = False, reference: MixedReference | None = None,
) -> int:  # fmt: skip
    """Compile the generated C with the host gcc, run ``vectors`` through both entries (the
    copying ``<name>_invoke`` and ``<name>_invoke_in_place``) and compare every output byte
    with LiteRT's reference kernels (or ``reference``: op by op, each op's own reference);
    returns how many samples ran.

    Raises:
        ExportError: the C does not compile cleanly, or an output differs (named).
    """
    from edgesdk.firmware.standalone.hostrun import build_host, run_host
    from edgesdk.firmware.standalone.reference import reference_outputs
    from edgesdk.tflite.agreement import check_same_shapes

    g = compiled.graph
    exe = build_host(folder, name, g, sanitize=sanitize)
    refs = [
        reference(v) if reference is not None else reference_outputs(model, g, v) for v in vectors
    ]
    against = "its references" if reference is not None else "LiteRT's reference kernels"
    for entry, in_place in ((f"{name}_invoke", False), (f"{name}_invoke_in_place", True)):
        got = run_host(exe, g, vectors, in_place=in_place)
        for k, (row, ref) in enumerate(zip(got, refs, strict=True)):
            check_same_shapes(name, {f"the generated C ({entry})": row, against: ref})
            for o, (a, b) in enumerate(zip(row, ref, strict=True)):
                a, b = a.reshape(-1), b.reshape(-1)
                diff = np.nonzero(a != b)[0]
                if len(diff):
                    i = int(diff[0])
                    raise ExportError(
                        f"The generated C ({entry}) differs from {against}: "
                        f"sample {k} output {o} index {i} (got {a[i]}, expected {b[i]}; "
                        f"{len(diff)} values differ)"
                    )
    return len(vectors)


def user_samples(data: bytes, model: str | Path, spec: str, count: int) -> list[list[np.ndarray]]:
    """The user's samples as raw model inputs (quantized with the input's scale and zero
    point like the TFLite Micro path does).

    Raises:
        DatasetError: the data cannot be read or does not fit the model's inputs (one line).
    """
    from edgesdk.firmware.vectors import samples_for
    from edgesdk.tflite.model_info import inspect_bytes

    samples, _ = samples_for(None, inspect_bytes(data, str(model)), spec, count, 0)
    return samples


# Over 80 lines: checks before anything is written, then one atomic write of the folder.
def export_standalone(
    model: str | Path,
    profile: TargetProfile,
    out_dir: str | Path,
    name: str | None = None,
    test_vectors: int = 0,
    verify: bool = True,
    verify_samples: int = 20,
    force: bool = False,
    seed: int = 0,
    firmware: bool = False,
    data_spec: str | None = None,
    integer_only: bool = False,
    float_softmax: bool = False,
    kernels: str | None = None,
) -> StandaloneExportResult:
    """Write ``<name>_model.h/.c`` (plain C99, no interpreter) for ``model`` into ``out_dir``.

    Raises:
        InspectionError: not a (complete) .tflite file.
        ExportError: an op or option the engine lacks (use the TFLite Micro engine), the C
            differs from LiteRT's reference kernels, RAM over budget (unless ``force``), too
            few samples in ``data_spec`` for the test vectors, ``firmware`` for a profile
            without an [mcu] section.
        DatasetError: ``data_spec`` cannot be read or does not fit the model's inputs.
        OutputError: the folder exists with files (unless ``force``) or cannot be written.

    ``data_spec``: representative data (as for the TFLite Micro path): verification and test
    vectors use these samples, quantized with the input's scale and zero point, instead of
    random inputs.
    ``firmware``: also write ``firmware/``, a self-checking project for the profile's core
    (Makefile, test driver on the in-place entry, start-up, linker script); implies 4 test
    vectors.
    ``integer_only``: no float or double in the C (SOFTMAX as TFLite Micro's fixed-point kernel,
    verified against TFLite Micro's interpreter; every other op against BUILTIN_REF); int8 I/O.
    ``float_softmax``: LiteRT's older float32-table SOFTMAX (comparisons only, see compile_model).
    ``kernels``: the kernel set, "portable" or "dsp" (see compile_model); None: the one for the
    profile's [mcu] core (dsp on Cortex-M4/M7/M33, portable elsewhere and without [mcu]).
    """
    from edgesdk.firmware.standalone.reference import reference_outputs
    from edgesdk.tflite.model_info import inspect_bytes, read_tflite

    if firmware:
        from edgesdk.firmware.standalone.project import check_firmware_target

        check_firmware_target(profile)  # before anything is read or written
        test_vectors = test_vectors or 4  # the firmware checks its outputs against them

    data = read_tflite(model)
    inspect_bytes(data, str(model))  # schema validation: a damaged file fails here, cleanly
    # LiteRT's reference kernels check the C: a model that crashes LiteRT fails in a child, one
    # whose declared shapes differ from what LiteRT derives (the C trusts them) is refused
    preflight(data, str(model), ("litert-reference",))
    ident = sanitize_identifier(name if name is not None else Path(model).stem)
    out = Path(out_dir).expanduser().absolute()
    check_out_dir(out, force)
    samples: list[list[np.ndarray]] | None = None
    if data_spec is not None:  # read and checked before anything is compiled or written
        samples = user_samples(data, model, data_spec, max(verify_samples, test_vectors, 1))
        if len(samples) < test_vectors:
            raise ExportError(
                f"Only {len(samples)} samples in {data_spec} for {test_vectors} test vectors "
                "(give more data or fewer vectors)",
                what="test_vectors",
                value=test_vectors,
            )
    sha = hashlib.sha256(data).hexdigest()
    layout = read_layout(data)
    banner = (
        f"/* Generated by edgesdk {__version__} (standalone engine) for target "
        f"{comment_text(profile.name)}. Do not edit.\n * Model: {comment_text(str(model))} "
        f"({len(data)} bytes, sha256 {sha})\n"
        + (f" * {comment_text(layout.line())}\n" if layout else "")
        + " */\n"
    )
    core = profile.mcu.core if profile.mcu is not None else None
    if kernels is None:
        kernels = kernel_set_for(core)
    elif kernels == "dsp" and core is not None and kernel_set_for(core) != "dsp":
        raise ExportError(
            f"kernels='dsp' needs a core with the DSP extension (Cortex-M4/M7/M33...); "
            f"{profile.name}'s core is {core}: use kernels='portable'",
            what="kernels",
            value=kernels,
        )
    compiled = compile_model(
        data, ident, profile.header.section, banner, integer_only=integer_only,
        float_softmax=float_softmax, kernels=kernels,
    )  # fmt: skip
    g = compiled.graph
    refs = op_references({L.op.index: L.kernel for L in compiled.layers})
    needed = (verify or test_vectors) and set(refs.values()) != {LITERT_REF}
    mixed = MixedReference(data, g, refs) if needed else None  # op by op, some on TFLite Micro
    run_reference = mixed if mixed is not None else lambda v: reference_outputs(data, g, v)
    io_bytes = sum(g.tensors[t].nbytes for t in (*g.inputs, *g.outputs))
    ram_used = compiled.plan.arena_bytes  # I/O included (the in-place entry)
    budget = profile.memory.ram_budget_bytes
    warnings: list[str] = []
    if budget is not None and ram_used > budget:
        message = (
            f"Over the RAM budget of {profile.name}: {ram_used} bytes of activations, I/O and "
            f"scratch needed, {budget} available"
        )
        if not force:
            raise ExportError(message + "; use `force=True` to write anyway")
        warnings.append(message + "; written anyway (`force=True`)")
    with staged_dir(out, "the C sources") as tmp:
        files = [f"{ident}_model.h", f"{ident}_model.c"]
        (tmp / files[0]).write_text(compiled.sources.header)
        (tmp / files[1]).write_bytes(compiled.sources.source)
        verified, compiler = 0, ""
        if verify:
            if shutil.which("gcc") is None:
                warnings.append("not verified: no host C compiler (gcc) to run the generated C")
            else:
                scratch = Path(tempfile.mkdtemp(prefix="edgesdk-verify-"))
                try:
                    for f in files:
                        shutil.copy(tmp / f, scratch / f)
                    checks = (
                        samples[:verify_samples]
                        if samples is not None
                        else random_vectors(g, verify_samples, seed)
                    )
                    verified = verify_on_host(
                        data, compiled, ident, checks, scratch, reference=mixed
                    )
                    compiler = "gcc"
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
        if test_vectors:
            vectors = (
                samples[:test_vectors]
                if samples is not None
                else random_vectors(g, test_vectors, seed + 1)
            )
            expected = [run_reference(v) for v in vectors]
            files.append(f"{ident}_test_vectors.h")
            said = "LiteRT's reference kernels (BUILTIN_REF)"
            if mixed is not None:
                said = "the op-by-op references (TFLite Micro for SOFTMAX, else BUILTIN_REF)"
            (tmp / files[-1]).write_text(vectors_header(ident, banner, g, vectors, expected, said))
        if firmware:
            from edgesdk.firmware.standalone.firmware import StandaloneBundle
            from edgesdk.firmware.standalone.project import write_project

            def io(tensors: tuple[int, ...]) -> tuple[tuple[str, int], ...]:
                return tuple(
                    ("float" if g.tensors[t].dtype == "float32" else "int8_t", g.tensors[t].size)
                    for t in tensors
                )

            bundle = StandaloneBundle(
                out, ident, io(g.inputs), io(g.outputs), test_vectors,
                compiled.plan.arena_bytes, profile.name,
            )  # fmt: skip
            write_project(bundle, profile, tmp / "firmware")
            files.append("firmware/")
        counts: dict[str, int] = {}
        for op in g.ops:
            counts[op.kind] = counts.get(op.kind, 0) + 1
        result = StandaloneExportResult(
            model=str(model),
            target=profile.name,
            name=ident,
            out_dir=str(out),
            files=(*files, "export.json", "manifest.json"),
            model_bytes=len(data),
            sha256=sha,
            arena_bytes=compiled.plan.arena_bytes,
            unshared_bytes=compiled.plan.unshared_bytes,
            io_bytes=io_bytes,
            constant_bytes=compiled.sources.weight_bytes,
            ram_budget=budget,
            ops=tuple(counts.items()),
            layers=tuple((L.op.index, L.op.kind) for L in compiled.layers),  # run order
            kernels=compiled.sources.kernels,
            macs=compiled.macs,
            verified_samples=verified,
            verified_with=compiler,
            test_vectors=test_vectors,
            generation_seconds=compiled.seconds,
            model_order_bytes=compiled.search.model_order_bytes
            if compiled.search
            else compiled.plan.arena_bytes,
            orders_tried=compiled.search.orders_tried if compiled.search else 1,
            run_order=compiled.plan.order,
            samples_from=data_spec if data_spec is not None else "random",
            forced=force,
            warnings=tuple(warnings),
            integer_only=integer_only,
            op_references=tuple((L.op.index, L.op.kind, refs[L.op.index]) for L in compiled.layers),
            kernel_set=kernels,
            io=io_record([g.tensors[t] for t in g.inputs], [g.tensors[t] for t in g.outputs]),
            layout=layout,
        )
        options = {
            "name": ident,
            "engine": ENGINE,
            "verify": verify,
            "test_vectors": test_vectors,
            "force": force,
            "data": data_spec,
            "firmware": firmware,
            "integer_only": integer_only,
            "kernels": kernels,
        }
        record_export(tmp, out, model, result, options, profile)
    for w in warnings:
        log.warning("%s", w)
    return result

"""The TFLite Micro engine's entry in the engine table (:mod:`edgesdk.firmware.engines`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgesdk.firmware.engines import EmulateRequest, ExportRequest
from edgesdk.firmware.tflm.library import KernelSet

if TYPE_CHECKING:
    from edgesdk.firmware.tflm.emulation import EmulationResult
    from edgesdk.firmware.tflm.export import ExportResult

# TFLite Micro's kernels are its own: no integer_only; float I/O rewritten or kept
OPTIONS: frozenset[str] = frozenset({"kernels", "arena", "io"})
CHOICES: dict[str, tuple[str, ...]] = {"kernels": tuple(k.value for k in KernelSet)}


def export(request: ExportRequest) -> ExportResult:
    """The model as a C array for TFLite Micro, verified on the TFLite Micro interpreter."""
    from edgesdk.firmware.tflm.export import export_tflm

    r = request
    return export_tflm(
        r.model, r.profile, r.out_dir, r.name, r.test_vectors, r.verify,
        100 if r.verify_samples is None else r.verify_samples, r.force, r.seed, r.firmware,
        r.data_spec, r.kernels, r.arena, r.io,
    )  # fmt: skip


def emulate(request: EmulateRequest) -> EmulationResult:
    """TFLite Micro firmware for the bundle, built and run under qemu."""
    from edgesdk.firmware.tflm.emulation import emulate as run

    r = request
    return run(r.bundle_dir, r.target, r.tflm_src, r.timeout, r.work_dir, r.board, r.kernels)

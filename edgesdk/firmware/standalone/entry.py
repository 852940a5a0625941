"""The standalone engine's entry in the engine table (:mod:`edgesdk.firmware.engines`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgesdk.firmware.engines import EmulateRequest, ExportRequest
from edgesdk.firmware.standalone.dsp import KERNEL_SETS

if TYPE_CHECKING:
    from edgesdk.firmware.standalone.emulation import StandaloneEmulation
    from edgesdk.firmware.standalone.export import StandaloneExportResult

# kernels: "portable" or "dsp", chosen at export (emulate runs what the bundle holds)
OPTIONS: frozenset[str] = frozenset({"integer_only", "kernels"})
CHOICES: dict[str, tuple[str, ...]] = {"kernels": KERNEL_SETS}


def export(request: ExportRequest) -> StandaloneExportResult:
    """The model compiled to plain C99 kernels, verified bit for bit on the host."""
    from edgesdk.firmware.standalone.export import export_standalone

    r = request
    return export_standalone(
        r.model, r.profile, r.out_dir, r.name, r.test_vectors, r.verify,
        20 if r.verify_samples is None else r.verify_samples, force=r.force, seed=r.seed,
        firmware=r.firmware, data_spec=r.data_spec, integer_only=r.integer_only,
        kernels=r.kernels,
    )  # fmt: skip


def emulate(request: EmulateRequest) -> StandaloneEmulation:
    """The standalone firmware for the bundle, built and run under qemu (no TFLite Micro)."""
    from edgesdk.firmware.standalone.emulation import emulate_standalone

    r = request
    return emulate_standalone(
        r.bundle_dir, r.target, r.timeout, r.work_dir, board=r.board, kernels=r.kernels
    )

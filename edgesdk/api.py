"""The Python API: the same verbs as the CLI, returning result objects."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from edgesdk.core.options import CompressOptions, Normalization, PruneSchedule, QuantizeOptions
from edgesdk.core.profiles import TargetProfile, list_profiles, load_profile
from edgesdk.tflite.model_info import ModelInfo, inspect_file

if TYPE_CHECKING:  # for annotations only: results pull in numpy, models Keras
    import keras
    import numpy as np

    from edgesdk._worker.protocol import ProgressEvent
    from edgesdk.compression.result import CompressionResult
    from edgesdk.demos.digits import DemoResult
    from edgesdk.devices.inventory import Device
    from edgesdk.evaluation.compare import EvaluationResult
    from edgesdk.firmware.standalone.emulation import StandaloneEmulation
    from edgesdk.firmware.standalone.export import StandaloneExportResult
    from edgesdk.firmware.tflm.emulation import EmulationResult
    from edgesdk.firmware.tflm.export import ExportResult
    from edgesdk.pipeline.runner import PipelineResult, StageRun
    from edgesdk.pipeline.spec import PipelineSpec
    from edgesdk.quantization.result import QuantizationResult
    from edgesdk.reporting.build import ReportResult

from edgesdk.device_api import (  # noqa: F401 - the device verbs, re-exported
    PassphrasePrompt,
    ansible_project,
    benchmark,
    benchmark_group,
    benchmark_sweep,
    deploy,
    deploy_group,
    device_add,
    device_check,
    device_remove,
    device_trust,
    fleet_status,
    import_inventory,
    list_devices,
    presented_fingerprint,
    rollback,
    trust_group,
)
from edgesdk.firmware.engines import DEFAULT_ENGINE, Engine
from edgesdk.mobile_api import (  # noqa: F401 - the mobile verbs, re-exported
    export_coreml,
    inspect_mobile,
    package,
)

log = logging.getLogger(__name__)

DEFAULT_TARGET = "linux-x86_64"

CompressField = float | int | bool | str | tuple[str, ...] | PruneSchedule | Normalization | None
"""The value of one :class:`CompressOptions` field, given to :func:`compress` by keyword."""


def _profile(target: str | Path | TargetProfile) -> TargetProfile:
    return target if isinstance(target, TargetProfile) else load_profile(target)


def quantize(
    model: str | Path | keras.Model,
    data: str | Path | np.ndarray | Mapping[str, np.ndarray] | None,
    output: str | Path,
    target: str | Path | TargetProfile = DEFAULT_TARGET,
    options: QuantizeOptions | None = None,
    max_accuracy_drop: float | None = None,
    eval_data: str | Path | None = None,
    emit_c: str | Path | None = None,
    labels: str | Path | None = None,
) -> QuantizationResult:
    """Quantize a float model for a target and write the ``.tflite`` atomically.

    Args:
        model: a ``.keras``/``.h5`` file, a SavedModel directory, or an in-memory Keras model;
            PyTorch: a ``.pt2`` file (``torch.export.save``) or ``module:function`` /
            ``path/file.py:function`` returning an ``nn.Module`` (needs ``edgesdk[torch]``).
        data: representative data: an image folder, ``.npy``/``.npz``, ``module:function``,
            a numpy array, or a dict of arrays by input name (None only for float16/dynamic/float32);
            NCHW for PyTorch image models (the ``.tflite`` takes NHWC).
        output: where the ``.tflite`` goes.
        target: a built-in profile name, a profile ``.toml`` path, or a TargetProfile.
        options: how to quantize; blanks take the profile's defaults.
        max_accuracy_drop: with ``eval_data``, search for the smallest variant whose top-1
            accuracy stays within this fraction of the float model's (0.01 is one point) (int8 per-channel and
            per-tensor, more calibration, 16x8, layers kept in float where the target allows).
        eval_data: labelled evaluation data for the budget (``.npz`` with x, y; class folders).
        emit_c: also write the firmware C bundle (as :func:`export_c`) into this folder; it
            must be new or empty, which is checked before converting.
        labels: for a mobile target, package the result in place (as :func:`package`, with
            the options' normalization): metadata with these labels, app snippets.

    Returns:
        The QuantizationResult, with ``output`` set (``extra["search"]`` lists the candidates,
        ``export`` the C bundle's ExportResult when ``emit_c`` was given).

    Raises:
        ConfigError, ModelError, DatasetError, ConversionError, OutputError.
    """
    from edgesdk.runs import quantize_run

    return quantize_run(
        model, data, output, _profile(target), options or QuantizeOptions(),
        max_accuracy_drop, eval_data, emit_c, labels,
    )  # fmt: skip


def export_c(
    model: str | Path,
    out_dir: str | Path,
    target: str | Path | TargetProfile = DEFAULT_TARGET,
    name: str | None = None,
    test_vectors: int = 0,
    verify: bool = True,
    force: bool = False,
    firmware: bool = False,
    data: str | Path | None = None,
    engine: str | Engine = DEFAULT_ENGINE,
    integer_only: bool = False,
    kernels: str | None = None,
    arena: str | None = None,
    io: str | None = None,
) -> ExportResult | StandaloneExportResult:
    """Write a firmware bundle (C array, I/O constants, arena size, op resolver) for a .tflite.

    Args:
        model: the ``.tflite`` file.
        out_dir: the bundle's folder (must be new or empty unless ``force``).
        target: profile name, profile path or TargetProfile (shapes the C text and budgets).
        name: C identifier stem (default: from the file name).
        test_vectors: how many input/expected-output pairs to embed for an on-target self-test.
        verify: run TFLite Micro against LiteRT's reference kernels first.
        force: replace a non-empty folder and write even when over budget.
        firmware: also write ``out_dir/firmware/``, a self-checking firmware project (Makefile,
            start-up, linker script for the profile's memory map, a test driver) to build with
            arm-none-eabi-gcc and your TFLite Micro checkout (the standalone engine needs no
            TFLite Micro); implies 4 test vectors.
        data: samples (as for quantize: .npy/.npz, image folder, module:function) for the test
            vectors and the TFLite Micro parity check (the standalone engine's verification),
            instead of random inputs.
        engine: a name from :data:`edgesdk.firmware.engines.ENGINES`: ``"tflm"`` (the model
            for TFLite Micro) or ``"standalone"``: the model compiled to plain C99 kernels, no
            interpreter, verified bit for bit against LiteRT's reference kernels with the host
            gcc.
        integer_only: (standalone engine) no float or double in the C: SOFTMAX as TFLite
            Micro's fixed-point kernel, verified against TFLite Micro; int8 I/O only.
        kernels: the kernel set the firmware is for. TFLite Micro engine: ``"cmsis-nn"``
            (the default on Cortex-M cores, what firmware ships with) or ``"reference"``;
            recorded in export.json (``emulate`` builds with it) and the firmware project.
            Standalone engine: ``"dsp"`` (the default on cores with the DSP extension: SIMD
            kernels with re-packed, partly widened weights) or ``"portable"`` (plain C, the
            smaller constants), compiled into the C.
        arena: (TFLite Micro engine) ``"host"`` (default: TFLite Micro's arena measured on
            this 64-bit host, plus the profile's margin) or ``"target"``: the arena the
            firmware uses on the target's emulated core, plus the same margin (checked there
            once more before the bundle is written).
        io: (TFLite Micro engine) a model quantized to int8 inside with float I/O (QUANTIZE
            and DEQUANTIZE ops at its edges, as many published models come): ``"int8"``
            removes those edge ops, the I/O taking their scale and zero point, checks the
            rewritten model's outputs equal the original's on the parity samples and writes it
            into the bundle as ``NAME_int8_io.tflite``; ``"float32"`` keeps float I/O on a core
            with an FPU. None: the model as it is (float I/O refused on integer-only targets).

    Returns:
        The ExportResult (StandaloneExportResult for the standalone engine).

    Raises:
        ConfigError (an unknown engine), InspectionError, ExportError, OutputError.
    """
    from edgesdk.firmware.engines import ExportRequest, export

    request = ExportRequest(
        model,
        _profile(target),
        out_dir,
        name=name,
        test_vectors=test_vectors,
        verify=verify,
        force=force,
        firmware=firmware,
        data_spec=str(data) if data is not None else None,
        integer_only=integer_only,
        kernels=kernels,
        arena=arena,
        io=io,
    )
    return cast("ExportResult | StandaloneExportResult", export(request, engine))


def emulate(
    bundle_dir: str | Path,
    target: str | Path | TargetProfile | None = None,
    tflm_src: str | Path | None = None,
    timeout: float = 120.0,
    work_dir: str | Path | None = None,
    board: str | None = None,
    kernels: str | None = None,
) -> EmulationResult | StandaloneEmulation:
    """Build TFLite Micro firmware for a C bundle and the target's core, run it under
    qemu-system-arm, and measure it.

    Args:
        bundle_dir: a bundle written by :func:`export_c` with test vectors.
        target: the profile (default: the one in the bundle's export.json).
        tflm_src: TFLite Micro source folder or kit (default: ``$EDGESDK_TFLM_SRC``, then the
            offline kit beside a source checkout); the library is built once per core, cached.
        timeout: seconds before a run counts as a hang.
        work_dir: keep the firmware project there.
        board: a qemu board instead of the target profile's, one that runs the target's code
            (e.g. ``"microbit"``, a Cortex-M0 with 16 KB of RAM, for ``rp2040``, whose profile
            runs on ``"mps2-an385"``, a Cortex-M3 limited to the Pico's 264 KB and 2 MB).
        kernels: (TFLite Micro bundles) ``"cmsis-nn"`` or ``"reference"`` (default: the
            bundle's, else CMSIS-NN on Cortex-M); every figure of the result is for that set.
            A standalone bundle's kernels are compiled in: only its own set is accepted.

    Returns:
        The EmulationResult: bit-exactness per vector against the host TFLite Micro
        interpreter, linked flash and RAM split, instructions per inference (measured), the
        latency they suggest at the profile's clock (an estimate), and the board and memory
        map that ran it.

    Raises:
        FirmwareError: see :func:`edgesdk.firmware.tflm.emulation.emulate`.
    """
    from edgesdk.firmware.engines import EmulateRequest
    from edgesdk.firmware.engines import emulate as _emulate

    request = EmulateRequest(Path(bundle_dir), target, tflm_src, timeout, work_dir, board, kernels)
    return cast("EmulationResult | StandaloneEmulation", _emulate(request))


def emulate_model(
    model: str | Path,
    target: str | Path | TargetProfile,
    test_vectors: int = 4,
    tflm_src: str | Path | None = None,
    timeout: float = 120.0,
    engine: str | Engine = DEFAULT_ENGINE,
    board: str | None = None,
    kernels: str | None = None,
) -> EmulationResult | StandaloneEmulation:
    """:func:`export_c` into a temporary bundle, then :func:`emulate` it (a .tflite in, the
    EmulationResult out; nothing is kept). ``engine="standalone"``: the standalone C engine;
    ``board``, ``kernels``: as for :func:`emulate`."""
    import tempfile

    profile = _profile(target)
    with tempfile.TemporaryDirectory(prefix="edgesdk-emulate-") as tmp:
        bundle = Path(tmp) / "bundle"
        export_c(model, bundle, profile, test_vectors=test_vectors, engine=engine, kernels=kernels)
        return emulate(bundle, profile, tflm_src, timeout, board=board, kernels=kernels)


def demo(
    out_dir: str | Path = "edgesdk-demo",
    target: str = "arduino-nano-33-ble",
    epochs: int = 30,
    framework: str = "keras",
) -> DemoResult:
    """Train the digits CNN (``framework``: ``keras`` or ``torch``), quantize it to int8,
    evaluate and export it (the built-in demo)."""
    from edgesdk.demos.digits import demo_for

    return demo_for(framework)(out_dir, target=target, epochs=epochs)


def evaluate(
    float_model: str | Path,
    tflites: list[str | Path],
    data: str,
    tflm: bool = False,
    device: str | Device | None = None,
    limit: int = 10_000,
    normalization: Normalization | None = None,
    normalize_arrays: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    passphrase_prompt: PassphrasePrompt | None = None,
) -> EvaluationResult:
    """Accuracy (top-1/top-5, confusion) and fidelity of each .tflite against the float model,
    on LiteRT, optionally TFLite Micro (``tflm``) and a device over SSH, on the same samples.
    """
    from edgesdk.evaluation.compare import evaluate as _evaluate

    return _evaluate(
        float_model,
        list(tflites),
        str(data),
        tflm,
        device,
        limit,
        normalization,
        normalize_arrays,
        progress,
        passphrase_prompt,
    )


def inspect(path: str | Path) -> ModelInfo:
    """Parse a ``.tflite`` file: subgraphs, ops, tensors, quantization parameters.

    Raises:
        InspectionError: missing, not a TFLite model, truncated or corrupt.
    """
    return inspect_file(path)


def targets() -> list[TargetProfile]:
    """The built-in target profiles."""
    return list_profiles()


def target(name_or_path: str | Path) -> TargetProfile:
    """One target profile, built-in by name or a user profile by path."""
    return load_profile(name_or_path)


def compress(
    model: str | Path,
    data: str | Path,
    output: str | Path,
    options: CompressOptions | None = None,
    validation: str | Path | None = None,
    target: str = DEFAULT_TARGET,
    int8: bool = True,
    force: bool = False,
    progress: Callable[[ProgressEvent], None] | None = None,
    **techniques: CompressField,
) -> CompressionResult:
    """Compress a Keras 3 (``.keras``) or legacy ``.h5`` classifier before quantization.

    Techniques run in the order distill → prune → cluster → QAT, each training on ``data``
    with its own default learning rate unless ``learning_rate`` is given (3e-3 to distill a
    student from scratch, 1e-4 to fine-tune). With a teacher the same student is also trained
    on the labels alone (``baseline=False`` skips it) and the result warns when distillation
    did not beat it.

    Args:
        model: the trained classifier (the student when distilling).
        data: labelled training data: an ``.npz`` with ``x`` and ``y``, or an image folder
            with one subfolder per class.
        output: a ``.keras``/``.h5`` file; with QAT, a SavedModel folder that
            ``quantize`` takes as it is (its learned int8 ranges are kept).
        options: a CompressOptions; or give its fields as keyword arguments
            (``prune=0.8``, ``cluster=16``, ``qat=True``, ``teacher="big.keras"``,
            ``baseline=False`` ...).
        validation: labelled validation data; without it 10% of ``data`` is held out.
        target: the profile whose int8 configuration measures the int8 sizes and accuracy.
        int8: also convert the original and the compressed model to int8 and measure them.
        force: replace an existing QAT output folder.
        progress: called with each training progress event (a ProgressEvent dict: ``stage``,
            ``done`` of ``total`` steps, ``loss`` while training).

    Returns:
        The CompressionResult (sizes raw and gzip, accuracy before and after, per-layer table;
        with a teacher, the teacher's, the distilled and the label-only student's accuracy; the
        learning rate of each stage; warnings).

    Raises:
        ConfigError, ModelError, DatasetError, ConversionError, OutputError.
    """
    from edgesdk.compression.host import compress as _compress

    if options is None:
        options = CompressOptions(**techniques)
    elif techniques:
        options = dataclasses.replace(options, **techniques)
    return _compress(model, data, output, options, validation, target, int8, force, progress)


def report(folder: str | Path, out_dir: str | Path | None = None) -> ReportResult:
    """Render the results saved under ``folder`` as Markdown and self-contained HTML with plots.

    Args:
        folder: where quantize/export-c/compress wrote their manifests and where compress,
            evaluate and benchmark results were saved (their ``save()``); searched recursively.
        out_dir: where ``report.md``, ``report.html`` and the PNG plots go (default
            ``folder/report``).

    Returns:
        The ReportResult (paths of what was written, the result files used).

    Raises:
        ConfigError: not a folder, or no results in it.
    """
    from edgesdk.reporting.build import make_report

    return make_report(folder, out_dir)


def run(
    pipeline: str | Path | PipelineSpec = "edgesdk.toml",
    target: str | None = None,
    stage: str | None = None,
    force: bool = False,
    progress: Callable[[StageRun], None] | None = None,
    lock_wait: float = 600.0,
) -> PipelineResult:
    """Run an ``edgesdk.toml`` pipeline: each target's stages in order, each through the same
    library call as its verb, then every gate.

    A stage whose inputs (sha256), options, target profile and tool versions equal those of
    its recorded run is not run again ("cached", with the reason); a stage that runs makes the
    stages after it see new inputs. The state is written atomically after every stage, so an
    interrupted run resumes; a lock keeps two runs out of one output folder (the second waits).

    Args:
        pipeline: the pipeline file (or a parsed PipelineSpec).
        target: run only this target.
        stage: run each target's stages up to and including this one (its gates only).
        force: run every stage even when its recorded run still holds.
        progress: called with a StageRun as each stage starts ("running"), runs or is cached.
        lock_wait: seconds to wait for another run using the same output folder to finish.

    Returns:
        The PipelineResult (per target: the stages and the gate checks; ``passed``), also
        written as ``run.json`` in the output folder and kept in its ``history/``.

    Raises:
        ConfigError: a bad pipeline file (one line naming what is allowed), an unknown target
            or stage.
        PipelineError: another run still holds the output folder after ``lock_wait`` seconds.
        EdgeSdkError: the first stage that fails, as its verb raises it.
    """
    from edgesdk.pipeline.runner import run_pipeline

    return run_pipeline(pipeline, target, stage, force, progress, lock_wait)


def init_pipeline(
    model: str | Path,
    target: str = "arduino-nano-33-ble",
    path: str | Path = "edgesdk.toml",
    data: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Write a commented example ``edgesdk.toml`` for ``model`` and ``target`` (checked by the
    same loader as :func:`run` before it is written).

    Raises:
        ConfigError: an unknown target profile; OutputError: the file exists (unless ``force``).
    """
    from edgesdk.pipeline.example import write_example

    return write_example(model, target, path, data, force)

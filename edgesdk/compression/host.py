"""`compress`: the tfmot worker, then int8 conversions of the original and the result, measured."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk._worker import protocol
from edgesdk.compression.baseline import distillation_warning
from edgesdk.compression.result import CompressionResult, LayerStat
from edgesdk.core.options import CompressOptions, QuantizeOptions
from edgesdk.errors import ConfigError, ModelError
from edgesdk.quantization.result import SizeInfo

log = logging.getLogger(__name__)

# tfmot only works with tf_keras; the variable must be set before TensorFlow is imported.
LEGACY_KERAS_ENV = {"TF_USE_LEGACY_KERAS": "1"}
KERAS_SUFFIXES = (".keras", ".h5")

Progress = Callable[[protocol.ProgressEvent], None]


def _check_output(out: Path, qat: bool, force: bool) -> None:
    from edgesdk.core.fileio import check_out_dir, check_writable

    if qat:
        if out.suffix.lower() in KERAS_SUFFIXES:
            raise ConfigError(
                f"Invalid output {out.name}: a QAT model keeps its learned int8 ranges in a "
                "SavedModel folder (expected a folder name, e.g. model_qat)"
            )
        check_out_dir(out, force)
    else:
        if out.suffix.lower() not in KERAS_SUFFIXES:
            raise ConfigError(
                f"Invalid output {out.name} (expected a .keras or .h5 file name; "
                "with QAT, a folder name)"
            )
        check_writable(out)


def _check_model(path: str, what: str) -> None:
    from edgesdk.inputs.models import model_kind

    if model_kind(path) == "saved_model":
        raise ModelError(
            f"{what} {path} is a SavedModel; compression needs the Keras model (.keras or .h5)"
        )


def _tflite_accuracy(model: bytes, validation: Path, names: list[str]) -> float:
    from edgesdk.tflite.runner import top1_accuracy

    content = np.load(validation)
    return top1_accuracy(model, {n: content[n] for n in names}, content["y"])


def _int8(model: str, data: str, target: str, opts: CompressOptions, out: Path) -> Any:
    from edgesdk.core.profiles import load_profile
    from edgesdk.quantization.job import quantize  # the stage's own entry, not the façade

    options = QuantizeOptions(mode="int8", normalization=opts.normalization, seed=opts.seed)
    return quantize(model, data, out, load_profile(target), options)


def _publish(source: Path, out: Path) -> None:
    from edgesdk.core.fileio import publish_dir, write_atomic

    if source.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.with_name(f".{out.name}.tmp-compress")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        publish_dir(staging, out)
    else:
        write_atomic(out, source.read_bytes())


# Over 80 lines: the steps of one job in order (check, run the worker, measure, publish,
# manifest); each step is one call or a few lines.
def compress(
    model: str | Path,
    data: str | Path,
    output: str | Path,
    options: CompressOptions,
    validation: str | Path | None = None,
    target: str = "linux-x86_64",
    int8: bool = True,
    force: bool = False,
    progress: Progress | None = None,
) -> CompressionResult:
    """Compress a Keras classifier and measure it (see ``edgesdk.api.compress``)."""
    from edgesdk._worker.parent import run_task
    from edgesdk._worker.tasks import CompressRequest
    from edgesdk.inputs.samples import check_spec

    start = time.perf_counter()
    model_path = str(Path(model).absolute())
    _check_model(str(model), "Model")
    if options.teacher:
        _check_model(options.teacher, "Teacher")
        options = CompressOptions.from_dict(
            {**options.to_dict(), "teacher": str(Path(options.teacher).absolute())}
        )
    check_spec(str(data))
    if validation is not None:
        check_spec(str(validation))
    out = Path(output).expanduser().absolute()
    _check_output(out, options.qat, force)
    emit = progress or (lambda event: None)

    with tempfile.TemporaryDirectory(prefix="edgesdk-compress-") as tmp:
        jobdir = Path(tmp) / "job"
        jobdir.mkdir()
        request = CompressRequest(
            model=model_path,
            data=str(data),
            validation=str(validation) if validation is not None else None,
            options=options.to_dict(),
            output_suffix=out.suffix.lower(),
        )
        payload = run_task(
            request,
            jobdir,
            str(model),
            env_extra=LEGACY_KERAS_ENV,
            on_progress=emit,
        )
        produced = jobdir / payload["path"]
        sizes = {
            "float_model": SizeInfo.of_path(model_path),
            "compressed_model": SizeInfo.of_path(produced),
        }
        accuracy: dict[str, float | None] = {
            "float_model": payload["accuracy_before"],
            "compressed_model": payload["accuracy_after"],
            "teacher": payload["teacher_accuracy"],
        }
        if options.teacher:
            accuracy["distilled"] = payload["distilled_accuracy"]
            accuracy["baseline"] = payload["baseline_accuracy"]
        notes = list(payload["notes"])
        if int8:
            _measure_int8(
                model_path, produced, str(data), target, options, Path(tmp), payload, emit,
                sizes, accuracy, notes,
            )  # fmt: skip
        _check_budget(options, accuracy, payload.get("prune_search"))
        _publish(produced, out)
    layers = tuple(LayerStat.from_dict(r) for r in payload["layers"])
    warning = distillation_warning(
        accuracy.get("distilled"), accuracy.get("baseline"), accuracy.get("teacher"), options
    )
    result = CompressionResult(
        model=str(model),
        output=str(out),
        output_kind=payload["kind"],
        techniques=tuple(payload["techniques"]),
        options=options.to_dict(),
        classes=payload["classes"],
        train_samples=payload["train_samples"],
        validation_samples=payload["validation_samples"],
        parameters=payload["parameters"],
        nonzero_parameters=payload["nonzero_parameters"],
        original_nonzero_parameters=payload["original_nonzero_parameters"],
        sizes=sizes,
        accuracy=accuracy,
        layers=layers,
        prune_steps=payload["prune_steps"],
        teacher_parameters=payload["teacher_parameters"],
        seconds=time.perf_counter() - start,
        notes=tuple(notes),
        learning_rates=dict(payload["learning_rates"]),
        warnings=(warning,) if warning else (),
        extra={
            "bridge_max_difference": payload["bridge_max_difference"],
            "target": target,
            "model_loader": payload["model_loader"],
            "prune_search": payload.get("prune_search"),
        },
    )
    _manifest(result, model_path, data, validation, options, target)
    return result


def _manifest(
    result: CompressionResult,
    model_path: str,
    data: str | Path,
    validation: str | Path | None,
    options: CompressOptions,
    target: str,
) -> None:
    from edgesdk.core.manifest import sha256_path, write_manifest
    from edgesdk.core.profiles import load_profile

    write_manifest(
        result.output,
        "compress",
        {
            "model": model_path,
            "teacher": options.teacher,
            "data": data if Path(data).exists() else None,
            "validation": validation,
        },
        result.to_dict(),
        options=options.to_dict(),
        target=load_profile(target).to_dict(),
        calibration={
            "spec": str(data),
            "role": "fine-tuning data; also calibrates the int8 measurements",
            "sha256": sha256_path(data) if Path(data).exists() else None,
        },
    )


def _measure_int8(
    model_path: str,
    produced: Path,
    data: str,
    target: str,
    options: CompressOptions,
    tmp: Path,
    payload: dict[str, Any],
    emit: Progress,
    sizes: dict[str, SizeInfo],
    accuracy: dict[str, float | None],
    notes: list[str],
) -> None:
    """Convert the original and the compressed model to int8 (in parallel) and measure both;
    fills ``sizes``, ``accuracy`` and ``notes``."""
    emit({"stage": "int8", "done": 0, "total": 2})
    validation_file = produced.parent / protocol.VALIDATION
    names = payload["input_names"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        base_job = pool.submit(_int8, model_path, data, target, options, tmp / "float_int8.tflite")
        small_job = pool.submit(_int8, str(produced), data, target, options, tmp / "int8.tflite")
        base, small = base_job.result(), small_job.result()
    emit({"stage": "int8", "done": 2, "total": 2})
    sizes["float_tflite"] = base.float_size
    sizes["float_int8_tflite"] = base.size
    sizes["compressed_int8_tflite"] = small.size
    for key, result in (("float_int8_tflite", base), ("compressed_int8_tflite", small)):
        accuracy[key] = _tflite_accuracy(Path(result.output).read_bytes(), validation_file, names)
    notes.extend(f"int8 of the compressed model: {w}" for w in small.warnings)


def _check_budget(
    options: CompressOptions, accuracy: dict[str, float | None], search: dict[str, Any] | None
) -> None:
    """With an accuracy budget, the int8 model measured here (the target's int8 configuration)
    must be within it too; otherwise nothing is written."""
    from edgesdk.errors import BudgetNotMetError

    after = accuracy.get("compressed_int8_tflite")
    before = accuracy.get("float_model")
    if options.max_accuracy_drop is None or after is None or before is None:
        return
    if before - after > options.max_accuracy_drop + 1e-12:
        raise BudgetNotMetError(
            f"The pruned model's int8 accuracy {100 * after:.2f}% is "
            f"{100 * (before - after):.2f} pts below the float model's {100 * before:.2f}% "
            f"(budget {100 * options.max_accuracy_drop:g} pts); nothing was written",
            what="accuracy budget",
            value=before - after,
            allowed=options.max_accuracy_drop,
            details={"prune_search": search},
        )

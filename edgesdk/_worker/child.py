"""Worker process: runs one heavy task (TensorFlow, the converter) apart from the caller.

Invoked as ``python -m edgesdk._worker.child JOBDIR``; reads ``JOBDIR/job.json`` and writes
``JOBDIR/result.json`` (and any artifacts) so that a crash of the converter cannot take the
caller down with it.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from edgesdk._worker import protocol
from edgesdk._worker.tasks import (
    TASKS,
    CompressRequest,
    FloatOutputsRequest,
    FloatOutputsResult,
    PreflightRequest,
    PreflightResult,
    QuantizeRequest,
    QuantizeSearchRequest,
)
from edgesdk.errors import EdgeSdkError


def quantize_task(request: QuantizeRequest, jobdir: Path) -> dict[str, Any]:
    from edgesdk.core.options import QuantizeOptions
    from edgesdk.core.profiles import TargetProfile
    from edgesdk.quantization.convert import run_quantize

    profile = TargetProfile.from_dict(request.profile, source=request.profile_source)
    options = QuantizeOptions.from_dict(request.options)
    result, model = run_quantize(request.model, request.data, profile, options)
    (jobdir / protocol.MODEL).write_bytes(model)
    return result.to_dict()


def float_outputs_task(request: FloatOutputsRequest, jobdir: Path) -> FloatOutputsResult:
    """Load the float model and the data; save validated inputs, labels and float outputs."""
    import numpy as np

    from edgesdk.core.options import Normalization
    from edgesdk.inputs.models import load_float_model
    from edgesdk.inputs.samples import data_shape, open_samples

    model = load_float_model(request.model, data_shape(request.data))
    source = open_samples(
        request.data,
        model.inputs,
        Normalization.from_dict(request.normalization),
        request.normalize_arrays,
        limit=request.limit,
    )
    samples = source.read(np.arange(min(source.count, request.limit)))  # only the first limit
    outputs = model.predict(samples.arrays)
    # saved as the .tflite takes them: NHWC for a PyTorch image model (its float model: NCHW)
    nhwc = model.layout == "NCHW"
    arrays = {f"in:{k}": np.moveaxis(v, 1, -1) if nhwc else v for k, v in samples.arrays.items()}
    if samples.labels is not None:
        arrays["labels"] = samples.labels
    np.savez(jobdir / protocol.SAMPLES, **arrays)
    np.savez(jobdir / protocol.FLOAT_OUTPUTS, **{f"out_{i}": o for i, o in enumerate(outputs)})
    return FloatOutputsResult(
        inputs=[i.name for i in model.inputs],
        outputs=len(outputs),
        count=samples.count,
        labelled=samples.labels is not None,
        loader=model.loader,
        notes=list(samples.notes),
    )


def compress_task(request: CompressRequest, jobdir: Path) -> dict[str, Any]:
    from edgesdk.compression.worker_side import run_compress

    return run_compress(request.to_dict(), jobdir)


def quantize_search_task(request: QuantizeSearchRequest, jobdir: Path) -> dict[str, Any]:
    from edgesdk.core.options import QuantizeOptions
    from edgesdk.core.profiles import TargetProfile
    from edgesdk.quantization.budget import run_search

    profile = TargetProfile.from_dict(request.profile, source=request.profile_source)
    options = QuantizeOptions.from_dict(request.options)
    result, model = run_search(
        request.model, request.data, request.eval_data, profile, options, request.max_drop
    )
    (jobdir / protocol.MODEL).write_bytes(model)
    return result.to_dict()


def preflight_task(request: PreflightRequest, jobdir: Path) -> PreflightResult:
    """Load a .tflite in every host runtime and run it once on zeros: a malformed model may
    crash a native runtime, and here that kills only this process."""
    from edgesdk.tflite.preflight import exercise

    def stage(name: str) -> None:
        with (jobdir / protocol.PROGRESS).open("a", encoding="utf-8") as f:
            f.write(json.dumps({"stage": name}) + "\n")

    ran = exercise(Path(request.model).read_bytes(), request.runtimes, stage, request.what)
    return PreflightResult(**ran)


def _write(jobdir: Path, payload: dict[str, Any]) -> None:
    tmp = jobdir / (protocol.RESULT + ".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, jobdir / protocol.RESULT)


def main(argv: list[str]) -> int:
    jobdir = Path(argv[1])
    job = json.loads((jobdir / protocol.JOB).read_text(encoding="utf-8"))
    try:
        if job["task"] not in TASKS:
            raise LookupError(f"unknown task {job['task']!r} (tasks: {', '.join(TASKS)})")
        task = TASKS[job["task"]]
        result = task.run(task.request.from_dict(job["args"]), jobdir)
        payload = result.to_dict() if hasattr(result, "to_dict") else result
    except EdgeSdkError as e:
        _write(jobdir, {"ok": False, "error": e.to_dict()})
        return 3
    except Exception as e:  # noqa: BLE001 - reported to the caller as an internal error
        traceback.print_exc()
        _write(
            jobdir,
            {"ok": False, "error": {"type": "internal", "message": f"{type(e).__name__}: {e}"}},
        )
        return 4
    _write(jobdir, {"ok": True, "result": payload})
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip TensorFlow's slow interpreter teardown: every output is written and closed by now,
    # and the export folders are removed here rather than by atexit.
    from edgesdk.inputs.models import cleanup_exports

    cleanup_exports()
    os._exit(code)

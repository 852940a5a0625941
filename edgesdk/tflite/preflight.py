"""Run a .tflite once in LiteRT and TFLite Micro inside a child process before the host uses
those native runtimes in-process: a malformed model that would crash them becomes an error."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import EdgeSdkError, InspectionError, WorkerCrashedError
from edgesdk.tflite import interpreters
from edgesdk.tflite.interpreters import Kernels

RUNTIMES = ("litert", "litert-reference", "tflite-micro")
_NAMES = {
    "litert": "LiteRT",
    "litert-reference": "LiteRT's reference kernels",
    "tflite-micro": "TFLite Micro",
}


def _zeros(details: list[dict[str, Any]]) -> list[np.ndarray]:
    return [np.zeros(d["shape"], dtype=d["dtype"]) for d in details]


def exercise(
    model: bytes, runtimes: list[str], stage: Callable[[str], None], what: str = "<bytes>"
) -> dict[str, Any]:
    """Load ``model`` in each runtime, check that they and the flatbuffer read the same inputs,
    outputs and tensor shapes, then invoke each once on zeros (run in the child).

    Raises:
        InspectionError: a runtime refuses the model (an error, not a crash).
        InconsistentModelError: the runtimes (or the file) read it differently.
    """

    from edgesdk.tflite.agreement import (
        check_agreement,
        check_declared_shapes,
        file_reading,
        litert_reading,
        micro_reading,
    )
    from edgesdk.tflite.micro import load_interpreter, run_micro
    from edgesdk.tflite.model_info import inspect_bytes

    info = inspect_bytes(model, what)
    readings = []
    litert = None
    runs: list[tuple[str, Callable[[], object]]] = []
    for name in runtimes:
        stage(name)
        try:
            if name == "tflite-micro":
                micro, _ = load_interpreter(model)
                readings.append(micro_reading(micro, _NAMES[name]))
                details = [micro.get_input_details(i) for i in range(len(readings[-1].inputs))]
                n = len(readings[-1].outputs)
                runs.append((name, lambda m=micro, d=details, n=n: run_micro(m, _zeros(d), n)))
                continue
            kernels = Kernels.REFERENCE if name == "litert-reference" else Kernels.DEFAULT
            interpreter = interpreters.litert(model, kernels)
            readings.append(litert_reading(interpreter, _NAMES[name]))
            litert = litert or interpreter
            runs.append((name, lambda i=interpreter: _invoke_litert(i)))
        except EdgeSdkError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            raise InspectionError(
                f"{_NAMES[name]} rejects the model: {one_line(e)}", what=name
            ) from e
    # before any values (a shape mismatch can crash a kernel): the runtimes with each other,
    # then with the file, then the shapes LiteRT derives from the ops with the declared ones
    check_agreement(what, [*readings, file_reading(info)])
    if litert is not None:
        check_declared_shapes(what, info, litert)
    for name, run in runs:
        stage(name)
        try:
            run()
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            raise InspectionError(
                f"{_NAMES[name]} rejects the model: {one_line(e)}", what=name
            ) from e
    return {"runtimes": list(runtimes)}


def one_line(error: Exception) -> str:
    """A runtime's message (LiteRT's run over several lines) as one line."""
    return " ".join(str(error).split())


def _invoke_litert(interpreter: Any) -> None:
    details = interpreter.get_input_details()
    for d, x in zip(details, _zeros(details), strict=True):
        interpreter.set_tensor(d["index"], x)
    interpreter.invoke()


def preflight(model: bytes, what: str, runtimes: tuple[str, ...] = RUNTIMES) -> None:
    """Run :func:`exercise` in a child process; a crash there is an InspectionError here.

    Raises:
        InspectionError: a runtime rejects the model or crashes on it (naming which).
        InconsistentModelError: the runtimes or the file read its inputs, outputs or tensor
            shapes differently (a damaged or inconsistent file).
    """
    from edgesdk._worker.parent import run_task
    from edgesdk._worker.tasks import PreflightRequest

    stages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="edgesdk-preflight-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        try:
            run_task(
                PreflightRequest(str(path), list(runtimes), what),
                Path(tmp),
                what,
                on_progress=lambda event: stages.append(event["stage"]),
            )
        except WorkerCrashedError as e:
            runtime = _NAMES.get(stages[-1], "a runtime") if stages else "a runtime"
            raise InspectionError(
                f"Malformed .tflite file {what}: {runtime} crashed on it "
                f"({e.signal or f'exit {e.exit_code}'}); nothing was written",
                what=runtime,
            ) from e

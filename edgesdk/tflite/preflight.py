"""Run a .tflite once in LiteRT and TFLite Micro inside a child process before the host uses
those native runtimes in-process: a malformed model that would crash them becomes an error."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import EdgeSdkError, InspectionError, WorkerCrashedError

RUNTIMES = ("litert", "litert-reference", "tflite-micro")
_NAMES = {
    "litert": "LiteRT",
    "litert-reference": "LiteRT's reference kernels",
    "tflite-micro": "TFLite Micro",
}


def _zeros(details: list[dict[str, Any]]) -> list[np.ndarray]:
    return [np.zeros(d["shape"], dtype=d["dtype"]) for d in details]


def exercise(model: bytes, runtimes: list[str], stage: Callable[[str], None]) -> dict[str, Any]:
    """Load ``model`` in each runtime and invoke it once on zeros (run in the child).

    Raises:
        InspectionError: a runtime refuses the model (an error, not a crash).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for name in runtimes:
        stage(name)
        try:
            if name == "tflite-micro":
                from edgesdk.tflite.micro import load_interpreter, run_micro
                from edgesdk.tflite.model_info import inspect_bytes

                inputs, outputs = inspect_bytes(model, "model").io_tensors()
                micro, _ = load_interpreter(model)
                details = [micro.get_input_details(i) for i in range(len(inputs))]
                run_micro(micro, _zeros(details), len(outputs))
                continue
            kwargs: dict[str, Any] = {"model_content": model}
            if name == "litert-reference":
                kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
            interpreter = Interpreter(**kwargs)
            interpreter.allocate_tensors()
            for d, x in zip(
                interpreter.get_input_details(),
                _zeros(interpreter.get_input_details()),
                strict=True,
            ):
                interpreter.set_tensor(d["index"], x)
            interpreter.invoke()
        except EdgeSdkError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError) as e:
            raise InspectionError(f"{_NAMES[name]} rejects the model: {e}", what=name) from e
    return {"runtimes": list(runtimes)}


def preflight(model: bytes, what: str, runtimes: tuple[str, ...] = RUNTIMES) -> None:
    """Run :func:`exercise` in a child process; a crash there is an InspectionError here.

    Raises:
        InspectionError: a runtime rejects the model or crashes on it (naming which).
    """
    from edgesdk._worker.parent import run_task

    stages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="edgesdk-preflight-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        try:
            run_task(
                "preflight",
                {"model": str(path), "runtimes": list(runtimes)},
                Path(tmp),
                what,
                on_progress=lambda event: stages.append(event["stage"]),
            )
        except WorkerCrashedError as e:
            runtime = _NAMES.get(stages[-1], "a runtime") if stages else "a runtime"
            raise InspectionError(
                f"Malformed .tflite file {what}: {runtime} crashed on it "
                f"({str(e).split('(', 1)[-1].split(')')[0]}); nothing was written",
                what=runtime,
            ) from e

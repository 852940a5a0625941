"""Evaluation: the same samples through the float model, LiteRT, TFLite Micro and a device."""

from __future__ import annotations

import contextlib
import json
import posixpath
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk._worker import protocol
from edgesdk._worker.tasks import FloatOutputsResult
from edgesdk.core.options import Normalization
from edgesdk.core.results import JsonResult
from edgesdk.errors import DeviceError, ModelError
from edgesdk.inputs.samples import check_labels
from edgesdk.tflite import metrics
from edgesdk.tflite.agreement import check_same_shapes
from edgesdk.tflite.fidelity import OutputFidelity, compare, is_classifier_output
from edgesdk.tflite.runner import RawIo, TfliteRunner

Progress = Callable[[str, int, int], None]
DEVICE_BATCH = 256


@dataclass(frozen=True)
class RuntimeEval:
    """Accuracy and fidelity of one model on one runtime."""

    model: str
    runtime: str
    samples: int
    top1: float | None
    top5: float | None
    confusion: list[list[int]] | None
    fidelity: tuple[OutputFidelity, ...] = ()
    max_lsb_vs_reference: int | None = None
    # devices only: what ran there, and how its raw outputs differ from LiteRT on this machine
    device_runtime: str | None = None
    max_lsb_vs_litert: int | None = None
    top1_changes_vs_litert: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "runtime": self.runtime,
            "samples": self.samples,
            "top1": self.top1,
            "top5": self.top5,
            "confusion": self.confusion,
            "fidelity": [f.to_dict() for f in self.fidelity],
            "max_lsb_vs_reference": self.max_lsb_vs_reference,
            "device_runtime": self.device_runtime,
            "max_lsb_vs_litert": self.max_lsb_vs_litert,
            "top1_changes_vs_litert": self.top1_changes_vs_litert,
        }


@dataclass(frozen=True)
class EvaluationResult(JsonResult):
    """Every runtime's accuracy and fidelity on the same samples."""

    float_model: str
    data: str
    samples: int
    labelled: bool
    runs: tuple[RuntimeEval, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "evaluate",
            "float_model": self.float_model,
            "data": self.data,
            "samples": self.samples,
            "labelled": self.labelled,
            "runs": [r.to_dict() for r in self.runs],
            "notes": list(self.notes),
        }


def _accuracy(outputs: np.ndarray, labels: np.ndarray | None) -> tuple[Any, Any, Any]:
    if labels is None or not is_classifier_output(outputs.shape):
        return None, None, None
    classes = outputs.shape[1]
    order = np.argsort(-outputs, axis=1)
    top1 = float(np.mean(order[:, 0] == labels))
    top5 = float(np.mean(np.any(order[:, :5] == labels[:, None], axis=1))) if classes > 5 else None
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, order[:, 0]), 1)
    return top1, top5, confusion.tolist()


def _run_litert(
    plan: RawIo,
    raw: list[np.ndarray],
    progress: Progress,
    label: str,
    reference_kernels: bool = False,
) -> list[np.ndarray]:
    interpreter = TfliteRunner(plan.model, reference_kernels=reference_kernels).interpreter
    interpreter.allocate_tensors()
    count = len(raw[0])
    outs: list[list[np.ndarray]] = [[] for _ in plan.out_details]
    for i in range(count):
        for d, x in zip(plan.in_details, raw, strict=True):
            interpreter.set_tensor(d["index"], x[i : i + 1])
        interpreter.invoke()
        for k, d in enumerate(plan.out_details):
            outs[k].append(interpreter.get_tensor(d["index"]).copy())
        if i % 100 == 0 or i == count - 1:
            progress(label, i + 1, count)
    return [np.concatenate(o) for o in outs]


def _run_tflm(
    plan: RawIo, raw: list[np.ndarray], progress: Progress, label: str
) -> list[np.ndarray]:
    from edgesdk.tflite.micro import load_interpreter, run_micro

    interpreter, _ = load_interpreter(plan.model)
    count = len(raw[0])
    outs: list[list[np.ndarray]] = [[] for _ in plan.out_details]
    for i in range(count):
        got = run_micro(interpreter, [x[i : i + 1] for x in raw], len(plan.out_details))
        for k, o in enumerate(got):
            outs[k].append(o)
        if i % 100 == 0 or i == count - 1:
            progress(label, i + 1, count)
    return [np.concatenate(o) for o in outs]


def _run_device(
    session: Any,
    model_path: Path,
    raw: list[np.ndarray],
    progress: Progress,
    label: str,
    outputs: int,
) -> tuple[list[np.ndarray], str | None]:
    """Stream samples to the device in batches; the runner sends raw outputs back.

    Returns:
        the raw outputs, and what ran them ("ai_edge_litert 2.3.0, aarch64, EMULATED by ...").
    """
    from edgesdk.devices.benchmark import stage_runner

    _, bench, runner = stage_runner(session)
    remote_model = posixpath.join(bench, "eval_model.tflite")
    session.sftp.put(str(model_path), remote_model)
    count = len(raw[0])
    outs: list[list[np.ndarray]] = [[] for _ in range(outputs)]
    ran_on = None
    with tempfile.TemporaryDirectory() as tmp:
        local_in, local_out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        remote_in, remote_out = (
            posixpath.join(bench, "eval_in.npz"),
            posixpath.join(bench, "eval_out.npz"),
        )
        for start in range(0, count, DEVICE_BATCH):
            np.savez(
                local_in,
                **{f"input_{j}": x[start : start + DEVICE_BATCH] for j, x in enumerate(raw)},
            )
            session.sftp.put(str(local_in), remote_in)
            result = session.run(
                [
                    session.device.python,
                    runner,
                    "--model",
                    remote_model,
                    "--eval-inputs",
                    remote_in,
                    "--eval-outputs",
                    remote_out,
                ],
                timeout=600,
                check=False,
            )
            if result.exit_code != 0:
                detail = (
                    result.text().strip().splitlines()
                    or result.stderr.decode("utf-8", "replace").strip().splitlines()
                    or ["no output"]
                )[-1]
                raise DeviceError(f"Evaluation on {session.device.name} failed: {detail}")
            ran_on = _ran_on(result.text()) or ran_on
            session.sftp.get(remote_out, str(local_out))
            with np.load(local_out) as f:
                for k in range(outputs):
                    outs[k].append(f[f"output_{k}"])
            progress(label, min(start + DEVICE_BATCH, count), count)
    return [np.concatenate(o) for o in outs], ran_on


def _ran_on(output: str) -> str | None:
    """The runner's own account of its runtime, architecture and emulation."""
    lines = [ln for ln in output.strip().splitlines() if ln.startswith("{")]
    try:
        info = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return None
    if not info.get("runtime"):
        return None
    text = f"{info['runtime']} {info.get('runtime_version', '?')}, {info.get('arch', '?')}"
    return text + (f", EMULATED by {info['emulated']}" if info.get("emulated") else "")


def _float_outputs(
    model: str,
    data: str,
    normalization: Normalization,
    normalize_arrays: bool,
    limit: int,
    jobdir: Path,
) -> FloatOutputsResult:
    from edgesdk._worker.parent import run_task
    from edgesdk._worker.tasks import FloatOutputsRequest

    request = FloatOutputsRequest(model, data, normalization.to_dict(), normalize_arrays, limit)
    return run_task(request, jobdir, model)


def evaluate(
    float_model: str | Path,
    tflites: list[str | Path],
    data: str,
    tflm: bool = False,
    device: Any = None,
    limit: int = 10_000,
    normalization: Normalization | None = None,
    normalize_arrays: bool = False,
    progress: Progress | None = None,
    passphrase_prompt: Any = None,
) -> EvaluationResult:
    """Run the same samples through the float model and every runtime; compare them.

    Raises:
        ModelError, DatasetError, InspectionError, ExportError (TFLite Micro), DeviceError.
    """
    from edgesdk.inputs.models import model_kind
    from edgesdk.tflite.model_info import inspect_bytes, read_tflite

    notify = progress or (lambda label, done, total: None)
    model_kind(float_model)
    models = []
    from edgesdk.tflite.preflight import preflight

    runtimes = ("litert",) + (("litert-reference",) if tflm or device is not None else ())
    runtimes += ("tflite-micro",) if tflm else ()
    for path in tflites:
        content = read_tflite(path)
        inspect_bytes(content, str(path))
        preflight(content, str(path), runtimes)  # native runtimes crash in a child, not here
        models.append((Path(path), content))
    meta, arrays, labels, reference = _float_reference(
        float_model, data, normalization or Normalization(), normalize_arrays, limit, notify
    )
    top1, top5, confusion = _accuracy(reference[0], labels)
    float_name = {
        "tf_keras": "float (tf_keras)",
        "saved_model": "float (SavedModel)",
        "torch_program": "float (PyTorch)",
        "torch_function": "float (PyTorch)",
    }.get(meta.loader, "float (Keras)")
    runs = [RuntimeEval(str(float_model), float_name, meta.count, top1, top5, confusion)]
    with contextlib.ExitStack() as stack:
        session = None
        if device is not None:
            from edgesdk.devices.inventory import Inventory
            from edgesdk.devices.ssh import Session

            dev = Inventory().resolve(device)
            session = stack.enter_context(Session(dev, passphrase_prompt=passphrase_prompt))
        for path, content in models:
            runs.extend(
                _model_runs(path, content, meta, arrays, labels, reference, tflm, session, notify)
            )
    return EvaluationResult(
        str(float_model), data, meta.count, labels is not None, tuple(runs), tuple(meta.notes)
    )


def _float_reference(
    float_model: str | Path,
    data: str,
    normalization: Normalization,
    normalize_arrays: bool,
    limit: int,
    notify: Progress,
) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray | None, list[np.ndarray]]:
    """The samples, their labels (checked) and the float model's outputs, from the worker."""
    from edgesdk.inputs.frontends import locate

    with tempfile.TemporaryDirectory(prefix="edgesdk-eval-") as tmp:
        jobdir = Path(tmp)
        notify("float model", 0, 1)
        meta = _float_outputs(
            locate(float_model), data, normalization, normalize_arrays, limit, jobdir
        )
        notify("float model", 1, 1)
        with np.load(jobdir / protocol.SAMPLES) as f:
            arrays = {name: f[f"in:{name}"] for name in meta.inputs}
            labels = f["labels"] if "labels" in f.files else None
        with np.load(jobdir / protocol.FLOAT_OUTPUTS) as f:
            reference = [f[f"out_{i}"] for i in range(meta.outputs)]
    if labels is not None:
        classes = reference[0].shape[1] if reference[0].ndim == 2 else 0
        labels = check_labels(labels, max(classes, 1), str(data))
    return meta, arrays, labels, reference


def _model_runs(
    path: Path,
    content: bytes,
    meta: FloatOutputsResult,
    arrays: dict[str, np.ndarray],
    labels: np.ndarray | None,
    reference: list[np.ndarray],
    tflm: bool,
    session: Any,
    notify: Progress,
) -> list[RuntimeEval]:
    """One .tflite on LiteRT, and on TFLite Micro and the device when asked."""
    plan = RawIo(content, meta.inputs)
    _check_fits(path, plan, arrays, reference)
    raw = plan.raw_inputs(arrays)
    litert_raw = _run_litert(plan, raw, notify, f"{path.name} LiteRT")
    # TFLite Micro and devices are compared, LSB by LSB, with LiteRT's reference kernels
    ref_raw = None
    if tflm or session is not None:
        ref_raw = _run_litert(plan, raw, notify, f"{path.name} LiteRT reference kernels", True)
    runs = [_runtime_eval(path, "LiteRT", plan, litert_raw, reference, labels, ref_raw)]
    if tflm:
        tflm_raw = _run_tflm(plan, raw, notify, f"{path.name} TFLite Micro")
        check_same_shapes(str(path), {"LiteRT": litert_raw, "TFLite Micro": tflm_raw})
        runs.append(_runtime_eval(path, "TFLite Micro", plan, tflm_raw, reference, labels, ref_raw))
    if session is not None:
        name = session.device.name
        device_raw, ran_on = _run_device(
            session, path, raw, notify, f"{path.name} {name}", len(plan.out_details)
        )
        check_same_shapes(str(path), {"LiteRT": litert_raw, f"device {name}": device_raw})
        run = _runtime_eval(path, f"device {name}", plan, device_raw, reference, labels, ref_raw)
        runs.append(replace(run, device_runtime=ran_on, **_vs_litert(device_raw, litert_raw)))
    return runs


def _check_fits(
    path: Path, plan: RawIo, arrays: dict[str, np.ndarray], reference: list[np.ndarray]
) -> None:
    """The .tflite takes the samples' shapes and gives as many outputs, of the same shapes, as
    the float model (per sample): otherwise it is another model, or a damaged one.

    Raises:
        ModelError: the first input or output that differs.
    """
    for d, name in zip(plan.in_details, plan.input_order, strict=True):
        want, got = tuple(int(x) for x in d["shape"][1:]), arrays[name].shape[1:]
        if want != got:
            raise ModelError(
                f"{path} takes input {name!r} of shape {['N', *want]}, the float model "
                f"{['N', *got]} (expected the .tflite of the float model)",
                what=str(path),
                value=list(want),
                allowed=list(got),
            )
    outputs = [tuple(int(x) for x in plan.out_details[i]["shape"][1:]) for i in plan.output_order]
    expected = [r.shape[1:] for r in reference]
    if outputs != expected:
        raise ModelError(
            f"{path} gives outputs of shapes {[['N', *o] for o in outputs]}, the float model "
            f"{[['N', *e] for e in expected]} (expected the .tflite of the float model)",
            what=str(path),
            value=[list(o) for o in outputs],
            allowed=[list(e) for e in expected],
        )


def _vs_litert(raw: list[np.ndarray], litert_raw: list[np.ndarray]) -> dict[str, Any]:
    """Largest raw difference (in output steps, integer outputs) and how many samples change
    their top-1 class, against LiteRT on this machine with its default kernels."""
    max_lsb = None
    if all(a.dtype.kind in "iu" for a in raw):
        max_lsb = max(metrics.max_lsb(a, b) for a, b in zip(raw, litert_raw, strict=True))
    first, ref = raw[0], litert_raw[0]
    changes = None
    if first.ndim == 2 and first.shape[1] > 1:
        changes = metrics.top1_changes(first, ref)
    return {"max_lsb_vs_litert": max_lsb, "top1_changes_vs_litert": changes}


def _runtime_eval(
    path: Path,
    runtime: str,
    plan: RawIo,
    raw: list[np.ndarray],
    reference: list[np.ndarray],
    labels: np.ndarray | None,
    ref_raw: list[np.ndarray] | None,
) -> RuntimeEval:
    outputs = plan.dequantize(raw)
    top1, top5, confusion = _accuracy(outputs[0], labels)
    fidelity = tuple(
        compare(f"output_{i}", ref, out, scale)
        for i, (ref, out, scale) in enumerate(zip(reference, outputs, plan.scales(), strict=True))
    )
    max_lsb = None
    if ref_raw is not None and all(a.dtype.kind in "iu" for a in raw):
        max_lsb = max(metrics.max_lsb(a, b) for a, b in zip(raw, ref_raw, strict=True))
    return RuntimeEval(
        str(path), runtime, len(outputs[0]), top1, top5, confusion, fidelity, max_lsb
    )

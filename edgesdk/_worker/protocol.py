"""The job-folder contract between the parent and the child process: one name per file."""

from __future__ import annotations

from typing import NotRequired, TypedDict

CHILD_MODULE = "edgesdk._worker.child"  # run as ``python -m CHILD_MODULE JOBDIR``

JOB = "job.json"  # parent → child: {"task": name, "args": {...}}
RESULT = "result.json"  # child → parent: {"ok": true, "result": {...}} or the error
LOG = "worker.log"  # the child's stdout and stderr
PROGRESS = "progress.jsonl"  # child → parent, while running: one JSON event per line
MODEL = "model.tflite"  # a converted model
DATA = "data.npz"  # in-memory arrays handed to the child
SAMPLES = "samples.npz"  # validated inputs (and labels) the child loaded
FLOAT_OUTPUTS = "float.npz"  # the float model's outputs on SAMPLES
VALIDATION = "validation.npz"  # the validation split a compress job used


class ProgressEvent(TypedDict):
    """One line of PROGRESS: a stage's steps done of its total (training: its loss too)."""

    stage: str
    done: int
    total: int
    loss: NotRequired[float]

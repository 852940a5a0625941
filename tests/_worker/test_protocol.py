"""The child-process protocol: errors cross it with their type and declared fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from edgesdk._worker import protocol
from edgesdk._worker.parent import run_task
from edgesdk._worker.tasks import TASKS, FloatOutputsRequest, Message, PreflightRequest
from edgesdk.errors import (
    BudgetNotMetError,
    EdgeSdkError,
    ModelError,
    WorkerCrashedError,
)


def test_error_round_trip_keeps_type_and_fields():
    e = BudgetNotMetError(
        "no fit", what="accuracy budget", value=0.2, allowed=0.01, details={"search": {"n": 3}}
    )
    back = EdgeSdkError.from_dict(e.to_dict())
    assert type(back) is BudgetNotMetError and str(back) == "no fit"
    assert (back.what, back.value, back.allowed, back.retryable) == (
        "accuracy budget",
        0.2,
        0.01,
        False,
    )
    assert back.details == {"search": {"n": 3}}


def test_an_error_raised_in_the_child_comes_back_typed(tmp_path):
    request = FloatOutputsRequest(str(tmp_path / "none.keras"), "x.npz", {}, False, 1)
    with pytest.raises(ModelError, match="Model not found") as info:
        run_task(request, tmp_path, "a missing model")
    assert not isinstance(info.value, WorkerCrashedError)


@dataclass(frozen=True)
class _Unknown(Message):
    task: ClassVar[str] = "no-such-task"


def test_an_unknown_task_is_an_internal_error_with_the_log(tmp_path):
    with pytest.raises(WorkerCrashedError, match="Internal error") as info:
        run_task(_Unknown(), tmp_path, "nothing")
    assert "no-such-task" in str(info.value)
    assert (tmp_path / protocol.JOB).is_file() and (tmp_path / protocol.LOG).is_file()


def test_the_task_table_is_the_one_both_sides_use():
    """Every task names a request class whose ``task`` is its key, and a handler that exists;
    a request round-trips through JSON; an unknown field is refused."""
    import importlib
    import json

    for name, task in TASKS.items():
        assert task.request.task == name
        module, _, function = task.handler.partition(":")
        assert callable(getattr(importlib.import_module(module), function))
    request = FloatOutputsRequest("m.keras", "d.npz", {"scale": 1.0}, True, 5)
    assert FloatOutputsRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    with pytest.raises(TypeError, match="no fields"):
        FloatOutputsRequest.from_dict({**request.to_dict(), "extra": 1})


def test_a_crash_travels_as_fields_not_text(tmp_path):
    """A child killed by a signal: WorkerCrashedError.signal and .exit_code say so (the
    preflight's message is built from them, not from another message's text)."""
    import os
    import threading
    import time

    from edgesdk._worker.parent import kill_children

    fifo = tmp_path / "blocks.tflite"
    os.mkfifo(fifo)  # the child blocks reading it, until killed

    def killer() -> None:
        deadline = time.monotonic() + 60
        while not kill_children() and time.monotonic() < deadline:
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    job = tmp_path / "job"
    job.mkdir()
    with pytest.raises(WorkerCrashedError) as info:
        run_task(PreflightRequest(str(fifo), ["litert"], "a"), job, "a killed task")
    thread.join()
    assert (info.value.signal, info.value.exit_code) == ("SIGKILL", -9)
    assert "crashed (SIGKILL)" in str(info.value)

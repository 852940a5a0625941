"""The child-process protocol: errors cross it with their type and declared fields."""

from __future__ import annotations

import pytest

from edgesdk._worker import protocol
from edgesdk._worker.parent import run_task
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
    with pytest.raises(ModelError, match="Model not found") as info:
        run_task(
            "float_outputs",
            {"model": str(tmp_path / "none.keras"), "data": "x.npz", "normalization": {},
             "normalize_arrays": False, "limit": 1},
            tmp_path,
            "a missing model",
        )  # fmt: skip
    assert not isinstance(info.value, WorkerCrashedError)


def test_an_unknown_task_is_an_internal_error_with_the_log(tmp_path):
    with pytest.raises(WorkerCrashedError, match="Internal error") as info:
        run_task("no-such-task", {}, tmp_path, "nothing")
    assert "no-such-task" in str(info.value)
    assert (tmp_path / protocol.JOB).is_file() and (tmp_path / protocol.LOG).is_file()

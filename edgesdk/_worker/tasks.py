"""The worker tasks, defined once: a request and a result dataclass per task, its label in
messages and the function the child runs. A new task is a new row of ``TASKS``."""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    """A request or result that crosses the process boundary as JSON."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise TypeError(f"{cls.__name__} has no fields {unknown} (fields: {sorted(names)})")
        return cls(**data)


@dataclass(frozen=True)
class QuantizeRequest(Message):
    task: ClassVar[str] = "quantize"
    model: str
    data: str | None
    profile: dict[str, Any]
    profile_source: str
    options: dict[str, Any]


@dataclass(frozen=True)
class QuantizeSearchRequest(Message):
    task: ClassVar[str] = "quantize_search"
    model: str
    data: str
    profile: dict[str, Any]
    profile_source: str
    options: dict[str, Any]
    eval_data: str
    max_drop: float


@dataclass(frozen=True)
class FloatOutputsRequest(Message):
    task: ClassVar[str] = "float_outputs"
    model: str
    data: str
    normalization: dict[str, Any]
    normalize_arrays: bool
    limit: int


@dataclass(frozen=True)
class FloatOutputsResult(Message):
    """What the child saved in ``SAMPLES`` and ``FLOAT_OUTPUTS``, described."""

    inputs: list[str]
    outputs: int
    count: int
    labelled: bool
    loader: str
    notes: list[str]


@dataclass(frozen=True)
class CompressRequest(Message):
    task: ClassVar[str] = "compress"
    model: str
    data: str
    validation: str | None
    options: dict[str, Any]
    output_suffix: str


@dataclass(frozen=True)
class PreflightRequest(Message):
    task: ClassVar[str] = "preflight"
    model: str
    runtimes: list[str]
    what: str


@dataclass(frozen=True)
class PreflightResult(Message):
    runtimes: list[str]


@dataclass(frozen=True)
class Task:
    """One row of the table: how a task is named, run and reported."""

    label: str  # what the child process is, in messages ("the TFLite converter crashed")
    request: type[Message]
    result: type | None  # a class with from_dict, or None for a plain dict
    handler: str  # "module:function(request, jobdir) -> result", imported in the child only

    def run(self, request: Message, jobdir: Any) -> Any:
        module, _, name = self.handler.partition(":")
        return getattr(importlib.import_module(module), name)(request, jobdir)


TASKS: dict[str, Task] = {
    "quantize": Task(
        "TFLite converter",
        QuantizeRequest,
        None,  # a QuantizationResult dict (rebuilt by the caller)
        "edgesdk._worker.child:quantize_task",
    ),
    "quantize_search": Task(
        "TFLite converter",
        QuantizeSearchRequest,
        None,
        "edgesdk._worker.child:quantize_search_task",
    ),
    "float_outputs": Task(
        "float model process",
        FloatOutputsRequest,
        FloatOutputsResult,
        "edgesdk._worker.child:float_outputs_task",
    ),
    "compress": Task(
        "compression process",
        CompressRequest,
        None,  # the compression stage's measurements (read by compression/host.py)
        "edgesdk._worker.child:compress_task",
    ),
    "preflight": Task(
        "runtime check process",
        PreflightRequest,
        PreflightResult,
        "edgesdk._worker.child:preflight_task",
    ),
}

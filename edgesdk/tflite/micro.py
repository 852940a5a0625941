"""TFLite Micro on the host: op support, arena measurement, and parity with LiteRT's reference kernels."""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgesdk.core.profiles import TargetProfile
from edgesdk.errors import ExportError
from edgesdk.tflite.capture import capture_stderr
from edgesdk.tflite.io_choice import float_io_reason
from edgesdk.tflite.model_info import FLOAT_TYPES, ModelInfo

# Builtin op → MicroMutableOpResolver method (TFLite Micro's kernels).
_IRREGULAR = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "SVDF": "AddSvdf",
    "PADV2": "AddPadV2",
    "SELECT_V2": "AddSelectV2",
    "SPLIT_V": "AddSplitV",
    "REVERSE_V2": "AddReverseV2",
}
_REGULAR = """
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV
FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION
L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOG_SOFTMAX LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC
MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PRELU QUANTIZE
READ_VARIABLE REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR
ROUND RSQRT SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SQRT SQUARE
SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM TANH TRANSPOSE TRANSPOSE_CONV UNPACK VAR_HANDLE
WHILE ZEROS_LIKE
""".split()


def _camel(op: str) -> str:
    return "Add" + "".join(
        part if re.fullmatch(r"\d+D", part) else part.capitalize() for part in op.split("_")
    )


TFLM_OPS: dict[str, str] = {**{op: _camel(op) for op in _REGULAR}, **_IRREGULAR}
"""Every builtin op with a TFLite Micro kernel, and the resolver method that registers it."""


@dataclass(frozen=True)
class OpSupport:
    """Whether one op of the model can run on the target."""

    op: str
    count: int
    method: str | None
    supported: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def op_support(info: ModelInfo, profile: TargetProfile, float_io: bool = False) -> list[OpSupport]:
    """Per op type: the resolver method and, if it cannot run on ``profile``, why not
    (float I/O is allowed on an integer-only target with ``float_io``: the core has an FPU)."""
    integer_only = not profile.quantization.float_ops_allowed
    float_ops: dict[str, str] = {}
    for sg in info.subgraphs:
        for op in sg.float_ops():
            weights = {
                sg.tensors[i].dtype for i in op.inputs if i >= 0 and sg.tensors[i].is_constant
            }
            hybrid = bool(weights & {"int8", "uint8"})
            float_ops[op.name] = (
                "hybrid (dynamic-range) op: float activations with int8 weights"
                if hybrid
                else "computes in float"
            )
    rows = []
    for name, count in info.op_counts().items():
        custom = name in info.custom_ops()
        method = None if custom else TFLM_OPS.get(name)
        reason = ""
        if custom:
            kind = "flex (TensorFlow) op" if name.startswith("Flex") else "custom op"
            reason = f"{kind}: TFLite Micro has no kernel for it"
        elif method is None:
            reason = "no TFLite Micro kernel"
        elif integer_only and name in float_ops:
            reason = f"{float_ops[name]}; {profile.name} runs integer-only models"
        rows.append(OpSupport(name, count, method, not reason, reason))
    sg = info.main
    io = [sg.tensors[i] for i in (*sg.inputs, *sg.outputs)]
    floats = [t.name for t in io if t.dtype in FLOAT_TYPES]
    if integer_only and floats and not float_io:
        what = f"I/O tensor{'s' if len(floats) > 1 else ''} {', '.join(floats)}"
        rows.append(OpSupport(what, len(floats), None, False, float_io_reason(info, profile)))
    return rows


@dataclass(frozen=True)
class ArenaMeasurement:
    """Tensor arena use recorded by TFLite Micro's RecordingMicroAllocator (on this host)."""

    total: int
    head: int
    tail: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interpreter(model: bytes, arena_size: int) -> Any:
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model, arena_size=arena_size)


PROBE_TIMEOUT_S = 120.0  # one arena probe in a forked child


def _builds(model: bytes, arena_size: int) -> bool:
    """Whether TFLite Micro builds ``model`` in ``arena_size`` bytes, tried in a forked child
    (where fork exists): in an arena a few bytes short its host interpreter can crash the
    process instead of failing (a FULLY_CONNECTED with 640 outputs fails to prepare holding a
    temp buffer, "All temp buffers must be freed before calling ResetTempAllocations()", then
    SIGSEGV), and the arena search probes exactly such sizes."""
    if not hasattr(os, "fork"):
        return capture_stderr(lambda: _interpreter(model, arena_size))[2] is None
    pid = os.fork()
    if pid == 0:  # the child: build, exit 0 if it did; a crash is a failure too
        code = 1
        try:
            import faulthandler

            faulthandler.disable()  # a crash here is an answer, not a report (pytest enables it)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            _interpreter(model, arena_size)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    while True:  # a child stuck on a lock another thread held at the fork must not hang us
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise ExportError(
                f"TFLite Micro's host interpreter did not build the model in {arena_size} bytes "
                f"within {PROBE_TIMEOUT_S:g} s while sizing the arena (run the export again)"
            )
        time.sleep(0.005)


def load_interpreter(model: bytes, max_arena: int = 1 << 30) -> tuple[Any, int]:
    """A TFLite Micro interpreter with an arena large enough, and that arena's size.

    Raises:
        ExportError: TFLite Micro cannot load the model (unsupported op, bad model).
    """
    size = 64 * 1024
    while size <= max_arena:
        interpreter, log, error = capture_stderr(lambda s=size: _interpreter(model, s))
        if error is None:
            return interpreter, size
        if "allocate" not in str(error).lower():
            lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
            detail = f" ({lines[0]})" if lines else ""
            message = " ".join(f"{error}{detail}".split())  # one line
            raise ExportError(f"TFLite Micro cannot load the model: {message}")
        size *= 4
    raise ExportError(f"TFLite Micro needs a tensor arena over {max_arena} bytes")


def check_arena(model: bytes, arena: int) -> None:
    """Raise ExportError unless TFLite Micro runs the model in an arena of ``arena`` bytes."""
    _, _, error = capture_stderr(lambda: _interpreter(model, arena))
    if error is not None:
        raise ExportError(
            f"The declared arena of {arena} bytes is too small for TFLite Micro: "
            + " ".join(str(error).split())
        )


def fit_arena(model: bytes, declared: int, alignment: int, growth: int = 4) -> tuple[int, str]:
    """``declared``, or the smallest larger multiple of ``alignment`` (at most ``growth`` times
    ``declared``) in which TFLite Micro builds the model: its recorded total leaves out what it
    needs only while planning (on a float-I/O model 432 bytes, 14%, more than the usual margin;
    on a 640-output FULLY_CONNECTED about 2 KB, 21%).

    Returns:
        The arena size and a note when it had to grow ('' otherwise).
    """
    if _builds(model, declared):
        return declared, ""
    lo, hi = 0, 1  # in alignment steps above declared: lo fails, hi is the candidate
    while not _builds(model, declared + hi * alignment):
        lo, hi = hi, hi * 2
        if declared + hi * alignment > growth * declared:
            return declared, ""  # check_arena says what is wrong
    while hi - lo > 1:  # the builds are monotone in the arena size
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _builds(model, declared + mid * alignment) else (mid, hi)
    size = declared + hi * alignment
    return size, (
        f"declared arena raised from {declared} to {size} bytes: TFLite Micro on the "
        "host could not build the model in the measured size plus margin"
    )


def measure_arena(interpreter: Any) -> ArenaMeasurement:
    """Read the recording allocator's totals from ``print_allocations``."""
    _, text, _ = capture_stderr(interpreter.print_allocations)

    def grab(kind: str) -> int:
        m = re.search(rf"Arena allocation {kind} (\d+) bytes", text)
        if not m:
            raise ExportError(f"TFLite Micro did not report its arena {kind} usage")
        return int(m.group(1))

    return ArenaMeasurement(total=grab("total"), head=grab("head"), tail=grab("tail"))


def declared_arena(measured: int, margin_percent: int, alignment: int) -> int:
    """Measured bytes plus the profile margin plus alignment slack, rounded up to the alignment."""
    size = measured + (measured * margin_percent + 99) // 100 + alignment
    return -(-size // alignment) * alignment


@dataclass(frozen=True)
class OutputParity:
    """How TFLite Micro's outputs compare with LiteRT's reference kernels for one output."""

    index: int
    samples: int
    exact_samples: int
    exact_values: int
    values: int
    max_lsb: int
    top1_changes: int
    first_difference: int | None = None  # the first sample whose outputs were not identical

    @property
    def exact_rate(self) -> float:
        return self.exact_samples / self.samples if self.samples else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exact_rate": self.exact_rate}


def random_inputs(interpreter: Any, inputs: int, count: int, seed: int) -> list[list[np.ndarray]]:
    """``count`` random samples for each of ``inputs`` inputs, drawn from their integer range."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        sample = []
        for i in range(inputs):
            d = interpreter.get_input_details(i)
            dtype = np.dtype(d["dtype"])
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                arr = rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(dtype)
            else:
                arr = rng.standard_normal(size=d["shape"]).astype(dtype)
            sample.append(arr)
        samples.append(sample)
    return samples


def run_micro(interpreter: Any, sample: list[np.ndarray], outputs: int) -> list[np.ndarray]:
    """One TFLite Micro inference; returns ``outputs`` output arrays."""
    for i, x in enumerate(sample):
        interpreter.set_input(x, i)
    interpreter.invoke()
    return [np.array(interpreter.get_output(j)) for j in range(outputs)]


def compare_with_litert(
    model: bytes,
    interpreter: Any,
    count: int,
    seed: int = 0,
    samples: list[list[np.ndarray]] | None = None,
    what: str = "<bytes>",
) -> list[OutputParity]:
    """Run the same inputs through TFLite Micro and LiteRT (BUILTIN_REF kernels): ``samples``
    (raw model inputs) when given, else ``count`` random ones.

    Raises:
        InconsistentModelError: the two read different inputs or outputs from ``model`` (a
            damaged file: LiteRT derives shapes from the ops, TFLite Micro takes the declared
            ones), checked before any value is compared.
    """
    from edgesdk.tflite import interpreters
    from edgesdk.tflite.agreement import check_agreement, litert_reading, micro_reading

    ref = interpreters.litert(model, interpreters.Kernels.REFERENCE)
    check_agreement(
        what, [litert_reading(ref, "LiteRT's reference kernels"), micro_reading(interpreter)]
    )
    ins, outs = ref.get_input_details(), ref.get_output_details()
    diffs: list[list[np.ndarray]] = [[] for _ in outs]
    tops: list[int] = [0 for _ in outs]
    firsts: list[int | None] = [None for _ in outs]
    if samples is None:
        samples = random_inputs(interpreter, len(ins), count, seed)
    for n, sample in enumerate(samples):
        for d, x in zip(ins, sample, strict=True):
            ref.set_tensor(d["index"], x)
        ref.invoke()
        expected = [ref.get_tensor(d["index"]) for d in outs]
        got = run_micro(interpreter, sample, len(outs))
        for j, (e, g) in enumerate(zip(expected, got, strict=True)):
            diffs[j].append(np.abs(e.astype(np.int64) - g.astype(np.int64)).reshape(-1))
            if firsts[j] is None and diffs[j][-1].any():
                firsts[j] = n
            if e.ndim == 2 and e.shape[-1] > 1 and np.argmax(e) != np.argmax(g):
                tops[j] += 1
    result = []
    for j, d in enumerate(diffs):
        stacked = np.stack(d)
        result.append(
            OutputParity(
                index=j,
                samples=len(d),
                exact_samples=int(np.sum(np.all(stacked == 0, axis=1))),
                exact_values=int(np.sum(stacked == 0)),
                values=int(stacked.size),
                max_lsb=int(stacked.max()) if stacked.size else 0,
                top1_changes=tops[j],
                first_difference=firsts[j],
            )
        )
    return result

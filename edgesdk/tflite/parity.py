"""TFLite Micro vs LiteRT's reference kernels: the parity rule that export-c and the budget search
share, and the first op where the two runtimes diverge.

LSB differences are facts to report, not a reason to refuse a model (TFLite Micro is the
runtime the device runs); what fails is a changed top-1 class on more than a stated share of
the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.tflite.micro import OutputParity, load_interpreter, run_micro


def parity_failures(
    parity: list[OutputParity], max_top1_change_percent: float
) -> list[OutputParity]:
    """Outputs whose top-1 class changed on more than ``max_top1_change_percent`` of samples."""
    return [p for p in parity if p.top1_changes * 100 > max_top1_change_percent * p.samples]


def parity_message(p: OutputParity, max_top1_change_percent: float) -> str:
    """One line that says how an output failed :func:`parity_failures`."""
    return (
        f"TFLite Micro changes the top-1 class of output {p.index} on {p.top1_changes} of "
        f"{p.samples} samples against LiteRT's reference kernels (allowed: "
        f"{max_top1_change_percent:g}%; max difference {p.max_lsb} LSB)"
    )


def lsb_warnings(parity: list[OutputParity], lsb_tolerance: int) -> list[str]:
    """A note per output whose values differ by more than ``lsb_tolerance`` steps."""
    return [
        f"TFLite Micro differs from LiteRT's reference kernels by up to {p.max_lsb} LSB on "
        f"output {p.index} ({p.samples - p.exact_samples} of {p.samples} samples not identical, "
        f"{p.top1_changes} top-1 changes); TFLite Micro is what the device runs"
        for p in parity
        if p.max_lsb > lsb_tolerance
    ]


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def with_all_outputs(model: bytes) -> tuple[bytes, list[dict[str, Any]]]:
    """The model with every op's output tensor made a subgraph output (the original outputs
    first), and, per added output, which op made it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(model, 0)
    sg = m.subgraphs[0]
    names = _op_names()
    outputs = list(sg.outputs)
    ops = []
    for index, op in enumerate(sg.operators or []):
        code = m.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        for tensor in op.outputs:
            if tensor >= 0 and tensor not in outputs:
                outputs.append(int(tensor))
                ops.append(
                    {
                        "op_index": index,
                        "op": names.get(builtin, str(builtin)),
                        "tensor": (sg.tensors[tensor].name or b"").decode("utf-8", "replace"),
                    }
                )
    sg.outputs = outputs
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), ops


def first_divergence(
    model: bytes, sample: list[np.ndarray], what: str = "<bytes>"
) -> dict[str, Any] | None:
    """The first op (in execution order) whose output differs between TFLite Micro and LiteRT's
    reference kernels on ``sample``: op index and name, tensor, and the largest difference.

    Raises:
        InconsistentModelError: the two read an op's output with different shapes.
    """
    from edgesdk.tflite import interpreters
    from edgesdk.tflite.agreement import check_agreement, litert_reading, micro_reading

    probe, ops = with_all_outputs(model)
    micro, _ = load_interpreter(probe)
    ref = interpreters.litert(probe, interpreters.Kernels.REFERENCE)
    check_agreement(  # every op's output is an output here
        what, [litert_reading(ref, "LiteRT's reference kernels"), micro_reading(micro)]
    )
    ins, outs = ref.get_input_details(), ref.get_output_details()
    for d, x in zip(ins, sample, strict=True):
        ref.set_tensor(d["index"], x)
    ref.invoke()
    got = run_micro(micro, sample, len(outs))
    first = len(outs) - len(ops)
    for k, op in enumerate(ops):
        a = got[first + k].astype(np.int64)
        b = ref.get_tensor(outs[first + k]["index"]).astype(np.int64)
        if a.shape == b.shape and not np.array_equal(a, b):
            return {
                **op,
                "max_lsb": int(np.max(np.abs(a - b))),
                "values_differing": int(np.sum(a != b)),
            }
    return None

"""Which ops of a .tflite model the GPU delegate runs and which fall back to the CPU, and the
partitions that makes, from the delegate's documented op list and constraints (gpu_ops.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from edgesdk.errors import ConfigError


@dataclass(frozen=True)
class GpuRules:
    """The GPU delegate's rules (gpu_ops.toml)."""

    runtime_dtypes: frozenset[str]
    fused_activations: frozenset[str]
    max_rank: int
    max_delegated_partitions: int
    ops: dict[str, dict[str, Any]]


def load_rules(text: str | None = None) -> GpuRules:
    """The rules shipped with edgesdk (or parsed from ``text``).

    Raises:
        ConfigError: malformed rules.
    """
    if text is None:
        text = (resources.files("edgesdk.mobile") / "gpu_ops.toml").read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
        return GpuRules(
            runtime_dtypes=frozenset(data["runtime_dtypes"]),
            fused_activations=frozenset(data["fused_activations"]),
            max_rank=int(data["max_rank"]),
            max_delegated_partitions=int(data["default_max_delegated_partitions"]),
            ops={name: dict(rule) for name, rule in data["ops"].items()},
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"Invalid GPU delegate rules: {e}") from e


@dataclass(frozen=True)
class GpuOp:
    """One op and where it runs."""

    index: int
    op: str
    gpu: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "op": self.op, "gpu": self.gpu, "reason": self.reason}


@dataclass(frozen=True)
class GpuReport:
    """Per-op placement and the delegate partitions (a static check, not a run on a GPU)."""

    ops: tuple[GpuOp, ...]
    partitions: tuple[tuple[int, ...], ...]  # op indices of each GPU partition, in order
    max_delegated_partitions: int

    @property
    def gpu_ops(self) -> int:
        return sum(op.gpu for op in self.ops)

    @property
    def cpu_ops(self) -> tuple[GpuOp, ...]:
        return tuple(op for op in self.ops if not op.gpu)

    @property
    def delegated_ops(self) -> int:
        """Ops on the GPU with the default options (the largest partitions only)."""
        sizes = sorted((len(p) for p in self.partitions), reverse=True)
        return sum(sizes[: self.max_delegated_partitions])

    @property
    def fully_delegated(self) -> bool:
        return not self.cpu_ops and len(self.partitions) <= 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ops": [op.to_dict() for op in self.ops],
            "gpu_ops": self.gpu_ops,
            "cpu_ops": len(self.cpu_ops),
            "partitions": len(self.partitions),
            "partition_ops": [list(p) for p in self.partitions],
            "max_delegated_partitions": self.max_delegated_partitions,
            "delegated_ops_default": self.delegated_ops,
            "fully_delegated": self.fully_delegated,
            "basis": "static check against edgesdk/mobile/gpu_ops.toml (no GPU was used)",
        }


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _names(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _constants(sg: Any, tree: Any) -> set[int]:
    """Indices of the tensors that hold data (weights, shapes, axes)."""
    return {
        i
        for i, t in enumerate(sg.tensors)
        if t.buffer < len(tree.buffers) and tree.buffers[t.buffer].data is not None
    }


def _check_op(op: Any, name: str, sg: Any, const: set[int], rules: GpuRules) -> str:
    """Why ``op`` cannot run on the GPU ('' when it can)."""
    s = _schema()
    rule = rules.ops.get(name)
    if rule is None:
        return f"{name} is not in the GPU delegate's op list"
    dtypes = _names(s.TensorType)
    for i in [*op.inputs, *op.outputs]:
        if i < 0:
            continue
        t = sg.tensors[i]
        shape = [] if t.shape is None else list(t.shape)
        if len(shape) > rules.max_rank:
            return f"tensor {t.name.decode() if isinstance(t.name, bytes) else t.name} has rank {len(shape)} > {rules.max_rank}"
        dtype = dtypes.get(t.type, str(t.type)).lower()
        if i not in const and dtype not in rules.runtime_dtypes:
            return f"{dtype} tensors are not computed on the GPU"
    runtime = [i for i in op.inputs if i >= 0 and i not in const]
    if "runtime_inputs" in rule and len(runtime) > rule["runtime_inputs"]:
        return f"{len(runtime)} non-constant inputs (the delegate takes {rule['runtime_inputs']})"
    for pos in rule.get("const_inputs", []):
        if pos >= len(op.inputs) or op.inputs[pos] not in const:
            return f"input {pos} must be constant"
    opts = op.builtinOptions
    activation = getattr(opts, "fusedActivationFunction", None)
    if activation is not None:
        act = _names(s.ActivationFunctionType).get(activation, str(activation))
        if act not in rules.fused_activations:
            return f"fused activation {act} is not supported"
    for key, want in rule.get("options", {}).items():
        have = getattr(opts, key, None)
        if have is not None and have != want:
            return f"{key}={have} (the delegate needs {want})"
    return ""


def _partitions(ops: list[tuple[Any, bool]], ready: set[int]) -> list[tuple[bool, list[int]]]:
    """TFLite's partitioning: alternately take every op of one kind whose inputs are ready."""
    remaining = list(range(len(ops)))
    produced = set(ready)
    result: list[tuple[bool, list[int]]] = []
    kind = ops[0][1] if ops else True
    while remaining:
        taken: list[int] = []
        progress = True
        while progress:
            progress = False
            for k in remaining:
                op, gpu = ops[k]
                if k in taken or gpu != kind:
                    continue
                if all(i < 0 or i in produced for i in op.inputs):
                    taken.append(k)
                    produced.update(int(o) for o in op.outputs)
                    progress = True
        remaining = [k for k in remaining if k not in taken]
        if taken:
            result.append((kind, sorted(taken)))
        kind = not kind
    return result


def check_gpu(model: bytes, rules: GpuRules | None = None) -> GpuReport:
    """Place each op of the main subgraph on the GPU or the CPU and count the partitions."""
    s = _schema()
    rules = rules or load_rules()
    tree = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    sg = tree.subgraphs[0]
    op_names = _names(s.BuiltinOperator)
    const = _constants(sg, tree)
    placed: list[tuple[Any, bool]] = []
    report: list[GpuOp] = []
    for k, op in enumerate(sg.operators or []):
        code = tree.operatorCodes[op.opcodeIndex]
        name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        if name == "CUSTOM":
            name = (code.customCode or b"CUSTOM").decode("utf-8", "replace")
        reason = _check_op(op, name, sg, const, rules)
        placed.append((op, not reason))
        report.append(GpuOp(k, name, not reason, reason))
    ready = {int(i) for i in sg.inputs} | const
    parts = _partitions(placed, ready)
    return GpuReport(
        ops=tuple(report),
        partitions=tuple(tuple(p) for gpu, p in parts if gpu),
        max_delegated_partitions=rules.max_delegated_partitions,
    )

"""Write ``<name>_model.h`` / ``<name>_model.c``: one call per layer, named constants, weights in
their own const section, activations and I/O in one static buffer laid out by the memory plan."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from io import BytesIO

import numpy as np

from edgesdk.firmware.csource import write_byte_array
from edgesdk.firmware.standalone.graph import Graph
from edgesdk.firmware.standalone.layers import Layer
from edgesdk.firmware.standalone.planner import MemoryPlan

KERNEL_ORDER = (
    "common", "dsp", "conv2d", "depthwise_conv2d", "pointwise_dsp", "conv_dsp", "depthwise_dsp",
    "fully_connected_dsp", "fully_connected", "pool2d", "add", "add_dsp", "resblock", "resblock_dsp", "mul", "mul_dsp", "mean", "pool_dsp", "softmax", "softmax_fixed", "lut", "concatenation", "pad", "quantize",
)  # fmt: skip
_CTYPE = {"int8": "int8_t", "float32": "float"}
PRAGMAS = (
    "/* float32 steps of the reference kernels (softmax, mean, quantize) must not be fused */\n"
    "#if defined(__clang__)\n#pragma STDC FP_CONTRACT OFF\n"
    '#elif defined(__GNUC__)\n#pragma GCC optimize("fp-contract=off")\n#endif\n'
)


@dataclass(frozen=True)
class Sources:
    """The generated files' text and what they hold."""

    header: str
    source: bytes
    weight_bytes: int  # bytes of constant arrays (weights, biases, multipliers, tables)
    kernels: tuple[str, ...]


def kernel_text(name: str) -> str:
    return (resources.files("edgesdk.firmware.standalone") / "kernels" / f"{name}.c").read_text()


def _int_lines(values: np.ndarray, per_line: int = 8) -> str:
    flat = [str(int(v)) for v in np.ravel(values)]
    rows = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    return "".join(f"  {r},\n" for r in rows)


def _float_lines(values: np.ndarray, per_line: int = 4) -> str:
    flat = [f"{float(v).hex()}f" for v in np.ravel(values.astype(np.float32))]
    rows = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    return "".join(f"  {r},\n" for r in rows)


def io_signature(name: str, g: Graph) -> str:
    args = [f"const {_CTYPE[g.tensors[t].dtype]} *input{i}" for i, t in enumerate(g.inputs)] + [
        f"{_CTYPE[g.tensors[t].dtype]} *output{i}" for i, t in enumerate(g.outputs)
    ]
    return f"int {name}_invoke({', '.join(args)})"


def accessors(name: str, g: Graph) -> list[tuple[str, str, int]]:
    """(C type, function name, tensor) of the in-place entry's I/O pointers: ``<name>_input0``
    ... per index, and ``<name>_input`` / ``<name>_output`` too when there is only one."""
    out = []
    for kind, tensors in (("input", g.inputs), ("output", g.outputs)):
        for i, t in enumerate(tensors):
            out.append((_CTYPE[g.tensors[t].dtype], f"{name}_{kind}{i}", t))
        if len(tensors) == 1:
            out.append((_CTYPE[g.tensors[tensors[0]].dtype], f"{name}_{kind}", tensors[0]))
    return out


def _ptr(g: Graph, plan: MemoryPlan, t: int) -> str:
    p = plan.of(t)
    if _CTYPE[g.tensors[t].dtype] == "float":
        return f"(float *)(void *)(es_arena + {p.offset})"
    return f"(es_arena + {p.offset})"


def _comment(text: str) -> str:
    return text.replace("*/", "* /")[:100]


def _pointwise_dsp(g: Graph, plan: MemoryPlan, layer: Layer, sym: str, scratch: int | None) -> str:
    x, out = _ptr(g, plan, layer.op.inputs[0]), _ptr(g, plan, layer.op.outputs[0])
    # each pixel expanded into the scratch (REQUIRED_SCRATCH) before its outputs are written
    return f"es_pointwise16_dsp(&{sym}, {x}, {out}, (es_arena + {scratch}));"


def _depthwise_dsp(g: Graph, plan: MemoryPlan, layer: Layer, sym: str, scratch: int | None) -> str:
    x, out = _ptr(g, plan, layer.op.inputs[0]), _ptr(g, plan, layer.op.outputs[0])
    # the ring of widened rows (in place too: each row is widened before it is overwritten)
    return f"es_depthwise_dsp(&{sym}, {x}, {out}, (int32_t *)(void *)(es_arena + {scratch}));"


def _conv_dsp(g: Graph, plan: MemoryPlan, layer: Layer, sym: str, scratch: int | None) -> str:
    x, out = _ptr(g, plan, layer.op.inputs[0]), _ptr(g, plan, layer.op.outputs[0])
    return f"es_conv_dsp(&{sym}, {x}, {out}, (es_arena + {scratch}));"


def _fully_connected_dsp(
    g: Graph, plan: MemoryPlan, layer: Layer, sym: str, scratch: int | None
) -> str:
    x, out = _ptr(g, plan, layer.op.inputs[0]), _ptr(g, plan, layer.op.outputs[0])
    return f"es_fully_connected_dsp(&{sym}, {x}, {out});"


def _unary(fn: str, g: Graph, plan: MemoryPlan, layer: Layer, sym: str, scratch: int | None) -> str:
    x, out = _ptr(g, plan, layer.op.inputs[0]), _ptr(g, plan, layer.op.outputs[0])
    return f"{fn}(&{sym}, {x}, {out});"


def _resblock(g: Graph, plan: MemoryPlan, layer: Layer, sym: str, scratch: int | None) -> str:
    x, out = _ptr(g, plan, layer.op.inputs[0]), _ptr(g, plan, layer.op.outputs[0])
    c1, c2, add = (f"&op{p.op.index}" for p in layer.parts)
    x_first = dict(layer.fields)["x_first"]
    return f"es_{layer.kernel}({c1}, {c2}, {add}, {x_first}, {x}, {out}, (es_arena + {scratch}));"


DSP_CALLS = {
    "resblock": lambda *a: ["/* residual block, row by row (fuse.py) */", _resblock(*a)],
    "resblock_dsp": lambda *a: ["/* residual block, row by row (fuse.py) */", _resblock(*a)],
    "fully_connected_dsp": lambda *a: [_fully_connected_dsp(*a)],
    "conv_dsp": lambda *a: [_conv_dsp(*a)],
    "pointwise_dsp": lambda *a: [_pointwise_dsp(*a)],
    "depthwise_dsp": lambda *a: [_depthwise_dsp(*a)],
    "avgpool_dsp": lambda *a: [_unary("es_avgpool_dsp", *a)],
    "mean_dsp": lambda *a: [_unary("es_mean_dsp", *a)],
}


def _call(g: Graph, plan: MemoryPlan, layer: Layer, sym: str) -> list[str]:
    op = layer.op
    t = g.tensors
    x, out = op.inputs[0], op.outputs[0]
    k = op.kind
    scratch = next((o for i, o in plan.scratch if i == op.index), None)
    if layer.kernel in DSP_CALLS:
        return DSP_CALLS[layer.kernel](g, plan, layer, sym, scratch)
    if k == "CONV_2D":
        if scratch is None and layer.scratch and op.index not in plan.in_place:
            return [
                "/* without scratch memory: it would raise the peak of the plan */",
                f"es_conv2d_nocol(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)});",
            ]
        col = "0" if scratch is None else f"(es_arena + {scratch})"
        note = ["/* in place: the input sits inside the output, read a pixel at a time */"]
        call = f"es_conv2d(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)}, {col});"
        return [*note, call] if op.index in plan.in_place else [call]
    if k == "DEPTHWISE_CONV_2D":
        if scratch is not None:  # depth multiplier 1: per-channel accumulators in the arena
            acc = f"(int32_t *)(void *)(es_arena + {scratch})"
            if op.index in plan.in_place:
                ring = f"(es_arena + {scratch + 4 * t[out].shape[-1]})"
                return [
                    "/* in place, row by row: the rows still needed are kept in a ring */",
                    f"es_depthwise_conv2d_m1(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)}, "
                    f"{acc}, {ring});",
                ]
            return [
                f"es_depthwise_conv2d_m1(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)}, "
                f"{acc}, 0);"
            ]
        return [f"es_depthwise_conv2d(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)});"]
    if k == "FULLY_CONNECTED":
        return [f"es_fully_connected(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)});"]
    if k in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        is_max = int(k == "MAX_POOL_2D")
        return [f"es_pool2d(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)}, {is_max});"]
    if k in ("ADD", "MUL"):
        fn = f"es_{layer.kernel}"  # es_add, es_add_dsp, es_mul, es_mul_dsp
        a, b = _ptr(g, plan, op.inputs[0]), _ptr(g, plan, op.inputs[1])
        return [f"{fn}(&{sym}, {a}, {b}, {_ptr(g, plan, out)});"]
    if k == "MEAN":
        return [f"es_mean(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)});"]
    if k == "SOFTMAX":
        fn = "es_softmax_fixed" if layer.kernel == "softmax_fixed" else "es_softmax"
        return [f"{fn}(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)});"]
    if layer.kernel == "lut":
        return [
            f"es_lut((const int8_t *){sym}_table, {t[out].size}, {_ptr(g, plan, x)}, "
            f"{_ptr(g, plan, out)});"
        ]
    if k == "QUANTIZE":
        s = f"{float(np.float32(t[out].scale[0])).hex()}f"
        return [
            f"es_quantize_f32({_ptr(g, plan, x)}, {t[out].size}, {s}, {t[out].zp}, {_ptr(g, plan, out)});"
        ]
    if k == "DEQUANTIZE":
        s = f"{float(np.float32(t[x].scale[0])).hex()}f"
        return [
            f"es_dequantize({_ptr(g, plan, x)}, {t[x].size}, {s}, {t[x].zp}, {_ptr(g, plan, out)});"
        ]
    if k == "PAD":
        return [f"es_pad(&{sym}, {_ptr(g, plan, x)}, {_ptr(g, plan, out)});"]
    if k == "CONCATENATION":
        shape = t[out].shape
        axis = op.options.axis % len(shape)
        outer = int(np.prod(shape[:axis])) if axis else 1
        widths = [t[i].size // outer for i in op.inputs]
        ins = ", ".join(_ptr(g, plan, i) for i in op.inputs)
        return [
            "{",
            f"  const int8_t *const ins[{len(widths)}] = {{{ins}}};",
            f"  static const int32_t widths[{len(widths)}] = {{{', '.join(map(str, widths))}}};",
            f"  es_concat(ins, widths, {len(widths)}, {outer}, {_ptr(g, plan, out)});",
            "}",
        ]
    # RESHAPE
    if op.index in plan.aliased:
        return ["/* no code: the output shares the input's memory */"]
    return [
        "{",
        f"  const int8_t *src = {_ptr(g, plan, x)};",
        f"  int8_t *dst = {_ptr(g, plan, out)};",
        f"  int32_t i;\n    for (i = 0; i < {t[out].nbytes}; ++i) dst[i] = src[i];",
        "}",
    ]


def generate(
    name: str, g: Graph, plan: MemoryPlan, layers: list[Layer], section: str, banner: str,
    header_io: str,
) -> Sources:  # fmt: skip
    """The header and the source text of the model."""
    upper = name.upper()
    attr = " EDGESDK_CONST_SECTION"
    section_attr = f'__attribute__((section("{section}")))' if section else ""
    used = {L.kernel for L in layers} | {P.kernel for L in layers for P in L.parts} | {"common"}
    if "conv_dsp" in used:
        used.add("pointwise_dsp")  # its 2x2 multiply loop
    if "avgpool_dsp" in used or "mean_dsp" in used:
        used |= {"pool_dsp", "pool2d", "mean"}  # their sums; the parameter types
    if any(k.endswith("_dsp") for k in used):
        used.add("dsp")  # the intrinsics (or their portable C) the DSP kernels are written with
    kernels = tuple(k for k in KERNEL_ORDER if k in used)
    src = BytesIO()
    w = src.write
    w(banner.encode())
    # no float step at all (integer-only): no pragma about them either
    pragmas = PRAGMAS if any(k in ("softmax", "quantize") for k in kernels) else ""
    w(f'#include <stdint.h>\n\n#include "{name}_model.h"\n\n{pragmas}\n'.encode())
    w(
        b"/* where the constants go (the target profile's section); override with -D */\n"
        + f"#ifndef EDGESDK_CONST_SECTION\n#define EDGESDK_CONST_SECTION {section_attr}\n#endif\n\n".encode()
    )
    w(b"/* ---- kernels (edgesdk standalone engine, bit-exact with TFLite's reference) ---- */\n")
    for k in kernels:
        w(kernel_text(k).encode() + b"\n")
    w(b"/* ---- constants: weights, biases, requantization, tables ---- */\n")
    weight_bytes = 0
    for L in (P for F in layers for P in (F.parts or (F,))):
        sym = f"op{L.op.index}"
        if L.arrays:
            w(f"/* op {L.op.index} {L.op.kind} '{_comment(L.op.name)}' */\n".encode())
        for suffix, ctype, data in L.arrays:
            weight_bytes += data.nbytes
            if ctype in ("int8_t", "uint8_t"):
                w(f"static const uint8_t {sym}_{suffix}[{data.size}]{attr} = {{\n".encode())
                write_byte_array(src, np.ascontiguousarray(data).view(np.uint8).tobytes())
            elif ctype == "float":
                w(f"static const float {sym}_{suffix}[{data.size}]{attr} = {{\n".encode())
                w(_float_lines(data).encode())
            else:
                w(f"static const int32_t {sym}_{suffix}[{data.size}]{attr} = {{\n".encode())
                w(_int_lines(data).encode())
            w(b"};\n")
        if L.params_type:
            fields = [f"  .{k} = {v}," for k, v in L.fields]
            for suffix, ctype, _ in L.arrays:
                cast = "(const int8_t *)" if ctype == "int8_t" else ""
                fields.append(f"  .{suffix} = {cast}{sym}_{suffix},")
            w(f"static const {L.params_type} {sym}{attr} = {{\n".encode())
            w(("\n".join(fields) + "\n};\n").encode())
    w(b"\n/* ---- activations: one static buffer, offsets from the memory plan ---- */\n")
    if plan.arena_bytes:
        words = (plan.arena_bytes + 3) // 4
        w(
            f"static int32_t es_arena_words[{words}];  /* {plan.arena_bytes} bytes at peak */\n".encode()
        )
        w(b"#define es_arena ((int8_t *)es_arena_words)\n\n")
    else:
        w(b"/* no intermediate tensors: no activation buffer */\n\n")
    w(
        b"#ifndef EDGESDK_LAYER_HOOK\n#define EDGESDK_LAYER_HOOK(op) /* per-layer probe, off */\n#endif\n\n"
    )
    for ctype, fn, t in accessors(name, g):
        w(f"{ctype} *{fn}(void) {{ return {_ptr(g, plan, t)}; }}\n".encode())
    w(b"\n")
    w(f"int {name}_invoke_in_place(void) {{\n".encode())
    for L in layers:
        tensors = ", ".join(f"{g.tensors[i].name[:40]}" for i in L.op.outputs)
        w(f"  /* op {L.op.index} {L.op.kind} -> '{_comment(tensors)}' */\n".encode())
        w(f"  EDGESDK_LAYER_HOOK({L.op.index});\n".encode())
        for line in _call(g, plan, L, f"op{L.op.index}"):
            w(f"  {line}\n".encode())
    end = max((L.op.index for L in layers), default=-1) + 1
    w(f"  EDGESDK_LAYER_HOOK({end});\n  return 0;\n}}\n\n".encode())
    w(_copying_entry(name, g, plan).encode())
    header = _header(name, upper, g, plan, banner, header_io)
    return Sources(header=header, source=src.getvalue(), weight_bytes=weight_bytes, kernels=kernels)


def _copying_entry(name: str, g: Graph, plan: MemoryPlan) -> str:
    """``<name>_invoke(inputs..., outputs...)``: copies into the buffer, runs, copies out."""
    lines = [
        "static void es_copy(void *dst, const void *src, int32_t n) {",
        "  int8_t *d = (int8_t *)dst;",
        "  const int8_t *s = (const int8_t *)src;",
        "  while (n-- > 0) *d++ = *s++;",
        "}",
        "",
        f"{io_signature(name, g)} {{",
        "  int status;",
    ]
    for i, t in enumerate(g.inputs):
        lines.append(f"  es_copy({_ptr(g, plan, t)}, input{i}, {g.tensors[t].nbytes});")
    lines.append(f"  status = {name}_invoke_in_place();")
    for i, t in enumerate(g.outputs):
        lines.append(f"  es_copy(output{i}, {_ptr(g, plan, t)}, {g.tensors[t].nbytes});")
    return "\n".join([*lines, "  return status;", "}", ""])


def _header(name: str, upper: str, g: Graph, plan: MemoryPlan, banner: str, io: str) -> str:
    access = "".join(f"{c} *{fn}(void);\n" for c, fn, _ in accessors(name, g))
    return (
        f"{banner}#ifndef EDGESDK_{upper}_MODEL_H_\n#define EDGESDK_{upper}_MODEL_H_\n\n"
        '#include <stdint.h>\n\n#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        "/* standalone engine: activations, inputs, outputs and kernel scratch in one static\n"
        f" * buffer of {plan.arena_bytes} bytes (the model's whole RAM with the in-place entry) */\n"
        f"#define {upper}_ARENA_BYTES {plan.arena_bytes}\n"
        f"#define {upper}_INPUT_COUNT {len(g.inputs)}\n#define {upper}_OUTPUT_COUNT {len(g.outputs)}\n\n"
        f"{io}"
        "/* In-place entry (no I/O buffers of the caller's): write the inputs through these\n"
        f" * pointers into the static buffer, call {name}_invoke_in_place(), read the outputs.\n"
        " * invoke overwrites the inputs; inputs and outputs may share bytes, so read the\n"
        " * outputs before writing the next inputs. */\n"
        f"{access}"
        f"int {name}_invoke_in_place(void);\n\n"
        "/* Copying entry: copies the inputs in, runs, copies the outputs out; returns 0.\n"
        " * Neither entry is reentrant. */\n"
        f"{io_signature(name, g)};\n\n"
        '#ifdef __cplusplus\n}  /* extern "C" */\n#endif\n\n'
        f"#endif  /* EDGESDK_{upper}_MODEL_H_ */\n"
    )

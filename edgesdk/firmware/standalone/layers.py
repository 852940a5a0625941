"""Per-op parameters decided at generation time: shapes, padding, multipliers, activation ranges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgesdk.errors import ExportError
from edgesdk.firmware.standalone import quant
from edgesdk.firmware.standalone.graph import Graph, Op
from edgesdk.firmware.standalone.planner import align


@dataclass(frozen=True)
class Layer:
    """One generated layer: the kernel it calls, its constant params and arrays, its MACs."""

    op: Op
    kernel: str  # which kernels/*.c file it needs
    params_type: str  # C struct type ("" for kernels called with plain arguments)
    fields: tuple[tuple[str, str], ...]  # designated initialiser fields, in order
    arrays: tuple[tuple[str, str, np.ndarray], ...]  # (suffix, C type, data) constant arrays
    macs: int = 0
    # bytes of working memory while the layer runs (planned in the arena); optional: the kernel
    # has a slower variant without it, used when the planner finds it raises the peak
    scratch: int = 0
    overlay_shift: int | None = None  # the op may write over its input placed this far in
    overlay_scratch: int = 0  # working memory when it does
    overlay_rows: bool = False  # the overlay is row_overlay_shift's (planned only if it pays)
    parts: tuple[Layer, ...] = ()  # a fused layer's (fuse.py): their constants, their kernels


def _pad(in_size: int, out_size: int, stride: int, dilation: int, k: int, same: bool) -> int:
    if not same:
        return 0
    eff = (k - 1) * dilation + 1
    total = (out_size - 1) * stride + eff - in_size
    return max(total, 0) // 2


ROW_OVERLAYS = True  # convolutions may be planned over their input (row_overlay_shift)


def row_overlay_shift(
    in_w: int, in_c: int, out_h: int, out_w: int, out_c: int, stride_h: int, pad_t: int
) -> int:
    """How far into a convolution's output its input can start so that a kernel computing the
    output pixels in raster order (each one's reads before its writes, or a pixel pair's) never
    overwrites input it still reads: once output row r is written in full, every later output
    pixel reads input rows >= r * stride_h - pad_t only. Aligned to 4 bytes."""
    in_row, out_row = in_w * in_c, out_w * out_c
    need = max((r + 1) * out_row - max(0, r * stride_h - pad_t) * in_row for r in range(out_h))
    return align(max(0, need))


def _f(**kw: object) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in kw.items())


def _conv(g: Graph, op: Op, depthwise: bool) -> Layer:
    t = g.tensors
    x, w, out = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
    bias = t[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    o = op.options
    _, ih, iw, ic = x.shape
    _, oh, ow, oc = out.shape
    kh, kw = w.shape[1], w.shape[2]
    wd = w.data.astype(np.int64)
    if depthwise:
        per_oc = wd.reshape(kh * kw, oc).sum(axis=0)
    else:
        per_oc = wd.reshape(oc, -1).sum(axis=1)
    b = bias.astype(np.int64) if bias is not None else np.zeros(oc, dtype=np.int64)
    in_off = -x.zp
    mult, shift = quant.conv_multipliers(x.scale[0], w.scale, out.scale[0], oc)
    lo, hi = quant.activation_range(o.activation, out.scale[0], out.zp)
    fields = dict(
        in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
    )  # fmt: skip
    if depthwise:
        fields["depth_mult"] = oc // ic
    fields.update(
        stride_h=o.stride_h, stride_w=o.stride_w, dil_h=o.dilation_h, dil_w=o.dilation_w,
        pad_t=_pad(ih, oh, o.stride_h, o.dilation_h, kh, o.padding == "SAME"),
        pad_l=_pad(iw, ow, o.stride_w, o.dilation_w, kw, o.padding == "SAME"),
    )  # fmt: skip
    if depthwise:
        fields["in_offset"] = in_off
    else:
        fields["in_zp"] = x.zp
    fields.update(out_offset=out.zp, act_min=lo, act_max=hi)
    bias_arrays = (("bias", "int32_t", b.astype(np.int32)),) if depthwise else ()
    arrays = (
        ("weights", "int8_t", w.data),
        *bias_arrays,
        ("bias_eff", "int32_t", (b + in_off * per_oc).astype(np.int32)),
        ("mult", "int32_t", np.array(mult, dtype=np.int32)),
        ("shift", "int32_t", np.array(shift, dtype=np.int32)),
    )
    taps = kh * kw * (1 if depthwise else ic)
    direct = kh == 1 and kw == 1 and fields["pad_t"] == 0 and fields["pad_l"] == 0
    shift, overlay_scratch = None, 0
    if not depthwise and direct and o.stride_h == 1 and o.stride_w == 1:
        # pixel p of the output depends on pixel p of the input only: with the input shifted
        # by out - in bytes, each input pixel is read (into col) before it is overwritten
        shift, overlay_scratch = max(0, out.nbytes - x.nbytes), ic
    overlay_rows = False
    if ROW_OVERLAYS and not depthwise and shift is None:
        # every other convolution runs output row by row: its input can start a few rows into
        # its output (the rows already consumed are overwritten); im2col scratch then required
        shift = row_overlay_shift(
            iw, ic, oh, ow, oc, o.stride_h, fields["pad_t"]
        )  # fmt: skip
        overlay_scratch, overlay_rows = (0 if direct else kh * kw * ic), True
    stride1 = o.stride_h == o.stride_w == o.dilation_h == o.dilation_w == 1
    if (
        depthwise
        and oc == ic
        and stride1
        and out.shape == x.shape
        and fields["pad_t"] == (kh - 1) // 2
    ):
        # row by row: the rows still needed above the current one are kept in a ring
        shift = 0
        overlay_scratch = 4 * oc + (fields["pad_t"] + 1) * iw * ic
    return Layer(
        op,
        "depthwise_conv2d" if depthwise else "conv2d",
        "es_dwconv_params" if depthwise else "es_conv_params",
        _f(**fields),
        arrays,
        macs=oh * ow * oc * taps,
        scratch=(4 * oc if oc == ic else 0) if depthwise else (0 if direct else kh * kw * ic),
        overlay_shift=shift,
        overlay_scratch=overlay_scratch,
        overlay_rows=overlay_rows,
    )


def _fc(g: Graph, op: Op) -> Layer:
    t = g.tensors
    x, w, out = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
    bias = t[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    n_out, depth = w.shape
    b = bias.astype(np.int64) if bias is not None else np.zeros(n_out, dtype=np.int64)
    per_channel = len(w.scale) > 1
    mult, shift = quant.conv_multipliers(
        x.scale[0], w.scale, out.scale[0], n_out if per_channel else 1
    )
    lo, hi = quant.activation_range(op.options.activation, out.scale[0], out.zp)
    eff = b - x.zp * w.data.astype(np.int64).sum(axis=1)
    batches = x.size // depth
    return Layer(
        op,
        "fully_connected",
        "es_fc_params",
        _f(
            batches=batches,
            in_depth=depth,
            out_depth=n_out,
            per_channel=int(per_channel),
            out_offset=out.zp,
            act_min=lo,
            act_max=hi,
        ),  # fmt: skip
        (
            ("weights", "int8_t", w.data),
            ("bias_eff", "int32_t", eff.astype(np.int32)),
            ("mult", "int32_t", np.array(mult, dtype=np.int32)),
            ("shift", "int32_t", np.array(shift, dtype=np.int32)),
        ),
        macs=batches * n_out * depth,
    )


def _pool(g: Graph, op: Op) -> Layer:
    t = g.tensors
    x, out = t[op.inputs[0]], t[op.outputs[0]]
    o = op.options
    _, ih, iw, c = x.shape
    _, oh, ow, _ = out.shape
    lo, hi = quant.activation_range(o.activation, out.scale[0], out.zp)
    return Layer(
        op,
        "pool2d",
        "es_pool_params",
        _f(
            in_h=ih,
            in_w=iw,
            ch=c,
            out_h=oh,
            out_w=ow,
            f_h=o.filter_h,
            f_w=o.filter_w,
            stride_h=o.stride_h,
            stride_w=o.stride_w,
            pad_t=_pad(ih, oh, o.stride_h, 1, o.filter_h, o.padding == "SAME"),
            pad_l=_pad(iw, ow, o.stride_w, 1, o.filter_w, o.padding == "SAME"),
            act_min=lo,
            act_max=hi,
        ),  # fmt: skip
        (),
    )


def _add(g: Graph, op: Op) -> Layer:
    t = g.tensors
    a, b, out = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
    left = 20
    twice = 2.0 * float(np.float32(max(np.float32(a.scale[0]), np.float32(b.scale[0]))))
    m1, s1 = quant.quantize_multiplier(float(a.scale[0]) / twice)
    m2, s2 = quant.quantize_multiplier(float(b.scale[0]) / twice)
    mo, so = quant.quantize_multiplier(
        twice / (float(np.float32((1 << left) * np.float32(out.scale[0]))))
    )
    lo, hi = quant.activation_range(op.options.activation, out.scale[0], out.zp)
    values = range(-128, 128)

    def table(zp: int, m: int, s: int) -> np.ndarray:
        mq = quant.multiply_by_quantized_multiplier
        return np.array([mq((v - zp) << left, m, s) for v in values], dtype=np.int32)

    return Layer(
        op,
        "add",
        "es_add_params",
        _f(
            size=out.size,
            out_offset=out.zp,
            out_mult=mo,
            out_shift=so,
            act_min=lo,
            act_max=hi,
        ),  # fmt: skip
        (("table1", "int32_t", table(a.zp, m1, s1)), ("table2", "int32_t", table(b.zp, m2, s2))),
    )


def _mul(g: Graph, op: Op) -> Layer:
    t = g.tensors
    a, b, out = t[op.inputs[0]], t[op.inputs[1]], t[op.outputs[0]]
    # LiteRT's mul.cc: ``input1->params.scale * input2->params.scale / output->params.scale``,
    # float32 arithmetic widened to double (in double, 2 of 65536 input pairs came out one
    # step off on a quantization the differential run found)
    real = np.float32(np.float32(a.scale[0]) * np.float32(b.scale[0])) / np.float32(out.scale[0])
    m, s = quant.quantize_multiplier(float(np.float32(real)))
    lo, hi = quant.activation_range(op.options.activation, out.scale[0], out.zp)
    return Layer(
        op,
        "mul",
        "es_mul_params",
        _f(
            size=out.size,
            in1_offset=-a.zp,
            in2_offset=-b.zp,
            out_offset=out.zp,
            out_mult=m,
            out_shift=s,
            act_min=lo,
            act_max=hi,
        ),  # fmt: skip
        (),
    )


def _mean(g: Graph, op: Op) -> Layer:
    t = g.tensors
    x, out = t[op.inputs[0]], t[op.outputs[0]]
    _, ih, iw, c = x.shape
    m, s = quant.quantize_multiplier(float(x.scale[0]) / float(out.scale[0]))
    m, s = quant.mean_multiplier(m, s, ih * iw)
    return Layer(
        op,
        "mean",
        "es_mean_params",
        _f(
            in_h=ih,
            in_w=iw,
            ch=c,
            in_zp=x.zp,
            out_zp=out.zp,
            mult=m,
            shift=s,
        ),  # fmt: skip
        (),
    )


def _float_literal(v: np.float32) -> str:
    return f"{float(v).hex()}f" if np.isfinite(v) else "0.0f"


def _softmax(g: Graph, op: Op) -> Layer:
    t = g.tensors
    x, out = t[op.inputs[0]], t[op.outputs[0]]
    depth = x.shape[-1]
    table = quant.softmax_table(x.scale[0], op.options.beta)
    return Layer(
        op,
        "softmax",
        "es_softmax_params",
        _f(
            rows=x.size // depth,
            depth=depth,
            out_zp=out.zp,
            out_scale=_float_literal(np.float32(out.scale[0])),
        ),
        (("table", "float", table),),
    )


def _fixed_softmax_params(g: Graph, op: Op) -> tuple[int, int, int] | None:
    """The fixed-point kernel's parameters, or None where it cannot run (an output other than
    scale 1/256, zero point -128; beta * input scale at or below 2^-26)."""
    x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if out.zp != -128 or abs(out.scale[0] - 1 / 256) > 0.001 / 256:
        return None
    return quant.softmax_fixed_params(x.scale[0], op.options.beta)


def _softmax_fixed(g: Graph, op: Op) -> Layer:
    """The integer-only int8 softmax of TFLite's reference kernels and TFLite Micro (no float at
    run time)."""
    t = g.tensors
    x, out = t[op.inputs[0]], t[op.outputs[0]]
    params = _fixed_softmax_params(g, op)
    if params is None:
        raise ExportError(
            f"Integer-only SOFTMAX (op {op.index}) needs an int8 output of scale 1/256 and zero "
            f"point -128 and beta * input scale > 2^-26, got scale {out.scale[0]!r}, zero point "
            f"{out.zp}, beta {op.options.beta!r} (export without integer_only)"
        )
    depth = x.shape[-1]
    table = quant.softmax_exp_table(*params)  # multiplier, left shift, diff_min
    return Layer(
        op,
        "softmax_fixed",
        "es_softmax_fixed_params",
        _f(rows=x.size // depth, depth=depth, table_size=len(table)),
        (("exp_table", "int32_t", table),),
    )


def build_layer(
    g: Graph,
    op: Op,
    lut: np.ndarray | None = None,
    integer_only: bool = False,
    float_softmax: bool = False,
) -> Layer:
    """The Layer for ``op`` (``lut``: the 256-entry table of an element-wise op;
    ``integer_only``: refuse a SOFTMAX the fixed-point kernel cannot run instead of falling
    back to the float table)."""
    k = op.kind
    if k == "CONV_2D":
        return _conv(g, op, False)
    if k == "DEPTHWISE_CONV_2D":
        return _conv(g, op, True)
    if k == "FULLY_CONNECTED":
        return _fc(g, op)
    if k in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return _pool(g, op)
    if k == "ADD":
        return _add(g, op)
    if k == "MUL":
        return _mul(g, op)
    if k == "MEAN":
        return _mean(g, op)
    if k == "SOFTMAX":
        # the fixed-point kernel wherever it runs: bit-exact with BUILTIN_REF and TFLite Micro
        # (the float table differed by 1 LSB on 17 of 3.2 M values); the float one otherwise
        fixed = integer_only or (not float_softmax and _fixed_softmax_params(g, op) is not None)
        return _softmax_fixed(g, op) if fixed else _softmax(g, op)
    if k in ("LOGISTIC", "QUANTIZE") and lut is not None:
        return Layer(op, "lut", "", (), (("table", "int8_t", lut),))
    if k in ("QUANTIZE", "DEQUANTIZE"):
        return Layer(op, "quantize", "", (), ())
    if k == "PAD":
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        pads = g.tensors[op.inputs[1]].data
        value = out.zp
        if len(op.inputs) > 2 and g.tensors[op.inputs[2]].data is not None:
            value = int(np.ravel(g.tensors[op.inputs[2]].data)[0])
        return Layer(
            op,
            "pad",
            "es_pad_params",
            _f(
                in_h=x.shape[1],
                in_w=x.shape[2],
                ch=x.shape[3],
                out_h=out.shape[1],
                out_w=out.shape[2],
                top=int(pads[1][0]),
                left=int(pads[2][0]),
                value=value,
            ),  # fmt: skip
            (),
        )
    if k == "CONCATENATION":
        return Layer(op, "concatenation", "", (), ())
    return Layer(op, "", "", (), ())  # RESHAPE: an alias or a copy

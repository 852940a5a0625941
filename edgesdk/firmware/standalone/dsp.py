"""DSP-extension kernels (SXTB16, SMLAD, SMLABB/SMLATT), chosen at generation time for cores that
have the extension: each specialises a portable layer, its weights re-packed in the order the
kernel's inner loop reads them."""

from __future__ import annotations

import dataclasses

import numpy as np

from edgesdk.firmware.standalone.graph import Graph
from edgesdk.firmware.standalone.layers import Layer

# kernel sets of the standalone engine: "portable" C99 everywhere, "dsp" where the core has the
# DSP extension (ARMv7E-M; ARMv8-M Mainline with it); the profile's [mcu] core decides
KERNEL_SETS = ("portable", "dsp")
DSP_CORES = frozenset(
    {
        "cortex-m4",
        "cortex-m4f",
        "cortex-m7",
        "cortex-m33",
        "cortex-m35p",
        "cortex-m55",
        "cortex-m85",
    }
)
# kernels without a variant that needs no scratch
REQUIRED_SCRATCH = frozenset({"conv_dsp", "depthwise_dsp", "pointwise_dsp"})
MAX_ROWS = 32  # ES_DW_MAX_ROWS in kernels/depthwise_dsp.c


def kernel_set_for(core: str | None) -> str:
    """The kernel set for a profile's [mcu] core (None: no core, the host: portable)."""
    return "dsp" if core in DSP_CORES else "portable"


def pack_pointwise16(w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """[out_c, in_c] int8 and [out_c] int32 -> the int32 words of es_pw_groups: per group of 4
    channels (zero channels after the last) their 4 biases, then per 4 inputs k, for each
    channel the signed halfword pairs (w_k, w_k+2), (w_k+1, w_k+3), low half first; then per
    in_c % 4 last input one word per channel."""
    oc, ic = w.shape
    pad = -oc % 4
    w = np.vstack([w, np.zeros((pad, ic), dtype=w.dtype)]).astype(np.int32)
    b = np.concatenate([bias.astype(np.int64), np.zeros(pad, np.int64)]).reshape(-1, 4)
    groups = w.reshape(-1, 4, ic)  # [g][ch][k]
    body = ic - ic % 4
    blk = groups[:, :, :body].reshape(len(groups), 4, body // 4, 4)  # [g][ch][b][k]
    even = (blk[..., 0] & 0xFFFF) | ((blk[..., 2] & 0xFFFF) << 16)
    odd = (blk[..., 1] & 0xFFFF) | ((blk[..., 3] & 0xFFFF) << 16)
    main = np.stack([even, odd], -1).transpose(0, 2, 1, 3).reshape(len(groups), -1)  # [g][b][ch][2]
    tail = groups[:, :, body:].transpose(0, 2, 1).reshape(len(groups), -1)  # [g][k][ch]
    words = np.concatenate(
        [b & 0xFFFFFFFF, main.astype(np.int64) & 0xFFFFFFFF, tail.astype(np.int64) & 0xFFFFFFFF],
        1,
    )
    return np.ascontiguousarray(words.astype(np.uint32).view(np.int32).reshape(-1))


def pack_fc4(w: np.ndarray) -> np.ndarray:
    """[out, depth] int8 -> the bytes es_fc_groups reads: per group of 4 channels (zero channels
    after the last) and per 4 inputs k, for each channel its 4 weights w_k..w_k+3; then per
    depth % 4 last input k, the 4 channels' w_k."""
    oc, depth = w.shape
    w = np.vstack([w, np.zeros((-oc % 4, depth), dtype=w.dtype)])
    groups = w.reshape(-1, 4, depth)  # [g][ch][k]
    body = depth - depth % 4
    main = groups[:, :, :body].reshape(len(groups), 4, body // 4, 4).transpose(0, 2, 1, 3)
    tail = groups[:, :, body:].transpose(0, 2, 1)  # [g][k][ch]
    flat = np.concatenate([main.reshape(len(groups), -1), tail.reshape(len(groups), -1)], 1)
    return np.ascontiguousarray(flat.reshape(-1).astype(np.int8))


def pack_depthwise(w: np.ndarray) -> np.ndarray:
    """[taps, ch] int8 (ch % 4 == 0) -> int32 words [ch / 4][taps]{(c, c+2), (c+1, c+3)}: signed
    halfword pairs, low half first, as SMLABB / SMLATT read them."""
    taps, ch = w.shape
    g = w.astype(np.int32).reshape(taps, ch // 4, 4).transpose(1, 0, 2)  # [group][tap][4]
    lo, hi = g[..., [0, 1]] & 0xFFFF, g[..., [2, 3]] & 0xFFFF
    words = (lo | (hi << 16)).astype(np.uint32).view(np.int32)
    return np.ascontiguousarray(words.reshape(-1))


def acc_bound(weights: np.ndarray, bias_eff: np.ndarray) -> np.ndarray:
    """Per output channel, the largest |accumulator| a kernel can reach: |bias_eff| + 128 *
    sum|w| (the kernels multiply the raw int8 inputs, -128..127, zero points in bias_eff; a
    padded tap reads the input zero point, an int8 too). ``weights``: [channels, taps]."""
    w = np.abs(weights.reshape(len(bias_eff), -1).astype(np.int64)).sum(axis=1)
    return np.abs(bias_eff.astype(np.int64)) + 128 * w


def requant_constants(
    mult: np.ndarray, shift: np.ndarray, bound: np.ndarray | None = None
) -> np.ndarray:
    """Per channel the four constants of es_requant_rq (dsp.c). Where ``bound`` (acc_bound: the
    largest |accumulator| of the channel) proves that x << (left + 1) cannot overflow, the right
    shift is at least 1 and the multiplier not negative, the fast form {multiplier, left + 1,
    2^(right - 1), right} (SMMLAR, one shift); else the exact one {multiplier, ~left, 2^right - 1,
    right} (~left < 0 tells them apart). Without ``bound`` every channel takes the exact form."""
    mult, shift = mult.astype(np.int64), shift.astype(np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    fast = np.zeros(len(mult), dtype=bool)
    if bound is not None:
        limit = (1 << 30) - 1
        fast = (right >= 1) & (mult >= 0) & (bound.astype(np.int64) <= (limit >> left))
    round_half = np.where(right >= 1, 1 << np.maximum(right - 1, 0), 0)
    rq = np.stack(
        [
            mult,
            np.where(fast, left + 1, ~left),
            np.where(fast, round_half, (1 << right) - 1),
            right,
        ],
        axis=1,
    )
    return np.ascontiguousarray(rq.astype(np.int32).reshape(-1))


def all_fast(rq: np.ndarray) -> bool:
    """Every channel of requant_constants' ``rq`` has the fast form (es_requant_row's `fast`)."""
    return bool((rq.reshape(-1, 4)[:, 1] > 0).all())


def _fields(layer: Layer) -> dict[str, str]:
    return dict(layer.fields)


def _arrays(layer: Layer) -> dict[str, np.ndarray]:
    return {suffix: data for suffix, _, data in layer.arrays}


def _bound(a: dict[str, np.ndarray], channels: int) -> np.ndarray:
    return acc_bound(a["weights"].reshape(channels, -1), a["bias_eff"])


def _pointwise(g: Graph, layer: Layer) -> Layer | None:
    f, a = _fields(layer), _arrays(layer)
    one = f["k_h"] == f["k_w"] == "1" and f["pad_t"] == f["pad_l"] == "0"
    if not (one and f["stride_h"] == f["stride_w"] == "1"):
        return None
    oc, ic = int(f["out_c"]), int(f["in_c"])
    fields = (
        ("in_c", f["in_c"]), ("out_c", f["out_c"]),
        ("pixels", str(int(f["out_h"]) * int(f["out_w"]))),
        ("out_offset", f["out_offset"]), ("act_min", f["act_min"]), ("act_max", f["act_max"]),
    )  # fmt: skip
    rq = requant_constants(a["mult"], a["shift"], _bound(a, oc))
    fields += (("rq_fast", str(int(all_fast(rq)))),)
    arrays = (
        ("weights", "int32_t", pack_pointwise16(a["weights"].reshape(oc, ic), a["bias_eff"])),
        ("rq", "int32_t", rq),
    )
    # each pixel expanded (es_pw_expand) before its outputs are written: in place too; required
    return dataclasses.replace(
        layer, kernel="pointwise_dsp", params_type="es_pw16_params", fields=fields, arrays=arrays,
        scratch=2 * ic, overlay_scratch=2 * ic,
    )  # fmt: skip


def _conv(g: Graph, layer: Layer) -> Layer:
    f, a = _fields(layer), _arrays(layer)
    oc = int(f["out_c"])
    taps = int(f["k_h"]) * int(f["k_w"]) * int(f["in_c"])
    rq = requant_constants(a["mult"], a["shift"], _bound(a, oc))
    arrays = (
        ("weights", "int32_t", pack_pointwise16(a["weights"].reshape(oc, taps), a["bias_eff"])),
        ("rq", "int32_t", rq),
    )
    fields = (*layer.fields, ("rq_fast", str(int(all_fast(rq)))))
    # the gather buffer of one pixel and its expansion are required (REQUIRED_SCRATCH); in
    # place too (layers.row_overlay_shift: a pixel is gathered before its outputs are written,
    # pixels in raster order)
    overlay = 3 * taps if layer.overlay_shift is not None else 0
    return dataclasses.replace(
        layer, kernel="conv_dsp", params_type="es_conv_dsp_params", arrays=arrays, fields=fields,
        scratch=3 * taps, overlay_scratch=overlay,
    )  # fmt: skip


def _depthwise(g: Graph, layer: Layer) -> Layer | None:
    f, a = _fields(layer), _arrays(layer)
    oc, kh, kw = int(f["out_c"]), int(f["k_h"]), int(f["k_w"])
    if kh > MAX_ROWS:
        return None
    groups, pad = -(-oc // 4), -oc % 4
    span = (kh - 1) * int(f["dil_h"]) + 1
    wp = (int(f["out_w"]) - 1) * int(f["stride_w"]) + (kw - 1) * int(f["dil_w"]) + 1
    left = min(int(f["pad_l"]), wp)
    keep = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h",
            "stride_w", "dil_h", "dil_w", "pad_t", "pad_l", "depth_mult")  # fmt: skip
    zp = -int(f["in_offset"])
    zp2 = np.array([(zp & 0xFFFF) | ((zp & 0xFFFF) << 16)], dtype=np.uint32).view(np.int32)
    fields = tuple((k, f[k]) for k in keep) + (
        ("groups", str(groups)), ("wp", str(wp)), ("span", str(span)),
        ("left", str(left)), ("mid", str(min(int(f["in_w"]), wp - left))),
        ("out_offset", f["out_offset"]), ("act_min", f["act_min"]), ("act_max", f["act_max"]),
        ("zp2", str(int(zp2[0]))),
    )  # fmt: skip
    w = a["weights"].reshape(kh * kw, oc)
    w = np.concatenate([w, np.zeros((kh * kw, pad), dtype=w.dtype)], axis=1)
    zeros = np.zeros(pad, dtype=np.int32)
    bias = np.concatenate([a["bias_eff"], zeros])
    # raw int8 inputs (padding reads the zero point), zero points folded into bias_eff
    rq = requant_constants(
        np.concatenate([a["mult"], zeros]),
        np.concatenate([a["shift"], zeros]),
        acc_bound(w.T, bias),
    )
    arrays = (
        ("weights", "int32_t", pack_depthwise(w)),
        ("bias_eff", "int32_t", bias),
        ("rq", "int32_t", rq),
    )
    # the ring of widened padded rows: also what makes the in-place case safe
    ring = span * wp * 8 + int(f["out_w"]) * 16  # one group's rows, and a row's accumulators
    return dataclasses.replace(
        layer, kernel="depthwise_dsp", params_type="es_dw_dsp_params", fields=fields,
        arrays=arrays, scratch=ring, overlay_scratch=ring if layer.overlay_shift is not None else 0,
    )  # fmt: skip


def _fully_connected(g: Graph, layer: Layer) -> Layer:
    a = _arrays(layer)
    n_out, depth = g.tensors[layer.op.inputs[1]].shape
    bias = np.concatenate([a["bias_eff"], np.zeros(-n_out % 4, dtype=np.int32)])
    arrays = (
        ("weights", "int8_t", pack_fc4(a["weights"].reshape(n_out, depth))),
        ("bias_eff", "int32_t", bias),
        *((s, "int32_t", a[s]) for s in ("mult", "shift")),
    )
    return dataclasses.replace(
        layer, kernel="fully_connected_dsp", params_type="es_fc_dsp_params", arrays=arrays
    )


def _add(g: Graph, layer: Layer) -> Layer:
    f, a = _fields(layer), _arrays(layer)
    rq = requant_constants(np.array([int(f["out_mult"])]), np.array([int(f["out_shift"])]))
    fields = tuple((k, f[k]) for k in ("size", "out_offset", "act_min", "act_max"))
    arrays = (("table1", "int32_t", a["table1"]), ("table2", "int32_t", a["table2"]))
    return dataclasses.replace(
        layer, kernel="add_dsp", params_type="es_add_dsp_params", fields=fields,
        arrays=(*arrays, ("rq", "int32_t", rq)),
    )  # fmt: skip


def _mul(g: Graph, layer: Layer) -> Layer:
    f = _fields(layer)
    rq = requant_constants(np.array([int(f["out_mult"])]), np.array([int(f["out_shift"])]))

    def pair(v: int) -> str:  # the offset in both halfwords, as an int32
        return str(int(np.array([(v & 0xFFFF) * 0x10001], dtype=np.uint32).view(np.int32)[0]))

    fields = tuple((k, f[k]) for k in ("size", "out_offset", "act_min", "act_max"))
    fields += (("off1", pair(int(f["in1_offset"]))), ("off2", pair(int(f["in2_offset"]))))
    return dataclasses.replace(
        layer, kernel="mul_dsp", params_type="es_mul_dsp_params", fields=fields,
        arrays=(("rq", "int32_t", rq),),
    )  # fmt: skip


def _pool(g: Graph, layer: Layer) -> Layer:
    """AVERAGE_POOL_2D with channels a multiple of 4 and at most 256 values a window, MEAN:
    four channels a load (the same parameters)."""
    f = _fields(layer)
    if layer.kernel == "mean":
        return dataclasses.replace(layer, kernel="mean_dsp")
    average = layer.op.kind == "AVERAGE_POOL_2D"
    if average and int(f["ch"]) % 4 == 0 and int(f["f_h"]) * int(f["f_w"]) <= 256:
        return dataclasses.replace(layer, kernel="avgpool_dsp")
    return layer


def specialise(g: Graph, layer: Layer) -> Layer:
    """``layer`` on a DSP kernel where one fits its shape, else unchanged (portable C)."""
    if layer.kernel == "conv2d":
        return _pointwise(g, layer) or _conv(g, layer)
    if layer.kernel == "depthwise_conv2d":
        return _depthwise(g, layer) or layer
    if layer.kernel == "fully_connected":
        return _fully_connected(g, layer)
    if layer.kernel == "add":
        return _add(g, layer)
    if layer.kernel == "mul":
        return _mul(g, layer)
    if layer.kernel in ("pool2d", "mean"):
        return _pool(g, layer)
    return layer

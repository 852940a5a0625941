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
REQUIRED_SCRATCH = frozenset({"conv_dsp"})  # kernels without a variant that needs no scratch
MAX_TAPS = 64  # ES_DW_MAX_TAPS in kernels/depthwise_dsp.c


def kernel_set_for(core: str | None) -> str:
    """The kernel set for a profile's [mcu] core (None: no core, the host: portable)."""
    return "dsp" if core in DSP_CORES else "portable"


def pack_pointwise(w: np.ndarray) -> np.ndarray:
    """[out_c, in_c] int8 -> the byte order of es_pw_2x2: channel pairs (a zero channel after an
    odd last one); per 4 inputs [a0 b0 a2 b2][a1 b1 a3 b3], then the in_c % 4 last as [a b]."""
    oc, ic = w.shape
    if oc % 2:
        w = np.vstack([w, np.zeros((1, ic), dtype=w.dtype)])
    pairs = w.reshape(-1, 2, ic)
    body = ic - ic % 4
    blk = pairs[:, :, :body].reshape(len(pairs), 2, body // 4, 4)
    even = np.stack([blk[:, 0, :, 0], blk[:, 1, :, 0], blk[:, 0, :, 2], blk[:, 1, :, 2]], -1)
    odd = np.stack([blk[:, 0, :, 1], blk[:, 1, :, 1], blk[:, 0, :, 3], blk[:, 1, :, 3]], -1)
    main = np.concatenate([even, odd], axis=-1).reshape(len(pairs), 2 * body)
    tail = pairs[:, :, body:].transpose(0, 2, 1).reshape(len(pairs), -1)
    return np.ascontiguousarray(np.concatenate([main, tail], axis=1).reshape(-1).astype(np.int8))


def pack_pointwise16(w: np.ndarray) -> np.ndarray:
    """[out_c, in_c] int8 -> the int32 words of es_pw_1x4: per group of 4 channels (zero
    channels after the last) and per 4 inputs k, for each channel the signed halfword pairs
    (w_k, w_k+2), (w_k+1, w_k+3), low half first; then per in_c % 4 last input one word per
    channel."""
    oc, ic = w.shape
    pad = -oc % 4
    w = np.vstack([w, np.zeros((pad, ic), dtype=w.dtype)]).astype(np.int32)
    groups = w.reshape(-1, 4, ic)  # [g][ch][k]
    body = ic - ic % 4
    blk = groups[:, :, :body].reshape(len(groups), 4, body // 4, 4)  # [g][ch][b][k]
    even = (blk[..., 0] & 0xFFFF) | ((blk[..., 2] & 0xFFFF) << 16)
    odd = (blk[..., 1] & 0xFFFF) | ((blk[..., 3] & 0xFFFF) << 16)
    main = np.stack([even, odd], -1).transpose(0, 2, 1, 3).reshape(len(groups), -1)  # [g][b][ch][2]
    tail = groups[:, :, body:].transpose(0, 2, 1).reshape(len(groups), -1)  # [g][k][ch]
    words = np.concatenate(
        [main.astype(np.int64) & 0xFFFFFFFF, tail.astype(np.int64) & 0xFFFFFFFF], 1
    )
    return np.ascontiguousarray(words.astype(np.uint32).view(np.int32).reshape(-1))


def pack_depthwise(w: np.ndarray) -> np.ndarray:
    """[taps, ch] int8 (ch % 4 == 0) -> int32 words [ch / 4][taps]{(c, c+2), (c+1, c+3)}: signed
    halfword pairs, low half first, as SMLABB / SMLATT read them."""
    taps, ch = w.shape
    g = w.astype(np.int32).reshape(taps, ch // 4, 4).transpose(1, 0, 2)  # [group][tap][4]
    lo, hi = g[..., [0, 1]] & 0xFFFF, g[..., [2, 3]] & 0xFFFF
    words = (lo | (hi << 16)).astype(np.uint32).view(np.int32)
    return np.ascontiguousarray(words.reshape(-1))


def requant_constants(mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Per channel {multiplier, left shift, right shift, 2^right - 1} (es_requant_rq)."""
    shift = shift.astype(np.int64)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    rq = np.stack([mult.astype(np.int64), left, right, (1 << right) - 1], axis=1)
    return np.ascontiguousarray(rq.astype(np.int32).reshape(-1))


def _fields(layer: Layer) -> dict[str, str]:
    return dict(layer.fields)


def _arrays(layer: Layer) -> dict[str, np.ndarray]:
    return {suffix: data for suffix, _, data in layer.arrays}


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
    bias = np.concatenate([a["bias_eff"], np.zeros(-oc % 4, dtype=np.int32)])
    arrays = (
        ("weights", "int32_t", pack_pointwise16(a["weights"].reshape(oc, ic))),
        ("bias_eff", "int32_t", bias),
        ("rq", "int32_t", requant_constants(a["mult"], a["shift"])),
    )
    # in place, the pixel is copied out before its outputs overwrite it
    overlay = ic if layer.overlay_shift is not None else 0
    return dataclasses.replace(
        layer, kernel="pointwise_dsp", params_type="es_pw16_params", fields=fields, arrays=arrays,
        scratch=0, overlay_scratch=overlay,
    )  # fmt: skip


def _conv(g: Graph, layer: Layer) -> Layer:
    f, a = _fields(layer), _arrays(layer)
    oc = int(f["out_c"])
    taps = int(f["k_h"]) * int(f["k_w"]) * int(f["in_c"])
    arrays = (
        ("weights", "int8_t", pack_pointwise(a["weights"].reshape(oc, taps))),
        ("bias_eff", "int32_t", a["bias_eff"]),
        ("rq", "int32_t", requant_constants(a["mult"], a["shift"])),
    )
    # the gather buffer of two pixels is required (REQUIRED_SCRATCH): no variant without it;
    # in place (layers.row_overlay_shift: two pixels gathered before either is written) too
    overlay = 2 * taps if layer.overlay_shift is not None else 0
    return dataclasses.replace(
        layer, kernel="conv_dsp", params_type="es_conv_dsp_params", arrays=arrays,
        scratch=2 * taps, overlay_scratch=overlay,
    )  # fmt: skip


def _depthwise(g: Graph, layer: Layer) -> Layer | None:
    f, a = _fields(layer), _arrays(layer)
    ch, taps = int(f["out_c"]), int(f["k_h"]) * int(f["k_w"])
    if f["depth_mult"] != "1" or ch % 4 or taps > MAX_TAPS:
        return None
    keep = ("in_h", "in_w", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w", "dil_h",
            "dil_w", "pad_t", "pad_l", "out_offset", "act_min", "act_max")  # fmt: skip
    fields = tuple((k, f[k]) for k in keep[:2]) + (("ch", str(ch)),)
    fields += tuple((k, f[k]) for k in keep[2:])
    zp = -int(f["in_offset"])
    arrays = (
        ("weights", "int32_t", pack_depthwise(a["weights"].reshape(taps, ch))),
        ("bias_eff", "int32_t", a["bias_eff"]),
        ("rq", "int32_t", requant_constants(a["mult"], a["shift"])),
        ("zp_row", "int8_t", np.full(ch, zp, dtype=np.int8)),
    )
    ring = layer.overlay_scratch - 4 * ch if layer.overlay_shift is not None else 0
    return dataclasses.replace(
        layer, kernel="depthwise_dsp", params_type="es_dw_dsp_params", fields=fields,
        arrays=arrays, scratch=0, overlay_scratch=ring,
    )  # fmt: skip


def _fully_connected(g: Graph, layer: Layer) -> Layer:
    a = _arrays(layer)
    n_out, depth = g.tensors[layer.op.inputs[1]].shape
    arrays = (
        ("weights", "int8_t", pack_pointwise(a["weights"].reshape(n_out, depth))),
        *((s, "int32_t", a[s]) for s in ("bias_eff", "mult", "shift")),
    )
    return dataclasses.replace(
        layer, kernel="fully_connected_dsp", params_type="es_fc_dsp_params", arrays=arrays
    )


def specialise(g: Graph, layer: Layer) -> Layer:
    """``layer`` on a DSP kernel where one fits its shape, else unchanged (portable C)."""
    if layer.kernel == "conv2d":
        return _pointwise(g, layer) or _conv(g, layer)
    if layer.kernel == "depthwise_conv2d":
        return _depthwise(g, layer) or layer
    if layer.kernel == "fully_connected":
        return _fully_connected(g, layer)
    return layer

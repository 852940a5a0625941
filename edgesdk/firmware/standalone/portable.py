"""Portable-kernel weight packing (the C99 kernels the host, Cortex-M0/M0+ and every core without
the DSP extension run), applied at generation time to the layers the DSP set did not take.

CONV_2D and FULLY_CONNECTED multiply 8 output channels per pass (``es_mac8`` in
kernels/common.c): weights [ceil(rows / 8)][taps][8] as unsigned bytes w + 128 (one LDRB with an
immediate offset on ARMv6-M, no sign extension; the kernel subtracts 128 * sum(input) once per
column), rows rounded up to 8 with zero weights and zero bias."""

from __future__ import annotations

import dataclasses

import numpy as np

from edgesdk.firmware.standalone.graph import Graph
from edgesdk.firmware.standalone.layers import Layer

GROUP = 8  # ES_G in kernels/common.c: output channels per pass


def pack_rows(w: np.ndarray) -> np.ndarray:
    """[rows, taps] int8 -> uint8 [ceil(rows / 8)][taps][8] of w + 128 (padding rows: 128)."""
    rows, taps = w.shape
    pad = -rows % GROUP
    w = np.vstack([w.astype(np.int16), np.zeros((pad, taps), dtype=np.int16)]) + 128
    w = w.reshape(-1, GROUP, taps).transpose(0, 2, 1)
    return np.ascontiguousarray(w.reshape(-1).astype(np.uint8))


def _pad_rows(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a, np.zeros(-len(a) % GROUP, dtype=a.dtype)])


def _repack(layer: Layer, rows: int) -> Layer:
    arrays = []
    for suffix, ctype, data in layer.arrays:
        if suffix == "weights":
            arrays.append((suffix, "uint8_t", pack_rows(np.asarray(data).reshape(rows, -1))))
        elif suffix == "bias_eff":
            arrays.append((suffix, ctype, _pad_rows(np.asarray(data))))
        else:
            arrays.append((suffix, ctype, data))
    return dataclasses.replace(layer, arrays=tuple(arrays))


def specialise(g: Graph, layer: Layer) -> Layer:
    """``layer`` with its weights in the portable kernels' order (unchanged for other kernels)."""
    if layer.kernel == "conv2d":
        f = dict(layer.fields)
        out = _repack(layer, int(f["out_c"]))
        zp_row = np.full(int(f["k_w"]) * int(f["in_c"]), int(f["in_zp"]), dtype=np.int8)
        return dataclasses.replace(out, arrays=(*out.arrays, ("zp_row", "int8_t", zp_row)))
    if layer.kernel == "fully_connected":
        return _repack(layer, int(dict(layer.fields)["out_depth"]))
    return layer

"""Test vectors for a C bundle: inputs from the user's data (or random), expected outputs from
the host TFLite Micro interpreter, no top-1 ties."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.errors import ExportError
from edgesdk.firmware.csource import C_TYPES, camel
from edgesdk.tflite.micro import random_inputs, run_micro
from edgesdk.tflite.model_info import ModelInfo


def c_array(ctype: str, ident: str, rows: list[np.ndarray]) -> str:
    flat = [
        ", ".join(str(int(v) if ctype != "float" else float(v)) for v in r.reshape(-1))
        for r in rows
    ]
    inner = ",\n".join(f"  {{{row}}}" for row in flat)
    return f"static const {ctype} {ident}[{len(rows)}][{rows[0].size}] = {{\n{inner}\n}};\n"


def test_vectors_header(
    name: str, banner: str, interpreter: Any, info: ModelInfo, samples: list[list[np.ndarray]]
) -> str:
    upper, cname = name.upper(), camel(name)
    inputs, outputs = info.io_tensors()
    count = len(samples)
    results = [run_micro(interpreter, s, len(outputs)) for s in samples]
    parts = [
        banner,
        f"#ifndef EDGESDK_{upper}_TEST_VECTORS_H_\n#define EDGESDK_{upper}_TEST_VECTORS_H_\n\n",
        f'#include "{name}_model.h"\n\n',
        "/* Expected outputs are TFLite Micro's on the host for these inputs. */\n",
        f"enum {{ k{cname}TestVectorCount = {count} }};\n\n",
    ]
    for i, t in enumerate(inputs):
        parts.append(
            c_array(
                C_TYPES.get(t.dtype, "uint8_t"), f"k{cname}TestInput{i}", [s[i] for s in samples]
            )
        )
    for j, t in enumerate(outputs):
        parts.append(
            c_array(
                C_TYPES.get(t.dtype, "uint8_t"), f"k{cname}TestOutput{j}", [r[j] for r in results]
            )
        )
    parts.append(f"\n#endif  /* EDGESDK_{upper}_TEST_VECTORS_H_ */\n")
    return "".join(parts)


def samples_for(
    interpreter: Any, info: ModelInfo, spec: str | None, count: int, seed: int
) -> tuple[list[list[np.ndarray]], str]:
    """Raw model inputs for parity checks and test vectors: the user's data (quantized with
    the input's scale and zero point) when given, else random values of the input type."""
    inputs, _ = info.io_tensors()
    if spec is None:
        return random_inputs(interpreter, len(inputs), count, seed), "random"
    from edgesdk.core.options import Normalization, TensorSpec
    from edgesdk.inputs.samples import open_samples
    from edgesdk.tflite.runner import quantize_array

    specs = [TensorSpec(t.name, (None, *t.shape[1:]), "float32") for t in inputs]
    source = open_samples(spec, specs, Normalization(), False, limit=count)
    loaded = source.read(np.arange(min(count, source.count)))  # only the samples used
    samples = []
    for n in range(min(count, loaded.count)):
        sample = []
        for t, s in zip(inputs, specs, strict=True):
            x = loaded.arrays[s.name][n : n + 1]
            if t.quantized and np.dtype(t.dtype).kind in "iu":
                x = quantize_array(x, t.scale[0], t.zero_point[0], np.dtype(t.dtype))
            sample.append(x.astype(np.dtype(t.dtype)))
        samples.append(sample)
    return samples, spec


def untied(
    interpreter: Any,
    info: ModelInfo,
    samples: list[list[np.ndarray]],
    count: int,
    warnings: list[str],
) -> list[list[np.ndarray]]:
    """``count`` samples whose expected top-1 class is not a tie (a tie cannot tell a right
    answer from a wrong one); ties only when there are not enough others (with a warning)."""
    if not count:
        return []
    _, outputs = info.io_tensors()
    clear, tied = [], []
    for sample in samples:
        first = run_micro(interpreter, sample, len(outputs))[0].reshape(-1)
        top = np.sort(first)[-2:] if first.size > 1 else first
        (tied if first.size > 1 and top[0] == top[-1] else clear).append(sample)
    chosen = (clear + tied)[:count]
    if len(chosen) < count:
        raise ExportError(
            f"Only {len(chosen)} samples for {count} test vectors (give more data or fewer "
            "vectors)",
            what="test_vectors",
            value=count,
        )
    ties = sum(1 for s in chosen if any(s is t for t in tied))
    if ties:
        warnings.append(f"{ties} test vector(s) have a tie for the top class (not enough others)")
    return chosen

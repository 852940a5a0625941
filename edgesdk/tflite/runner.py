"""Running .tflite models on the host with LiteRT: float in, float out, (de)quantizing at the edges."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from edgesdk.errors import DatasetError
from edgesdk.tflite import interpreters, metrics
from edgesdk.tflite.interpreters import Kernels


def natural_key(name: str) -> list[Any]:
    """Sort key that orders output_2 before output_10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def quantize_array(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Float → integer with the tensor's scale and zero point, rounded and clipped."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_array(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer → float with the tensor's scale and zero point."""
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)


class TfliteRunner:
    """Runs a .tflite model sample by sample through its serving signature.

    Inputs are given by name as float arrays and quantized as the model needs; outputs come
    back in signature order (output_0, output_1, ...) both raw and dequantized.
    """

    def __init__(self, model: bytes, reference_kernels: bool = False, threads: int | None = None):
        kernels = Kernels.REFERENCE if reference_kernels else Kernels.DEFAULT
        self.interpreter = interpreters.litert(model, kernels, threads, allocate=False)
        signatures = self.interpreter.get_signature_list()
        self.signature = next(iter(signatures)) if signatures else None
        if self.signature is None:
            self.runner = None
            self.interpreter.allocate_tensors()
            self.input_details = {d["name"]: d for d in self.interpreter.get_input_details()}
            self.output_names = [d["name"] for d in self.interpreter.get_output_details()]
            self.output_details = {d["name"]: d for d in self.interpreter.get_output_details()}
        else:
            self.runner = self.interpreter.get_signature_runner(self.signature)
            self.input_details = self.runner.get_input_details()
            self.output_details = self.runner.get_output_details()
            self.output_names = sorted(self.output_details, key=natural_key)

    @property
    def input_names(self) -> list[str]:
        return list(self.input_details)

    def map_inputs(self, names: list[str]) -> dict[str, str]:
        """Model input name → signature input name (by name; by position for one input).

        Raises:
            DatasetError: a name matches no model input, or several.
        """
        sig = self.input_names
        if len(sig) == 1 and len(names) == 1:
            return {names[0]: sig[0]}
        mapping = {}
        for name in names:
            match = [
                s
                for s in sig
                if s == name or s.endswith(f"_{name}") or re.sub(r"\W", "_", name) == s
            ]
            if len(match) != 1:
                raise DatasetError(
                    f"Input {name!r} matches {'no' if not match else 'more than one'} model "
                    f"input (model inputs: {', '.join(sig)})",
                    what="input name",
                    value=name,
                    allowed=sig,
                )
            mapping[name] = match[0]
        return mapping

    def _quantize_input(self, name: str, x: np.ndarray) -> np.ndarray:
        d = self.input_details[name]
        dtype = np.dtype(d["dtype"])
        if dtype.kind in "iu":
            scale, zero = d["quantization"]
            return quantize_array(x, scale, zero, dtype)
        return x.astype(dtype)

    def run_one(self, sample: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference; ``sample`` holds arrays with a batch dimension, by signature name.

        Returns raw output arrays (integer for an integer output).
        """
        feed = {k: self._quantize_input(k, v) for k, v in sample.items()}
        if self.runner is not None:
            out = self.runner(**feed)
            return [out[n] for n in self.output_names]
        for name, value in feed.items():
            self.interpreter.set_tensor(self.input_details[name]["index"], value)
        self.interpreter.invoke()
        return [
            self.interpreter.get_tensor(self.output_details[n]["index"]) for n in self.output_names
        ]

    def dequantize_output(self, position: int, raw: np.ndarray) -> np.ndarray:
        d = self.output_details[self.output_names[position]]
        if np.dtype(d["dtype"]).kind in "iu":
            scale, zero = d["quantization"]
            return dequantize_array(raw, scale, zero)
        return raw.astype(np.float32)

    def batchable(self) -> bool:
        """True when every input has a free batch dimension (so a whole batch runs at once)."""
        if self.runner is None:
            return False
        return all(
            len(d.get("shape_signature", ())) > 0 and d["shape_signature"][0] == -1
            for d in self.input_details.values()
        )

    def run(
        self, arrays: dict[str, np.ndarray], batch_size: int = 256
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Run every sample; ``arrays`` are float, keyed by signature name.

        Models with a free batch dimension run ``batch_size`` samples per invoke; others one
        sample at a time.

        Returns:
            (raw outputs, dequantized float outputs), each one stacked array per output.
        """
        count = len(next(iter(arrays.values())))
        step = batch_size if self.batchable() else 1
        raw: list[list[np.ndarray]] = [[] for _ in self.output_names]
        for i in range(0, count, step):
            outs = self.run_one({k: v[i : i + step] for k, v in arrays.items()})
            for j, o in enumerate(outs):
                raw[j].append(o)
        stacked = [np.concatenate(r) for r in raw]
        return stacked, [self.dequantize_output(j, r) for j, r in enumerate(stacked)]


def top1_accuracy(model: bytes, arrays: dict[str, np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy (a fraction) of a .tflite classifier with LiteRT; inputs by model name."""
    runner = TfliteRunner(model)
    mapping = runner.map_inputs(list(arrays))
    _, outputs = runner.run({mapping[k]: v for k, v in arrays.items()})
    return metrics.top1_accuracy(outputs[0], labels)


class RawIo:
    """A model's raw tensors in interpreter order, for runtimes that take raw integers (TFLite
    Micro, the on-device runner, LiteRT's reference kernels): float inputs by name are
    quantized in subgraph order; raw outputs are dequantized back into signature order."""

    def __init__(self, model: bytes, input_names: list[str]):
        self.model = model
        runner = TfliteRunner(model)
        mapping = runner.map_inputs(input_names)
        interpreter = runner.interpreter
        self.in_details = interpreter.get_input_details()
        self.out_details = interpreter.get_output_details()
        position = {d["index"]: i for i, d in enumerate(self.in_details)}
        self.input_order = [""] * len(self.in_details)
        for name in input_names:
            self.input_order[position[runner.input_details[mapping[name]]["index"]]] = name
        out_position = {d["index"]: i for i, d in enumerate(self.out_details)}
        names = sorted(runner.output_details, key=natural_key)
        self.output_order = [out_position[runner.output_details[n]["index"]] for n in names]

    def raw_inputs(self, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        raw = []
        for d, name in zip(self.in_details, self.input_order, strict=True):
            dtype = np.dtype(d["dtype"])
            x = arrays[name]
            if dtype.kind in "iu":
                scale, zero = d["quantization"]
                raw.append(quantize_array(x, scale, zero, dtype))
            else:
                raw.append(x.astype(dtype))
        return raw

    def dequantize(self, raw_outputs: list[np.ndarray]) -> list[np.ndarray]:
        result = []
        for position in self.output_order:
            d, q = self.out_details[position], raw_outputs[position]
            if np.dtype(d["dtype"]).kind in "iu":
                scale, zero = d["quantization"]
                result.append(dequantize_array(q, scale, zero))
            else:
                result.append(q.astype(np.float32))
        return result

    def scales(self) -> list[float | None]:
        result = []
        for position in self.output_order:
            d = self.out_details[position]
            quantized = np.dtype(d["dtype"]).kind in "iu" and d["quantization"][0]
            result.append(float(d["quantization"][0]) if quantized else None)
        return result

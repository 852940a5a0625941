"""The built-in demo with PyTorch: the digits CNN trained in torch, saved as a ``.pt2`` program,
quantized to int8 for an MCU through the PyTorch front end, exported as firmware C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import QuantizeOptions
from edgesdk.demos.digits import DEMO_TARGET, DemoResult, load_digits_split, tflite_accuracy


def build_torch_cnn(seed: int = 0) -> Any:
    """Conv - ReLU - MaxPool - Conv - ReLU - Linear, for (N, 1, 8, 8) digits."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def train_torch_cnn(x: np.ndarray, y: np.ndarray, epochs: int = 30, seed: int = 0) -> Any:
    """Adam on NCHW digits, seeded; the model in eval mode."""
    import torch

    model = build_torch_cnn(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        for idx in np.array_split(order.permutation(len(x)), max(1, len(x) // 32)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def run_torch_demo(
    out_dir: str | Path = "edgesdk-demo", target: str = DEMO_TARGET, epochs: int = 30
) -> DemoResult:
    """Train the torch digits CNN, save it as ``digits_cnn.pt2``, quantize it to int8 for
    ``target`` (NCHW data, NHWC .tflite) and measure both on held-out digits.

    Raises:
        ModelError: torch or litert-torch is not installed (with the pip command).
    """
    from edgesdk.core.fileio import check_writable
    from edgesdk.core.profiles import load_profile
    from edgesdk.firmware.engines import ExportRequest, export
    from edgesdk.inputs.torch_models import import_torch
    from edgesdk.quantization.job import quantize

    torch = import_torch()
    out = Path(out_dir).expanduser().absolute()
    check_writable(out / "demo.json")
    x_train, x_test, y_train, y_test = (np.ascontiguousarray(a) for a in load_digits_split())
    x_train, x_test = (np.ascontiguousarray(np.moveaxis(a, -1, 1)) for a in (x_train, x_test))
    start = time.perf_counter()
    model = train_torch_cnn(x_train, y_train, epochs=epochs)
    train_seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "digits_cnn.pt2"
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), model_path)
    calibration = out / "digits_train_nchw.npz"
    np.savez(calibration, x=x_train, y=y_train)
    test = out / "digits_test_nchw.npz"
    np.savez(test, x=x_test, y=y_test)
    tflite_path = out / "digits_cnn_int8.tflite"
    profile = load_profile(target)
    result = quantize(model_path, calibration, tflite_path, profile, QuantizeOptions())
    with torch.no_grad():
        predicted = model(torch.from_numpy(x_test)).argmax(1).numpy()
    float_acc = float(np.mean(predicted == y_test))
    int8_acc = tflite_accuracy(tflite_path.read_bytes(), np.moveaxis(x_test, 1, -1), y_test)
    result.save(out / "quantize.json")
    firmware = export(
        ExportRequest(tflite_path, profile, out / "firmware", test_vectors=4, force=True)
    )
    files = (Path(firmware.out_dir) / f for f in firmware.files)
    manifest = tflite_path.with_name(tflite_path.name + ".manifest.json")
    demo = DemoResult(
        out_dir=str(out),
        target=target,
        train_samples=len(x_train),
        test_samples=len(x_test),
        float_accuracy=float_acc,
        int8_accuracy=int8_acc,
        train_seconds=train_seconds,
        artifacts=tuple(
            str(p)
            for p in (*files, model_path, calibration, test, tflite_path, manifest)
            + (out / "quantize.json", out / "demo.json")
        ),
        quantization=result,
        export=firmware,
    )
    demo.save(out / "demo.json")
    return demo

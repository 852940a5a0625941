"""A PyTorch model on a device: the int8 .tflite quantized from a saved program deployed to a
loopback device (a real sshd on 127.0.0.1), benchmarked there, and evaluated there against the
PyTorch float model on held-out digits (NCHW data, the device's .tflite fed NHWC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="PyTorch tests need edgesdk[torch]")

import torch  # noqa: E402
from torch_nets import digits_nchw, trained_digits_cnn  # noqa: E402

import edgesdk  # noqa: E402
from edgesdk.errors import BenchmarkError  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def torch_digits(tmp_path_factory):
    """The trained CNN as a .pt2, its int8 .tflite, and the 397 held-out digits (NCHW)."""
    folder = tmp_path_factory.mktemp("torch_device")
    x, y = digits_nchw()
    program = torch.export.export(trained_digits_cnn(), (torch.from_numpy(x[:1]),))
    torch.export.save(program, folder / "digits.pt2")
    np.save(folder / "cal.npy", x[:1400])
    out = folder / "digits_torch.tflite"
    edgesdk.quantize(folder / "digits.pt2", folder / "cal.npy", out)
    return folder, out, x[1400:], y[1400:]


def test_a_torch_model_is_deployed_benchmarked_and_evaluated_on_a_device(
    trusted_device, torch_digits
):
    from edgesdk.devices.benchmark import BenchmarkOptions
    from edgesdk.tflite.runner import TfliteRunner, quantize_array

    folder, model, x, y = torch_digits
    deployed = edgesdk.deploy(model, "pi")
    assert deployed.action == "uploaded"
    assert (Path(trusted_device.workdir) / "current.tflite").read_bytes() == model.read_bytes()
    # one real digit, NHWC and quantized with the input's scale and zero point
    scale, zero = next(iter(TfliteRunner(model.read_bytes()).input_details.values()))[
        "quantization"
    ]
    sample = quantize_array(np.moveaxis(x[:1], 1, -1), scale, zero, np.dtype(np.int8))
    np.save(folder / "one.npy", sample)
    bench = edgesdk.benchmark(
        model,
        "pi",
        BenchmarkOptions(runs=30, warmup=3, threads=1, input_file=str(folder / "one.npy")),
    ).to_dict()
    assert bench["device"] == "pi" and bench["n"] == 30 and bench["outputs_finite"]
    assert bench["runtime"] in ("ai_edge_litert", "tflite_runtime")
    assert 0 < bench["min_ms"] <= bench["p50_ms"] <= bench["p99_ms"]
    assert bench["input_source"] != "random"  # the uploaded digit
    # on the device, the PyTorch float model as the reference, the same NCHW digits
    np.savez(folder / "test.npz", x=x, y=y)
    result = edgesdk.evaluate(folder / "digits.pt2", [model], str(folder / "test.npz"), device="pi")
    runs = {r.runtime: r for r in result.runs}
    device_runs = [r for name, r in runs.items() if "pi" in name]
    assert runs["float (PyTorch)"].samples == len(x) and len(device_runs) == 1, list(runs)
    on_device = device_runs[0]
    assert on_device.samples == len(x) and on_device.fidelity[0].top1_agreement >= 0.97
    assert abs(on_device.top1 - runs["float (PyTorch)"].top1) <= 0.02
    print(
        f"\n[torch on loopback device] p50 {bench['p50_ms']:.4f} ms, min {bench['min_ms']:.4f} ms "
        f"({bench['runtime']}); top-1 device {on_device.top1:.3f}, PyTorch "
        f"{runs['float (PyTorch)'].top1:.3f}, agreement {on_device.fidelity[0].top1_agreement:.3f}"
    )


def test_a_bad_input_file_is_one_line_and_leaves_the_device_as_it_was(trusted_device, torch_digits):
    """The check can fail: an input with the wrong number of values for the model."""
    from edgesdk.devices.benchmark import BenchmarkOptions

    folder, model, _, _ = torch_digits
    edgesdk.deploy(model, "pi")
    np.save(folder / "wrong.npy", np.zeros((1, 3, 8, 8), np.int8))
    with pytest.raises(BenchmarkError) as e:
        edgesdk.benchmark(
            model, "pi", BenchmarkOptions(runs=3, input_file=str(folder / "wrong.npy"))
        )
    assert "\n" not in str(e.value) and "has shape (1, 3, 8, 8)" in str(e.value), str(e.value)
    assert (Path(trusted_device.workdir) / "current.tflite").read_bytes() == model.read_bytes()

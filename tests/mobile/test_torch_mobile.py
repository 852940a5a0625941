"""A PyTorch image classifier packaged for mobile: NCHW training data, an NHWC int8 .tflite,
uint8 I/O from edgesdk's requantize rewrite, loaded by MediaPipe and agreeing with LiteRT."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("litert_torch", reason="PyTorch tests need edgesdk[torch]")

import torch  # noqa: E402
from mobile_data import LABELS  # noqa: E402
from torch import nn  # noqa: E402

import edgesdk  # noqa: E402
from edgesdk.mobile.clients import litert_top1, mediapipe_top1  # noqa: E402
from edgesdk.tflite.layout_record import read_layout  # noqa: E402

pytestmark = pytest.mark.torch


def _train(x: np.ndarray, y: np.ndarray) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 6 * 6, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = np.random.default_rng(0)
    for _ in range(8):
        for idx in np.array_split(order.permutation(len(x)), len(x) // 32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def test_a_torch_classifier_is_packaged_and_loaded_by_mediapipe(rgb_digits, labels_file, tmp_path):
    x_train, x_test, y_train, y_test = rgb_digits  # uint8 NHWC pixels
    nchw = np.ascontiguousarray(x_train.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    model = _train(nchw, y_train.astype(np.int64))
    program = tmp_path / "rgb.pt2"
    torch.export.save(torch.export.export(model, (torch.from_numpy(nchw[:1]),)), program)
    np.save(tmp_path / "cal.npy", nchw)
    int8 = tmp_path / "rgb_int8.tflite"
    result = edgesdk.quantize(
        program, tmp_path / "cal.npy", int8, target="android-arm64",
        options=edgesdk.QuantizeOptions(io="int8"),
    )  # fmt: skip
    assert result.inputs[0].shape == (1, 24, 24, 3) and result.float_ops == ()
    packaged = tmp_path / "rgb_pkg.tflite"
    pkg = edgesdk.package(
        int8, packaged, labels_file, "android-arm64", mean=0, std=255, requantize_io=True
    )
    # the NCHW -> NHWC layout recorded at quantize time survives the uint8 rewrite and the
    # metadata, and the package says it (its result, its notes, the input's description)
    assert pkg.layout["from"] == "NCHW" and pkg.layout["tflite_input_shape"] == [1, 24, 24, 3]
    assert any("converted from the PyTorch model's NCHW" in n for n in pkg.notes)
    assert "NCHW [1, 3, 24, 24]" in pkg.metadata["input_description"]
    assert read_layout(packaged.read_bytes()).to_dict() == pkg.layout
    mp_idx, mp_names, _ = mediapipe_top1(packaged, x_test)
    rt_idx, _ = litert_top1(packaged, x_test, (0.0,), (255.0,))
    assert [LABELS[i] for i in mp_idx] == mp_names
    assert np.mean(np.asarray(mp_idx) == np.asarray(rt_idx)) >= 0.99
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(x_test.transpose(0, 3, 1, 2)) / 255.0)
        expected = model(x.float()).argmax(1).numpy()
    assert np.mean(np.asarray(mp_idx) == expected) >= 0.97
    assert np.mean(np.asarray(mp_idx) == y_test) > 0.85

"""Representative data loaders and their checks, on scikit-learn's digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgesdk.core.options import Normalization, TensorSpec
from edgesdk.errors import DatasetError
from edgesdk.inputs.samples import check_spec, load_samples, split_samples

IMG = [TensorSpec("digit", (None, 8, 8, 1))]
NORM = Normalization()


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory, digits):
    """Digits written as 8x8 PNGs in one folder per class (real images, real decoding)."""
    x_train, _, y_train, _ = digits
    root = tmp_path_factory.mktemp("images")
    for i in range(60):
        folder = root / f"class_{y_train[i]}"
        folder.mkdir(exist_ok=True)
        pixels = (x_train[i, :, :, 0] * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return root, x_train[:60], y_train[:60]


def test_image_folder_resized_normalized_and_labelled(digit_images):
    root, x, y = digit_images
    s = load_samples(str(root), IMG, NORM)
    arr = s.arrays["digit"]
    assert arr.shape == (60, 8, 8, 1) and arr.dtype == np.float32
    assert 0.0 <= arr.min() and arr.max() <= 1.0
    assert s.labels is not None and len(set(s.labels)) > 3
    order = sorted(range(60), key=lambda i: (f"class_{y[i]}", f"{i}.png"))
    assert np.abs(arr - x[order]).max() <= 1 / 255 + 1e-6  # only the uint8 rounding of the PNG
    assert [int(v) for v in s.labels] == [
        sorted({f"class_{v}" for v in y}).index(f"class_{y[i]}") for i in order
    ]


def test_image_folder_rgb_with_mean_std(digit_images):
    root, _, _ = digit_images
    spec = [TensorSpec("rgb", (None, 12, 12, 3))]
    s = load_samples(str(root), spec, Normalization(mean=(127.5,), std=(127.5,)))
    arr = s.arrays["rgb"]
    assert arr.shape == (60, 12, 12, 3)
    assert -1.0 <= arr.min() < -0.9 and 0.9 < arr.max() <= 1.0


def test_empty_folder(tmp_path):
    with pytest.raises(DatasetError, match="No images in data folder"):
        load_samples(str(tmp_path), IMG, NORM)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(DatasetError, match="Data not found"):
        check_spec(str(tmp_path / "nope.npz"))
    bad = tmp_path / "data.csv"
    bad.write_text("1,2\n")
    with pytest.raises(DatasetError, match="Unsupported data file"):
        check_spec(str(bad))


def test_npz_maps_inputs_by_name_not_position(tmp_path):
    a = np.random.default_rng(0).random((10, 3), dtype=np.float32)
    b = np.random.default_rng(1).random((10, 8, 8, 1), dtype=np.float32)
    path = tmp_path / "d.npz"
    np.savez(path, meta=a, image=b)
    specs = [TensorSpec("image", (None, 8, 8, 1)), TensorSpec("meta", (None, 3))]
    s = load_samples(str(path), specs, NORM)
    assert np.array_equal(s.arrays["image"], b) and np.array_equal(s.arrays["meta"], a)
    np.savez(path, image=b, other=a)
    with pytest.raises(DatasetError, match=r"missing: \['meta'\]"):
        load_samples(str(path), specs, NORM)


def test_float64_and_uint8_are_cast_with_a_note(tmp_path, digits):
    x = digits[0][:40]
    path = tmp_path / "x.npy"
    np.save(path, x.astype(np.float64))
    s = load_samples(str(path), IMG, NORM)
    assert s.arrays["digit"].dtype == np.float32
    assert any("float64 data cast to float32" in n for n in s.notes)
    np.save(path, (x * 255).astype(np.uint8))
    s = load_samples(str(path), IMG, NORM)
    assert s.arrays["digit"].max() > 200  # no silent scaling
    assert any("uint8 data cast to float32 without scaling" in n for n in s.notes)
    s = load_samples(str(path), IMG, NORM, normalize_arrays=True)
    assert s.arrays["digit"].max() <= 1.0
    assert np.allclose(s.arrays["digit"], (x * 255).astype(np.uint8) / 255, atol=1e-6)


def test_missing_batch_dimension_is_added(tmp_path, digits):
    path = tmp_path / "one.npy"
    np.save(path, digits[0][0])
    s = load_samples(str(path), IMG, NORM)
    assert s.arrays["digit"].shape == (1, 8, 8, 1)
    assert any("batch dimension added" in n for n in s.notes)


def test_wrong_shape_names_expected_and_got(tmp_path, digits):
    path = tmp_path / "flat.npy"
    np.save(path, digits[0][:20].reshape(20, 64))
    with pytest.raises(DatasetError, match=r"has shape \(N, 64\); expected \(N, 8, 8, 1\)"):
        load_samples(str(path), IMG, NORM)


def test_nan_and_constant_are_errors(tmp_path, digits):
    x = digits[0][:20].copy()
    x[3, 2, 2, 0] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, x)
    with pytest.raises(DatasetError, match="1 NaN/inf values \\(first in sample 3\\)"):
        load_samples(str(path), IMG, NORM)
    np.save(path, np.zeros((20, 8, 8, 1), np.float32))
    with pytest.raises(DatasetError, match="is constant"):
        load_samples(str(path), IMG, NORM)


def test_callable_spec_from_file_and_module(tmp_path, monkeypatch, digits):
    np.save(tmp_path / "digits.npy", digits[0][:30])
    (tmp_path / "mydata.py").write_text(
        "import numpy as np, pathlib\n"
        "def samples():\n"
        "    x = np.load(pathlib.Path(__file__).parent / 'digits.npy')\n"
        "    for row in x:\n"
        "        yield row  # no batch dimension\n"
        "def broken():\n"
        "    raise RuntimeError('boom')\n"
    )
    s = load_samples(f"{tmp_path / 'mydata.py'}:samples", IMG, NORM)
    assert s.arrays["digit"].shape == (30, 8, 8, 1)
    monkeypatch.chdir(tmp_path)
    s = load_samples("mydata:samples", IMG, NORM, limit=10)
    assert s.count == 10
    with pytest.raises(DatasetError, match="mydata:broken failed: RuntimeError: boom"):
        load_samples("mydata:broken", IMG, NORM)
    with pytest.raises(DatasetError, match="has no function 'nothing'"):
        load_samples("mydata:nothing", IMG, NORM)


def test_split_keeps_held_out_apart():
    arr = np.arange(300, dtype=np.float32).reshape(300, 1)
    from edgesdk.inputs.samples import Samples

    split = split_samples(Samples({"x": arr}, None, "t"), calibration=200, held_out=200, seed=0)
    cal = set(split.calibration.arrays["x"][:, 0])
    held = set(split.held_out.arrays["x"][:, 0])
    assert len(cal) == 200 and len(held) == 100 and not cal & held
    small = split_samples(
        Samples({"x": arr[:30]}, None, "t"), calibration=200, held_out=200, seed=0
    )
    assert small.calibration.count == 24 and small.held_out.count == 6
    assert any("only 24 calibration samples" in n for n in small.notes)

"""Large array files: only the samples used are read (peak memory measured in a child process),
and those samples are the same as a full read gives."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgesdk.core.options import Normalization, TensorSpec
from edgesdk.errors import DatasetError
from edgesdk.inputs.samples import load_samples, open_samples, plan_split, read_split, split_samples

ROOT = Path(__file__).resolve().parents[2]
ROW = (28, 28, 1)  # 3,136 bytes of float32 per sample
COUNT = 128_000  # ~400 MB
SPECS = [TensorSpec("x", (None, *ROW))]
CAL, HELD, SEED = 200, 0, 0

# Runs in a fresh interpreter: peak RSS (ru_maxrss, KiB on Linux) after the imports, then after
# opening the file and reading the split that quantize uses (200 calibration samples).
CHILD = """
import json, resource, sys
import numpy as np
from edgesdk.core.options import Normalization, TensorSpec
from edgesdk.inputs.samples import open_samples, read_split
path, cal, held, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
specs = [TensorSpec("x", (None, 28, 28, 1))]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
split = read_split(open_samples(path, specs, Normalization()), cal, held, seed)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
x = split.calibration.arrays["x"]
print(json.dumps({"grew_kib": after - before, "count": len(x), "sum": float(x.sum())}))
"""


def _write_sparse(path: Path) -> np.ndarray:
    """A ~400 MB float32 .npy that is a hole on disk except the rows the split will use (random
    values there, so the data is not constant); returns those rows' values by position."""
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(COUNT, *ROW))
    used = plan_split(COUNT, CAL, HELD, SEED).calibration
    values = np.random.default_rng(1).random((len(used), *ROW), dtype=np.float32)
    x[used] = values
    x.flush()
    del x
    return values


def _stored_npz(npy: Path, npz: Path) -> None:
    """``npy`` as member ``x.npy`` of an uncompressed .npz (what ``np.savez`` writes), copied in
    chunks so the test itself never holds the array."""
    with zipfile.ZipFile(npz, "w", zipfile.ZIP_STORED) as zf, npy.open("rb") as src:
        with zf.open("x.npy", "w", force_zip64=True) as dst:
            while chunk := src.read(1 << 24):
                dst.write(chunk)


def _measure(path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(CAL), str(HELD), str(SEED)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_large_file_reads_only_the_samples_used(tmp_path, kind):
    npy = tmp_path / "big.npy"
    values = _write_sparse(npy)
    path = npy
    if kind == "npz":
        path = tmp_path / "big.npz"
        _stored_npz(npy, path)
        npy.unlink()
    size_kib = path.stat().st_size // 1024
    got = _measure(path)
    assert got["count"] == CAL
    assert got["sum"] == pytest.approx(float(values.sum(dtype=np.float64)), rel=1e-5)
    # a full read costs the file's size at least (1.9x it before this was fixed: the array,
    # its float32 copy and the NaN mask); 200 samples are 0.6 MB
    assert got["grew_kib"] < size_kib / 16, (got, size_kib)


def _small(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.random((300, *ROW), dtype=np.float32), rng.integers(0, 10, 300)


@pytest.mark.parametrize("writer", ["npy", "savez", "savez_compressed"])
def test_partial_read_gives_the_same_samples_as_a_full_read(tmp_path, writer):
    x, y = _small(tmp_path)
    if writer == "npy":
        path = tmp_path / "d.npy"
        np.save(path, x)
    else:
        path = tmp_path / "d.npz"
        getattr(np, writer)(path, x=x, y=y)
    full = load_samples(str(path), SPECS, Normalization())
    want = split_samples(full, 100, 40, 7)
    got = read_split(open_samples(str(path), SPECS, Normalization()), 100, 40, 7)
    for a, b in ((want.calibration, got.calibration), (want.held_out, got.held_out)):
        assert np.array_equal(a.arrays["x"], b.arrays["x"])
        assert (a.labels is None) == (b.labels is None)
        if a.labels is not None:
            assert np.array_equal(a.labels, b.labels)
    assert want.notes == got.notes
    rows = [5, 299, 5, 0]  # any order, repeats allowed
    assert np.array_equal(
        open_samples(str(path), SPECS, Normalization()).read(rows).arrays["x"], x[rows]
    )


@pytest.mark.parametrize("writer", ["npy", "savez", "savez_compressed"])
def test_validation_of_the_samples_read_names_their_place_in_the_file(tmp_path, writer):
    x, _ = _small(tmp_path)
    x[123, 4, 4, 0] = np.inf
    path = tmp_path / ("d.npy" if writer == "npy" else "d.npz")
    np.save(path, x) if writer == "npy" else getattr(np, writer)(path, x=x)
    source = open_samples(str(path), SPECS, Normalization())
    with pytest.raises(DatasetError, match=r"1 NaN/inf values \(first in sample 123\)"):
        source.read([7, 123, 9])
    assert source.read([7, 9]).count == 2  # the damaged sample is not among them
    constant = np.zeros_like(x)
    constant[:10] = 1.0
    np.save(path, constant) if writer == "npy" else getattr(np, writer)(path, x=constant)
    source = open_samples(str(path), SPECS, Normalization())
    with pytest.raises(DatasetError, match="is constant"):
        source.read(np.arange(20, 40))


def test_header_checks_need_no_read(tmp_path):
    """dtype, shape and counts come from the header: a file whose data part is a hole still
    gets the same errors."""
    path = tmp_path / "flat.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(50_000, 784)).flush()
    with pytest.raises(DatasetError, match=r"has shape \(N, 784\); expected \(N, 28, 28, 1\)"):
        open_samples(str(path), SPECS, Normalization())
    np.lib.format.open_memmap(path, mode="w+", dtype=np.complex64, shape=(10, *ROW)).flush()
    with pytest.raises(DatasetError, match="has dtype complex64; expected numbers"):
        open_samples(str(path), SPECS, Normalization())
    data = np.random.default_rng(0).random((10, *ROW), dtype=np.float32)
    np.save(path, data)
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    with pytest.raises(DatasetError, match="shorter than its header says"):
        open_samples(str(path), SPECS, Normalization())
    npz = tmp_path / "d.npz"
    np.savez(npz, x=data, y=np.arange(9))
    with pytest.raises(DatasetError, match="has 9 labels for 10 samples"):
        open_samples(str(npz), SPECS, Normalization())

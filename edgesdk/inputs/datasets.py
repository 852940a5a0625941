"""Datasets that ship offline: Debian's Fashion-MNIST package (IDX files, gzip)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from edgesdk.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
_IDX_TYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file: magic 0, 0, dtype, ndim, then big-endian dims and data.

    Raises:
        DatasetError: the file is missing, truncated or not an IDX file of bytes.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DatasetError(f"Cannot read {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, _IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated: {data.size} values for dims {dims}")
    return data.reshape(dims)


def load_fashion_mnist(
    folder: str | Path = FASHION_MNIST_DIR,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST as (x_train, y_train, x_test, y_test); x is uint8 (N, 28, 28, 1).

    Raises:
        DatasetError: the files are missing (install Debian's ``dataset-fashion-mnist``).
    """
    base = Path(folder)
    names = {
        "x_train": "train-images-idx3-ubyte.gz",
        "y_train": "train-labels-idx1-ubyte.gz",
        "x_test": "t10k-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    missing = [n for n in names.values() if not (base / n).is_file()]
    if missing:
        raise DatasetError(
            f"Fashion-MNIST not found in {base} (missing {', '.join(missing)}); "
            "install it with: apt-get install dataset-fashion-mnist"
        )
    arrays = {key: read_idx(base / name) for key, name in names.items()}
    return (
        arrays["x_train"][..., None],
        arrays["y_train"].astype(np.int64),
        arrays["x_test"][..., None],
        arrays["y_test"].astype(np.int64),
    )

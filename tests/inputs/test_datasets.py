"""Offline datasets: Debian's Fashion-MNIST (installed by scripts/setup-tests.sh)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from edgesdk.errors import DatasetError
from edgesdk.inputs.datasets import load_fashion_mnist, read_idx


def test_fashion_mnist_loads_from_the_debian_package():
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and x_train.max() == 255 and x_train.min() == 0
    assert np.array_equal(np.bincount(y_test), np.full(10, 1000))  # the balanced test set
    assert np.array_equal(np.bincount(y_train), np.full(10, 6000))


def test_missing_or_truncated_files_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    bad = tmp_path / "bad-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2])))
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(bad)
    bad.write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match="Cannot read"):
        read_idx(bad)

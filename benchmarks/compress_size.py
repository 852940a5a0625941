"""Size of prune + int8 against the float model's .tflite, measured in the same run.

Trains a small Fashion-MNIST CNN (Debian's dataset-fashion-mnist), prunes it to --sparsity
with `edgesdk compress` (first conv and classifier left dense), converts both to .tflite and
prints the ratios and the accuracy on the full 10,000-image test set.
Goal (issue 5): gzip of the pruned int8 .tflite >= 16x smaller than the float .tflite, with
at most 1.0 pt of accuracy lost.

Run: .venv/bin/python benchmarks/compress_size.py [--sparsity 0.9] [--epochs 6]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import fashion_cnn

import edgesdk
from edgesdk.inputs.datasets import load_fashion_mnist


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs while pruning")
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    x_train = (x_train / 255.0).astype(np.float32)
    x_test = (x_test / 255.0).astype(np.float32)
    model = fashion_cnn(x_train, y_train)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model.save(folder / "cnn.keras")
        np.savez(folder / "train.npz", x=x_train, y=y_train)
        np.savez(folder / "test.npz", x=x_test, y=y_test)
        r = edgesdk.compress(
            folder / "cnn.keras", folder / "train.npz", folder / "pruned.keras",
            validation=folder / "test.npz", prune=args.sparsity, skip_layers=("conv1", "classes"),
            epochs=args.epochs, batch_size=128, learning_rate=1e-3,
        )  # fmt: skip
    base, small = r.sizes["float_tflite"], r.sizes["compressed_int8_tflite"]
    lost = 100 * (r.accuracy["float_model"] - r.accuracy["compressed_int8_tflite"])  # points
    print(f"  float .tflite              {base.raw_bytes:>9,} B   gzip {base.gzip_bytes:>9,} B")
    print(
        f"  pruned {args.sparsity:.0%} + int8 .tflite  {small.raw_bytes:>9,} B   gzip {small.gzip_bytes:>9,} B"
    )
    print(f"  ratio float .tflite / gzip(pruned int8) = {r.compression_ratio:.1f}x   (goal >= 16x)")
    print(f"  ratio gzip / gzip                       = {r.gzip_ratio:.1f}x")
    print(
        f"  accuracy float {r.accuracy['float_model']:.2%} -> pruned int8 "
        f"{r.accuracy['compressed_int8_tflite']:.2%} ({-lost:+.2f} pts; goal >= -1.0)"
    )


if __name__ == "__main__":
    main()

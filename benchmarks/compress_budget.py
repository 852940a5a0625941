"""Pruning within an accuracy budget vs uniform pruning, same data and epochs, one run.

Trains the Fashion-MNIST CNN of benchmarks/compress_size.py (Debian's dataset-fashion-mnist),
then prunes it to --sparsity twice with `edgesdk compress`, naming no layer: once uniformly,
once with --max-accuracy-drop (per-layer sparsities chosen by sensitivity, int8 verified).
Prints, for both, the gzip size of the int8 .tflite against the float .tflite, the accuracy
on the full 10,000-image test set and the fine-tuning epochs spent.
Goal (issue 18): >= 16x smaller at <= 1 point below the float model, in no more fine-tuning
epochs than the hand-tuned example (6).

Run: .venv/bin/python benchmarks/compress_budget.py [--sparsity 0.9] [--epochs 6] [--budget 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import fashion_cnn

import edgesdk
from edgesdk.errors import BudgetNotMetError
from edgesdk.inputs.datasets import load_fashion_mnist


def line(name: str, r: object, epochs: int, seconds: float) -> None:
    acc = r.accuracy  # type: ignore[attr-defined]
    lost = 100 * (acc["float_model"] - acc["compressed_int8_tflite"])
    print(
        f"{name:<26} {r.gzip_ratio:>5.1f}x gzip/gzip  {r.compression_ratio:>5.1f}x vs float .tflite  "  # type: ignore[attr-defined]
        f"int8 {100 * acc['compressed_int8_tflite']:.2f}% ({-lost:+.2f} pts)  "
        f"{epochs} epochs  {seconds:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--budget", type=float, default=1.0, help="points")
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    x_train = (x_train / 255.0).astype(np.float32)
    x_test = (x_test / 255.0).astype(np.float32)
    model = fashion_cnn(x_train, y_train)
    common = dict(prune=args.sparsity, epochs=args.epochs, batch_size=128, learning_rate=1e-3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model.save(folder / "cnn.keras")
        np.savez(folder / "train.npz", x=x_train, y=y_train)
        np.savez(folder / "test.npz", x=x_test, y=y_test)
        args_ = (folder / "cnn.keras", folder / "train.npz")
        start = time.perf_counter()
        uniform = edgesdk.compress(
            *args_, folder / "u.keras", validation=folder / "test.npz", **common
        )
        line(f"uniform {args.sparsity:.0%}", uniform, args.epochs, time.perf_counter() - start)
        start = time.perf_counter()
        try:
            budget = edgesdk.compress(
                *args_, folder / "b.keras", validation=folder / "test.npz",
                max_accuracy_drop=args.budget / 100, **common,
            )  # fmt: skip
        except BudgetNotMetError as e:
            search = e.details["prune_search"]
            print(f"budget search: not met ({e})")
        else:
            search = budget.extra["prune_search"]
            epochs = args.epochs * len(search["attempts"])
            line(f"budget {args.budget:g} pts, target {search['chosen']:.0%}", budget, epochs,
                 time.perf_counter() - start)  # fmt: skip
        for a in search["attempts"]:
            layers = ", ".join(f"{k} {v:.0%}" for k, v in a["layers"].items())
            print(f"  target {a['target']:.0%}: int8 {100 * a['int8_accuracy']:.2f}% "
                  f"({'within' if a['fits'] else 'over'}); {layers}")  # fmt: skip
        print(
            f"  sensitivity pass {search['sensitivity_seconds']:.1f} s, search {search['seconds']:.1f} s"
        )
        print("goal: >= 16x gzip vs the float .tflite, <= 1 pt lost, <= 6 fine-tuning epochs")


if __name__ == "__main__":
    main()

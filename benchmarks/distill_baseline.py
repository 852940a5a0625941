"""Distillation against the label-only baseline on Fashion-MNIST, measured in the same run.

Trains a 105,866-parameter CNN teacher (Debian's dataset-fashion-mnist, Adam 1e-3, batch 32),
saves an untrained 25,108-parameter CNN student and distills it with `edgesdk compress` at the
defaults (batch 64, T 4, alpha 0.1, each stage's default learning rate): the result holds the
teacher, the distilled student (float and int8) and the same student trained on the labels
alone (same initial weights, data, epochs and batch). With --old-rate the student is also
distilled at the former default rate (1e-4) for comparison. Every figure is on the full
10,000-image test set.
Goal (issue 29): the distilled student at the defaults >= the label-only baseline - 0.5 pt.

Run: .venv/bin/python benchmarks/distill_baseline.py [--epochs 10] [--seeds 0 1 2] [--old-rate]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import edgesdk
from edgesdk.inputs.datasets import load_fashion_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from compress_fashion_mnist import build as cnn  # noqa: E402 - the example's CNN, one definition

OLD_DEFAULT_RATE = 1e-4


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10, help="teacher and student epochs")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="compress --seed (batch order) runs"
    )
    parser.add_argument(
        "--old-rate", action="store_true", help=f"also distill at lr {OLD_DEFAULT_RATE:g}"
    )
    args = parser.parse_args()
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    x_train = (x_train / 255.0).astype(np.float32)
    x_test = (x_test / 255.0).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        np.savez(folder / "train.npz", x=x_train, y=y_train)
        np.savez(folder / "test.npz", x=x_test, y=y_test)
        start = time.perf_counter()
        teacher = cnn((16, 32), 64, seed=0)
        teacher.compile("adam", "sparse_categorical_crossentropy")
        teacher.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)
        teacher.save(folder / "teacher.keras")
        print(f"teacher trained in {time.perf_counter() - start:.0f} s", flush=True)
        cnn((8, 16), 30, seed=1).save(folder / "student.keras")  # untrained

        def distill(seed: int, **extra):
            start = time.perf_counter()
            r = edgesdk.compress(
                folder / "student.keras", folder / "train.npz", folder / "distilled.keras",
                validation=folder / "test.npz", teacher=str(folder / "teacher.keras"),
                epochs=args.epochs, seed=seed, **extra,
            )  # fmt: skip
            print(
                f"compress seed {seed} {extra or 'defaults'}: {time.perf_counter() - start:.0f} s"
            )
            return r

        runs = [distill(seed) for seed in args.seeds]
        old = distill(args.seeds[0], learning_rate=OLD_DEFAULT_RATE) if args.old_rate else None
    first = runs[0]
    print(
        f"\nFashion-MNIST, full 10,000-image test set, {args.epochs} epochs; teacher "
        f"{first.teacher_parameters:,} parameters, student {first.parameters:,}; "
        f"learning rates {', '.join(f'{k} {v:g}' for k, v in first.learning_rates.items())}"
    )
    header = (
        f"  {'seed':>4}  {'teacher':>8}  {'distilled':>9}  {'its int8':>8}  {'baseline':>8}  lead"
    )
    print(header)
    for seed, r in zip(args.seeds, runs, strict=True):
        a = r.accuracy
        print(
            f"  {seed:>4}  {_pct(a['teacher']):>8}  {_pct(a['distilled']):>9}  "
            f"{_pct(a.get('compressed_int8_tflite')):>8}  {_pct(a['baseline']):>8}  "
            f"{100 * (a['distilled'] - a['baseline']):+.2f} pts"
        )
    if len(runs) > 1:
        mean = {k: float(np.mean([r.accuracy[k] for r in runs])) for k in ("distilled", "baseline")}
        print(
            f"  mean  {'':>8}  {_pct(mean['distilled']):>9}  {'':>8}  {_pct(mean['baseline']):>8}  "
            f"{100 * (mean['distilled'] - mean['baseline']):+.2f} pts   (goal >= -0.5)"
        )
    if old is not None:
        a = old.accuracy
        print(
            f"  at the old default lr {OLD_DEFAULT_RATE:g} (seed {args.seeds[0]}): distilled "
            f"{_pct(a['distilled'])}, its int8 {_pct(a.get('compressed_int8_tflite'))}"
        )
    for seed, r in zip(args.seeds, runs, strict=True):
        for w in r.warnings:
            print(f"  seed {seed} warning: {w}")
    if old is not None:
        for w in old.warnings:
            print(f"  lr {OLD_DEFAULT_RATE:g} warning: {w}")


if __name__ == "__main__":
    main()

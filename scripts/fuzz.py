"""The long fuzz run: thousands of damaged files through every entry point, with counts.

    .venv/bin/python scripts/fuzz.py [--tflite 2000] [--export 200] [--data 500] [--seed 0]

Prints, per entry point, how many variants succeeded, how many gave a clean EdgeSdkError, and
anything else (tracebacks; a crash of a native runtime would kill this process). Exits 1 if
anything other than success or a clean error happened.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzzing import Tally, data_entries, fresh_tmp, mutate, tflite_entries  # noqa: E402

import edgesdk  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tflite", type=int, default=2000, help="variants through inspect")
    p.add_argument("--export", type=int, default=200, help="variants through export-c")
    p.add_argument("--data", type=int, default=500, help="variants per other parser")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    tmp = fresh_tmp()
    tally = Tally()
    times: dict[str, float] = {}
    try:
        from edgesdk.demos.digits import load_digits_split, train_digits_cnn

        x, _, y, _ = load_digits_split()
        model = tmp / "digits_int8.tflite"
        edgesdk.quantize(
            train_digits_cnn(x, y, epochs=3), x[:200], model, target="arduino-nano-33-ble"
        )
        base = model.read_bytes()
        entries = tflite_entries(base, tmp)
        for entry, count in (("inspect", args.tflite), ("export-c", args.export)):
            start = time.perf_counter()
            for _ in range(count):
                damaged = mutate(base, rng)
                tally.run(entry, lambda d=damaged, e=entry: entries[e](d))
            times[entry] = (time.perf_counter() - start) / max(count, 1)
        for name, (valid, load) in data_entries(tmp).items():
            start = time.perf_counter()
            for _ in range(args.data):
                damaged = mutate(valid, rng)
                tally.run(name, lambda d=damaged, f=load: f(d))
            times[name] = (time.perf_counter() - start) / max(args.data, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{'entry point':<18} {'variants':>8} {'ok':>6} {'clean error':>11} {'other':>6} {'s each':>7}"
    )
    for entry, counts in tally.counts.items():
        other = sum(v for k, v in counts.items() if k not in ("ok", "clean error"))
        print(f"{entry:<18} {sum(counts.values()):>8} {counts['ok']:>6} {counts['clean error']:>11} "
              f"{other:>6} {times.get(entry, float('nan')):>7.3f}")  # fmt: skip
    for defect in tally.defects[:5]:
        print(defect)
    return 1 if tally.defects else 0


if __name__ == "__main__":
    sys.exit(main())

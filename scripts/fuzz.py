"""The long fuzz run: thousands of damaged files through every entry point, with counts.

    .venv/bin/python scripts/fuzz.py [--tflite 2000] [--export 200] [--standalone 100]
        [--evaluate 10] [--data 500] [--seeds 0,1,2] [--targeted 0.5]

Per seed, each .tflite entry point gets its count of damaged copies of an int8 CNN: a share
``--targeted`` of them with one schema field damaged (tensor shapes, types, buffer indices, graph
and op tensor indices, quantization, weights, offsets: what makes LiteRT and TFLite Micro read a
file differently), the rest with random bytes damaged. Prints, per entry point, how many variants
succeeded, how many gave a clean EdgeSdkError, and anything else (tracebacks; a crash of a
native runtime would kill this process). Exits 1 if anything other than success or a clean
one-line error happened.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzzing import (  # noqa: E402
    Tally,
    data_entries,
    evaluate_entry,
    fresh_tmp,
    mutate,
    mutate_structure,
    output_dim_plus_one,
    regions,
    tflite_entries,
)

import edgesdk  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tflite", type=int, default=2000, help="variants through inspect, per seed")
    p.add_argument("--export", type=int, default=200, help="variants through export-c (tflm)")
    p.add_argument("--standalone", type=int, default=100, help="through export-c standalone")
    p.add_argument("--evaluate", type=int, default=10, help="through evaluate (seconds each)")
    p.add_argument("--data", type=int, default=500, help="variants per other parser, per seed")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (one run per seed)")
    p.add_argument("--targeted", type=float, default=0.5, help="share of schema-field damage")
    args = p.parse_args()
    tmp = fresh_tmp()
    tally = Tally()
    times: dict[str, list[float]] = {}
    try:
        import numpy as np

        from edgesdk.demos.digits import load_digits_split, train_digits_cnn

        x, _, y, _ = load_digits_split()
        keras_model = train_digits_cnn(x, y, epochs=3)
        keras_path, data = tmp / "digits_cnn.keras", tmp / "digits.npz"
        keras_model.save(keras_path)
        np.savez(data, x=x[:200], y=y[:200])
        model = tmp / "digits_int8.tflite"
        edgesdk.quantize(keras_model, x[:200], model, target="arduino-nano-33-ble")
        base = model.read_bytes()
        where = regions(base)
        entries = dict(tflite_entries(base, tmp))
        entries["evaluate"] = evaluate_entry(keras_path, data, tmp)
        for entry in ("export-c", "export-c standalone", "evaluate"):  # issue 23 item 12
            tally.run(entry, lambda e=entry: entries[e](output_dim_plus_one(base)), "output + 1")
        for seed in (int(s) for s in args.seeds.split(",")):
            rng = random.Random(seed)
            for entry, count in (
                ("inspect", args.tflite),
                ("export-c", args.export),
                ("export-c standalone", args.standalone),
                ("evaluate", args.evaluate),
            ):
                start = time.perf_counter()
                for _ in range(count):
                    if rng.random() < args.targeted:
                        damaged, case = mutate_structure(base, rng, where)
                    else:
                        damaged, case = mutate(base, rng), "random bytes"
                    tally.run(entry, lambda d=damaged, e=entry: entries[e](d), f"{seed}: {case}")
                times.setdefault(entry, []).append((time.perf_counter() - start) / max(count, 1))
            for name, (valid, load) in data_entries(tmp).items():
                start = time.perf_counter()
                for _ in range(args.data):
                    damaged = mutate(valid, rng)
                    tally.run(name, lambda d=damaged, f=load: f(d))
                times.setdefault(name, []).append((time.perf_counter() - start) / max(args.data, 1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{'entry point':<20} {'variants':>8} {'ok':>6} {'clean error':>11} {'other':>6} {'s each':>7}"
    )
    for entry, counts in tally.counts.items():
        other = sum(v for k, v in counts.items() if k not in ("ok", "clean error"))
        each = sum(times.get(entry, [float("nan")])) / len(times.get(entry, [1]))
        print(f"{entry:<20} {counts['ok'] + counts['clean error'] + other:>8} {counts['ok']:>6} "
              f"{counts['clean error']:>11} {other:>6} {each:>7.3f}")  # fmt: skip
    for defect in tally.defects[:5]:
        print(defect)
    return 1 if tally.defects else 0


if __name__ == "__main__":
    sys.exit(main())

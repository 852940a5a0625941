"""The long random differential run of the standalone engine. Two generators, both seeded:

- ``single``: one-op int8 models (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED; random shapes,
  strides, dilations, padding, depth multipliers, per-channel / per-tensor scales with extreme
  multipliers, zero points at the limits);
- ``graph``: small multi-op models (ADD and MUL of two differently quantized inputs, a
  ResNet-style residual of convolutions and a skip added, MEAN, AVERAGE_POOL_2D / MAX_POOL_2D,
  SOFTMAX, chains of 2-5 random ops, FC autoencoders), 40 % with float32 I/O (a QUANTIZE at the
  input, a DEQUANTIZE at the output), zero points at the limits, extreme rescalings.

Each case is compiled with both kernel sets (portable C and the DSP kernels through the
intrinsics' portable C) by the host gcc with ASan/UBSan and compared byte for byte with LiteRT's
BUILTIN_REF kernels. Prints the cases run per kind and every finding with its reproducer;
exit 1 when there is one.

    PYTHONPATH=. .venv/bin/python scripts/standalone_fuzz.py --cases 2000 --seed 0

One finding again (seed S of generator G): ``--seed S --cases 1 --generators G``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))
from standalone_fuzz_models import differential, graph_case, random_case  # noqa: E402

GENERATORS = {"single": random_case, "graph": graph_case}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="seeds to draw (per generator)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--vectors", type=int, default=3, help="random inputs per case")
    parser.add_argument("--batch", type=int, default=100, help="seeds per host executable")
    parser.add_argument("--generators", default="single,graph", help="single, graph or both")
    args = parser.parse_args()
    gens = [g for g in args.generators.split(",") if g]
    start, ran, findings, kinds, bad_kinds = time.monotonic(), 0, [], {}, {}
    seeds = range(args.seed, args.seed + args.cases)
    with tempfile.TemporaryDirectory(prefix="edgesdk-fuzz-") as tmp:
        for b in range(0, len(seeds), args.batch):
            for gen in gens:
                cases = [c for s in seeds[b : b + args.batch] if (c := GENERATORS[gen](s))]
                for c in cases:
                    kinds[c.kind] = kinds.get(c.kind, 0) + 1
                found = differential(cases, Path(tmp) / f"{gen}{b}", args.vectors)
                ran += len(cases)
                findings += [(gen, f) for f in found]
                last = seeds[min(b + args.batch, len(seeds)) - 1]
                print(f"{gen} seeds {seeds[b]}..{last}: {len(cases)} cases, "
                      f"{len(found)} findings", flush=True)  # fmt: skip
                for f in found:
                    kind = next((c.kind for c in cases if f.startswith(f"seed {c.seed} (")), "?")
                    bad_kinds[kind] = bad_kinds.get(kind, 0) + 1
                    seed = f.split()[1]
                    print(f"  {f}\n    reproduce: --seed {seed} --cases 1 --generators {gen}")
            so_far = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            print(f"  so far {ran} cases ({so_far}), {len(findings)} findings, "
                  f"{time.monotonic() - start:.0f} s", flush=True)  # fmt: skip
    print(f"{ran} cases (seeds {args.seed}..{args.seed + args.cases - 1}, generators "
          f"{', '.join(gens)}, empty geometries skipped), x2 kernel sets x{args.vectors} inputs; "
          f"{len(findings)} findings; {time.monotonic() - start:.0f} s")  # fmt: skip
    for k, n in sorted(kinds.items()):
        print(f"  {k:24} {n:6} cases  {bad_kinds.get(k, 0)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())

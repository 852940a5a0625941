"""The long random differential run of the standalone engine: seeded single-op int8 models
(CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED; random shapes, strides, dilations, padding, depth
multipliers, per-channel / per-tensor scales with extreme multipliers, zero points at the
limits), each compiled with both kernel sets (portable C and the DSP kernels through the
intrinsics' portable C) by the host gcc with ASan/UBSan and compared byte for byte with LiteRT's
BUILTIN_REF kernels. Prints the cases run and every finding; exit 1 when there is one.

    PYTHONPATH=. .venv/bin/python scripts/standalone_fuzz.py --cases 2000 --seed 0
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "firmware"))
from standalone_fuzz_models import differential, random_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="seeds to draw")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--vectors", type=int, default=3, help="random inputs per case")
    parser.add_argument("--batch", type=int, default=100, help="cases per host executable")
    args = parser.parse_args()
    start, ran, findings, kinds = time.monotonic(), 0, [], {}
    seeds = range(args.seed, args.seed + args.cases)
    with tempfile.TemporaryDirectory(prefix="edgesdk-fuzz-") as tmp:
        for b in range(0, len(seeds), args.batch):
            cases = [c for s in seeds[b : b + args.batch] if (c := random_case(s)) is not None]
            for c in cases:
                kinds[c.kind] = kinds.get(c.kind, 0) + 1
            found = differential(cases, Path(tmp) / f"batch{b}", args.vectors)
            ran += len(cases)
            findings += found
            print(f"seeds {seeds[b]}..{seeds[min(b + args.batch, len(seeds)) - 1]}: "
                  f"{len(cases)} cases, {len(found)} findings", flush=True)  # fmt: skip
            for f in found:
                print("  " + f, flush=True)
    print(f"{ran} cases ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}; seeds "
          f"{args.seed}..{args.seed + args.cases - 1}, empty geometries skipped), x2 kernel sets "
          f"x{args.vectors} inputs; {len(findings)} findings; {time.monotonic() - start:.0f} s")  # fmt: skip
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())

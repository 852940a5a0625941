"""`edgesdk --help` against `python -c "import tensorflow"` (goal: <= 0.2x)."""

from __future__ import annotations

import argparse
import sys

from _common import BIN, alternate, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ta, tb = alternate(
        [str(BIN / "edgesdk"), "--help"], [sys.executable, "-c", "import tensorflow"], args.repeats
    )
    report("CLI start-up", "edgesdk --help", ta, "python -c 'import tensorflow'", tb, "<= 0.2x")


if __name__ == "__main__":
    main()

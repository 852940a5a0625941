"""`edgesdk export-c` against `xxd -i` on the same 50 MB .tflite (goals: >= 2x faster; peak memory bounded).

Peak memory (max RSS) of each command comes from GNU time (`/usr/bin/time -f %M`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import BIN, report


def make_model(path: Path, megabytes: int) -> None:
    """A float Dense stack whose weights add up to about ``megabytes`` MB."""
    import keras
    import tensorflow as tf

    width = int((megabytes * 1e6 / 4 / 3) ** 0.5)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((width,))
    x = inputs
    for _ in range(3):
        x = keras.layers.Dense(width)(x)
    model = keras.Model(inputs, x)
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def run(cmd: list[str], stdout_path: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS in KiB of ``cmd``."""
    out = stdout_path.open("wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], stdout=out, stderr=subprocess.PIPE, check=False
    )
    elapsed = time.perf_counter() - start
    if stdout_path:
        out.close()
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr.decode()[-2000:]}")
    return elapsed, int(r.stderr.decode().strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("xxd"):
        raise SystemExit("xxd is not installed (Debian package xxd)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "big.tflite"
        make_model(model, args.megabytes)
        size = model.stat().st_size
        ta, tb, ma, mb = [], [], [], []
        for i in range(args.repeats):
            t, m = run(
                [
                    str(BIN / "edgesdk"),
                    "export-c",
                    str(model),
                    "-t",
                    "linux-x86_64",
                    "-o",
                    str(folder / f"bundle{i}"),
                    "--no-verify",
                ]
            )
            ta.append(t)
            ma.append(m)
            t, m = run(["xxd", "-i", str(model)], folder / "big_xxd.h")
            tb.append(t)
            mb.append(m)
        print(f"model: {size / 1e6:.1f} MB")
        report("C array export", "edgesdk export-c --no-verify", ta, "xxd -i", tb, "<= 0.5x")
        print(
            f"  peak RSS: edgesdk {max(ma) / 1024:.0f} MiB ({max(ma) * 1024 / size:.1f}x the model), "
            f"xxd {max(mb) / 1024:.0f} MiB   (goal: bounded, well under 6x the model)"
        )


if __name__ == "__main__":
    main()

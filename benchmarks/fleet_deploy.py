"""Deploy of one model to 16 loopback devices against deploy to one device (goal: <= 3x the single-device time).

Starts 16 real sshd on 127.0.0.2 ... 127.0.0.17 (one device each), then alternates
`edgesdk deploy MODEL --device d01` (fresh workdir) with `edgesdk deploy MODEL --group fleet`
(fresh workdirs, default --parallel) and prints the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _common import BIN, add_device, timed
from export_vs_xxd import make_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import loopback_fleet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=16)
    parser.add_argument("--megabytes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=None, help="default: edgesdk's own default")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "model.tflite"
        make_model(model, args.megabytes)
        key, servers = loopback_fleet(folder, args.devices)
        env = {**os.environ, "HOME": str(folder), "EDGESDK_HOME": str(folder / "cfg")}
        (folder / "cfg").mkdir()
        (folder / "cfg" / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
        edgesdk = str(BIN / "edgesdk")
        try:
            single, group = [], []
            for r in range(args.repeats):
                for i, s in enumerate(servers):
                    add_device(
                        env,
                        f"r{r}-d{i:02d}",
                        s,
                        key,
                        folder / f"wd-{r}-{i}",
                        "--group",
                        f"fleet{r}",
                    )
                add_device(env, f"single{r}", servers[0], key, folder / f"single-{r}")
                single.append(timed([edgesdk, "deploy", str(model), "--device", f"single{r}"], env))
                extra = ["--parallel", str(args.parallel)] if args.parallel else []
                group.append(
                    timed([edgesdk, "deploy", str(model), "--group", f"fleet{r}", *extra], env)
                )
        finally:
            for s in servers:
                s.stop()
    ms, mg = statistics.median(single), statistics.median(group)
    print(f"Deploy a {args.megabytes} MB model (--parallel {args.parallel or 'default'})")
    print(f"  1 device    median {ms:.3f} s  runs {', '.join(f'{t:.3f}' for t in single)}")
    print(
        f"  {args.devices} devices  median {mg:.3f} s  runs {', '.join(f'{t:.3f}' for t in group)}"
    )
    print(f"  ratio {args.devices} devices / 1 device = {mg / ms:.2f}x   (goal <= 3x)")


if __name__ == "__main__":
    main()

"""`edgesdk deploy` against OpenSSH's `scp` to the same loopback sshd (goal: >= 0.5x scp's throughput).

Starts a real sshd on 127.0.0.1 (as the tests do), makes a ~50 MB .tflite, and alternates a
fresh `edgesdk deploy` (new workdir each time, so it always uploads and verifies) with `scp`.
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
from sshd import keygen, start_sshd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "big.tflite"
        make_model(model, args.megabytes)
        size = model.stat().st_size
        key = keygen(folder / "client_key")
        server = start_sshd(folder / "sshd", key)
        try:
            known = folder / "known_hosts"
            known.write_text(server.known_hosts_line())
            env = {**os.environ, "HOME": str(folder), "EDGESDK_HOME": str(folder / "cfg")}
            (folder / "cfg").mkdir()
            (folder / "cfg" / "known_hosts").write_text(server.known_hosts_line())
            te, ts = [], []
            for i in range(args.repeats):
                name = f"bench{i}"
                add_device(env, name, server, key, folder / f"wd{i}")
                te.append(
                    timed([str(BIN / "edgesdk"), "deploy", str(model), "--device", name], env)
                )
                ts.append(
                    timed(
                        [
                            "scp",
                            "-q",
                            "-B",
                            "-i",
                            str(key),
                            "-P",
                            str(server.port),
                            "-o",
                            f"UserKnownHostsFile={known}",
                            "-o",
                            "StrictHostKeyChecking=yes",
                            str(model),
                            f"root@127.0.0.1:{folder / f'scp{i}.tflite'}",
                        ],
                        env,
                    )
                )
        finally:
            server.stop()
    me, ms = statistics.median(te), statistics.median(ts)
    print(f"Deploy {size / 1e6:.1f} MB over loopback SSH")
    print(
        f"  edgesdk deploy (upload + sha256 on device + atomic switch) median {me:.3f} s "
        f"= {size / 1e6 / me:.1f} MB/s  runs {', '.join(f'{t:.3f}' for t in te)}"
    )
    print(
        f"  scp                                                  median {ms:.3f} s "
        f"= {size / 1e6 / ms:.1f} MB/s  runs {', '.join(f'{t:.3f}' for t in ts)}"
    )
    print(f"  throughput ratio edgesdk / scp = {ms / me:.2f}x   (goal >= 0.5x)")


if __name__ == "__main__":
    main()

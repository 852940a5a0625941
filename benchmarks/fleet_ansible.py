"""A rollout with Ansible (`edgesdk fleet ansible` playbooks) against `edgesdk deploy --group`.

Starts N real sshd on 127.0.0.2 ... (one device each). Per repeat: a fresh group (fresh
workdirs), then alternately `edgesdk deploy MODEL --group` and `ansible-playbook deploy.yml`
on two such groups, each followed by its rerun (nothing to change). Prints the medians and
the ratio Ansible / edgesdk for the first rollout and for the rerun. No goal: this says what
choosing Ansible costs on a small fleet, where edgesdk's own engine is the lighter tool.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import BIN, add_device, timed
from export_vs_xxd import make_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sshd import loopback_fleet  # noqa: E402


def close_ssh_masters(home: Path) -> None:
    """Stop the ControlPersist connections ansible-playbook left (by their sockets)."""
    folder = home / ".ansible" / "cp"
    for socket in folder.iterdir() if folder.is_dir() else ():
        subprocess.run(
            ["ssh", "-O", "exit", "-o", f"ControlPath={socket}", "x"],
            capture_output=True,
            check=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--megabytes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = folder / "model.tflite"
        make_model(model, args.megabytes)
        key, servers = loopback_fleet(folder, args.devices)
        env = {
            **os.environ,
            "HOME": str(folder),
            "EDGESDK_HOME": str(folder / "cfg"),
            "LC_ALL": "C.UTF-8",
        }
        (folder / "cfg").mkdir()
        (folder / "cfg" / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
        edgesdk, playbook = str(BIN / "edgesdk"), str(BIN / "ansible-playbook")
        times: dict[str, list[float]] = {k: [] for k in ("sdk", "sdk-rerun", "ans", "ans-rerun")}
        try:
            for r in range(args.repeats):
                for tool in ("sdk", "ans"):
                    group = f"{tool}{r}"
                    for i, s in enumerate(servers):
                        wd = folder / f"wd-{group}-{i}"
                        add_device(env, f"{group}-d{i:02d}", s, key, wd, "--group", group)
                    if tool == "sdk":
                        cmd = [edgesdk, "deploy", str(model), "--group", group]
                    else:
                        pb = folder / f"pb-{group}"
                        subprocess.run(
                            [edgesdk, "fleet", "ansible", "--group", group, "-o", str(pb)],
                            env=env,
                            check=True,
                            capture_output=True,
                        )
                        cmd = [playbook, "-i", str(pb / "hosts.yml"), str(pb / "deploy.yml")]
                        cmd += ["-e", f"model={model}"]
                    times[tool].append(timed(cmd, env))
                    times[f"{tool}-rerun"].append(timed(cmd, env))
        finally:
            close_ssh_masters(folder)
            for s in servers:
                s.stop()
    print(f"Rollout of a {args.devices}-device group, {args.megabytes} MB model (wall time)")
    for key_, label in (
        ("sdk", "edgesdk deploy --group"),
        ("sdk-rerun", "  rerun (unchanged)"),
        ("ans", "ansible-playbook deploy.yml"),
        ("ans-rerun", "  rerun (changed=0)"),
    ):
        runs = times[key_]
        print(
            f"  {label:<30} median {statistics.median(runs):7.3f} s  "
            f"runs {', '.join(f'{t:.3f}' for t in runs)}"
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"  ratio Ansible / edgesdk: rollout {med['ans'] / med['sdk']:.2f}x, ", end="")
    print(f"rerun {med['ans-rerun'] / med['sdk-rerun']:.2f}x")


if __name__ == "__main__":
    main()

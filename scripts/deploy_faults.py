"""Fault injection: kill `edgesdk deploy` / `edgesdk rollback` at every step and check the device.

A real sshd on 127.0.0.1 serves a device whose work folder is a temporary folder. The CLI runs
in a child process whose SSH layer counts its steps (every SFTP call and remote command); a
trace run lists the steps, then for each step, before and after it, a run is SIGKILLed there.
After each kill the device must agree with itself: the history edgesdk reads (and `fleet
status` prints) names what ``current.tflite`` points to, every kept version is on disk with
its sha256, and a re-deploy (or rollback) then works. Exit 0 only if every kill point passes.

    python scripts/deploy_faults.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

# Runs the CLI with every SFTP call and remote command counted; argv[1] = step to die at
# (-1: trace only), argv[2] = "before", "during" (half-way through an upload) or "after",
# argv[3] = trace file, argv[4:] = CLI args.
CHILD = r"""
import os, signal, sys
import paramiko
from edgesdk.devices import ssh

kill_at, phase, trace = int(sys.argv[1]), sys.argv[2], sys.argv[3]
steps = []

def counted(name, fn):
    def wrapper(*args, **kwargs):
        index = len(steps)
        steps.append(name)
        if index == kill_at and phase == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = fn(*args, **kwargs)
        if index == kill_at and phase == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper

for name in ("open", "stat", "mkdir", "listdir", "remove", "posix_rename", "symlink",
             "readlink", "put"):
    setattr(paramiko.SFTPClient, name, counted("sftp." + name, getattr(paramiko.SFTPClient, name)))
put = paramiko.SFTPClient.put

def put_killed_halfway(self, local, remote, callback=None, confirm=True):
    def progress(done, total):
        if len(steps) - 1 == kill_at and phase == "during" and done > total // 2:
            os.kill(os.getpid(), signal.SIGKILL)
        if callback:
            callback(done, total)
    return put(self, local, remote, progress, confirm)

paramiko.SFTPClient.put = put_killed_halfway
ssh.Session.start = counted("exec", ssh.Session.start)
from edgesdk.cli import app
try:
    app(sys.argv[4:], prog_name="edgesdk")
except SystemExit as e:
    code = e.code
else:
    code = 0
with open(trace, "w") as f:
    f.write("\n".join(steps))
sys.exit(code)
"""


def tiny_models(folder: Path) -> list[Path]:
    """Five different float .tflite files: more than the device keeps, so deploying them in
    turn always uploads."""
    import keras
    import tensorflow as tf

    paths = []
    for width in (8, 10, 12, 14, 16):
        keras.utils.set_random_seed(width)
        inputs = keras.Input((width,))
        model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
        path = folder / f"m{width}.tflite"
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        paths.append(path)
    return paths


def check_device(workdir: Path) -> str | None:
    """None when history, current.tflite, kept files and `fleet status` agree; else why not."""
    from edgesdk.devices.deploy import sha256_file, status
    from edgesdk.devices.inventory import Inventory
    from edgesdk.devices.ssh import Session

    with Session(Inventory().resolve("dev")) as session:
        history = status(session)
    link = workdir / "current.tflite"
    target = os.path.basename(os.readlink(link)) if link.is_symlink() else None
    if not history:
        return None if target is None else f"no history but current.tflite -> {target}"
    last = history[-1]
    if target != last.file:
        return f"history says {last.file}, current.tflite -> {target}"
    if sha256_file(link) != last.sha256:
        return "current.tflite's sha256 is not the history's"
    for entry in history:
        path = workdir / "models" / entry.file
        if not path.is_file() or sha256_file(path) != entry.sha256:
            return f"kept version {entry.file} is missing or damaged"
    from typer.testing import CliRunner

    from edgesdk.cli import app

    out = CliRunner().invoke(app, ["fleet", "status", "--group", "faults", "--json"])
    shown = out.stdout if out.exit_code == 0 else f"exit {out.exit_code}: {out.output}"
    if last.sha256 not in shown:
        return f"fleet status does not show {last.sha256[:16]}: {shown[-300:]}"
    return None


def run_child(args: list[str], kill_at: int, phase: str, env: dict[str, str]) -> list[str]:
    """The steps of a trace run (``kill_at`` -1); else [] if the run was killed as asked, or
    the steps it took instead (a shorter path: it finished before that step)."""
    with tempfile.NamedTemporaryFile("r", suffix=".trace") as trace:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(kill_at), phase, trace.name, *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if kill_at < 0 and proc.returncode != 0:
            raise SystemExit(f"trace run failed: {proc.stderr.strip()[-500:]}")
        if proc.returncode == -signal.SIGKILL:
            return []
        return Path(trace.name).read_text().splitlines() or ["(no steps)"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="kills per step and phase")
    rounds = parser.parse_args().rounds

    from sshd import keygen, start_sshd

    with tempfile.TemporaryDirectory(prefix="edgesdk-faults-") as tmp:
        folder = Path(tmp)
        os.environ["EDGESDK_HOME"] = str(folder / "config")
        os.environ["HOME"] = str(folder / "home")
        (folder / "home" / ".ssh").mkdir(parents=True)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        server = start_sshd(folder / "sshd", keygen(folder / "client_key"))
        try:
            return campaign(folder, server, env, rounds)
        finally:
            server.stop()


def campaign(folder: Path, server, env: dict[str, str], rounds: int) -> int:
    import edgesdk
    from edgesdk.devices.inventory import Device, Inventory, config_home

    workdir = folder / "device"
    Inventory().add(
        Device(
            "dev", "127.0.0.1", server.port, "root", str(server.client_key), sys.executable,
            str(workdir), groups=("faults",),
        )
    )  # fmt: skip
    config_home().mkdir(parents=True, exist_ok=True)
    (config_home() / "known_hosts").write_text(server.known_hosts_line())
    models = tiny_models(folder)
    edgesdk.deploy(models[0], "dev")
    edgesdk.deploy(models[1], "dev")
    failures, runs, killed = [], 0, 0
    turn = 0
    for verb in ("deploy", "rollback"):

        def args(i: int, verb: str = verb) -> list[str]:
            if verb == "rollback":
                return ["rollback", "--device", "dev"]
            return ["deploy", str(models[i % len(models)]), "--device", "dev"]

        # a deploy of a model the device does not have uploads it: the longest path
        steps = run_child(args(turn + 2), -1, "trace", env)
        turn += 2 if verb == "deploy" else 0
        print(f"{verb}: {len(steps)} steps: {' '.join(steps)}")
        for index, step in enumerate(steps):
            phases = ("before", "during", "after") if step == "sftp.put" else ("before", "after")
            for phase in phases:
                for _ in range(rounds):
                    turn += 1
                    if verb == "rollback":  # something to roll back to
                        edgesdk.deploy(models[turn % len(models)], "dev")
                    missed = run_child(args(turn), index, phase, env)
                    runs += 1
                    killed += not missed
                    why = check_device(workdir)
                    if why is None:
                        try:
                            again = edgesdk.deploy(models[turn % len(models)], "dev", lock_wait=10)
                            why = check_device(workdir)
                            if why is None and again.current.sha256 not in str(
                                json.dumps(again.to_dict())
                            ):
                                why = "re-deploy did not report its model"
                        except edgesdk.EdgeSdkError as e:
                            why = f"re-deploy failed: {e}"
                    where = f"{verb} step {index} ({step}) {phase}"
                    status = "ok" if why is None else f"FAIL: {why}"
                    print(f"  {where}: killed={'no' if missed else 'yes'} {status}", flush=True)
                    if why is not None:
                        failures.append(f"{where}: {why}")
    print(f"{runs} runs, {killed} killed at their step, {len(failures)} failures")
    for line in failures:
        print("  " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

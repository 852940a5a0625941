"""A real OpenSSH server on loopback for tests and benchmarks (recipe from DESIGN.md)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@dataclass
class Sshd:
    """One sshd process; ``host_key_line`` is its known_hosts entry."""

    host: str
    port: int
    folder: Path
    client_key: Path
    process: subprocess.Popen

    @property
    def host_public_key(self) -> str:
        return (self.folder / "host_key.pub").read_text().split()[1]

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} ssh-ed25519 {self.host_public_key}\n"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_sshd(
    folder: Path,
    client_key: Path,
    host: str = "127.0.0.1",
    host_key: Path | None = None,
    port: int | None = None,
) -> Sshd:
    """Start ``sshd -D`` on a free loopback port with ``client_key`` authorized; wait for its banner."""
    if not host.startswith("127."):
        raise ValueError("tests only ever listen on 127.0.0.0/8")
    folder.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    if host_key is None:
        host_key = keygen(folder / "host_key")
    elif host_key.resolve() != (folder / "host_key").resolve():
        shutil.copy(host_key, folder / "host_key")
        shutil.copy(str(host_key) + ".pub", folder / "host_key.pub")
        host_key = folder / "host_key"
    os.chmod(host_key, 0o600)
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(str(client_key) + ".pub").read_text())
    port = port or free_port(host)
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress {host}\nPort {port}\nHostKey {host_key}\nAuthorizedKeysFile {authorized}\n"
        f"PidFile {folder / 'sshd.pid'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
    log = (folder / "sshd.log").open("wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return Sshd(host, port, folder, client_key, process)
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"sshd did not start on {host}:{port}; see {folder / 'sshd.log'}")


def restart_sshd(server: Sshd, client_key: Path) -> Sshd:
    """Start a stopped sshd again: same folder, address, port and host key."""
    return start_sshd(
        server.folder, client_key, server.host, server.folder / "host_key", server.port
    )


def loopback_fleet(folder: Path, size: int) -> tuple[Path, list[Sshd]]:
    """A client key and ``size`` sshd, one per loopback address from 127.0.0.2, each with its
    own host key (the caller stops them)."""
    key = keygen(folder / "client_key")
    return key, [start_sshd(folder / f"s{i}", key, host=f"127.0.0.{i + 2}") for i in range(size)]

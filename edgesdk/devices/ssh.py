"""SSH sessions with paramiko: verified host keys, keys and agent, safe remote commands that
are read to the end."""

from __future__ import annotations

import logging
import select
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.devices.hostkeys import (
    check_host_key,
    fingerprint,
    own_known_hosts,
    resolve,
    ssh_dir,
)
from edgesdk.devices.inventory import Device
from edgesdk.errors import DeviceError, UnknownHostKeyError

log = logging.getLogger(__name__)
# paramiko logs a dropped connection at ERROR level; without a handler of its own, Python's
# last-resort handler would print that as a stray line beside edgesdk's one-line error
logging.getLogger("paramiko").addHandler(logging.NullHandler())

KEEPALIVE_SECONDS = 15
SFTP_WINDOW = 1 << 27
SFTP_PACKET = 32768


_FAST_CIPHERS = ("aes256-gcm@openssh.com", "aes128-gcm@openssh.com")


def _fast_transport(sock: Any, **kwargs: Any) -> Any:
    """A paramiko Transport that prefers AES-GCM (no separate MAC: faster uploads)."""
    import paramiko

    transport = paramiko.Transport(sock, **kwargs)
    options = transport.get_security_options()
    options.ciphers = _FAST_CIPHERS + tuple(c for c in options.ciphers if c not in _FAST_CIPHERS)
    return transport


class _RefuseUnknown:
    """paramiko policy: an unknown host key is refused, naming its fingerprint."""

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        raise UnknownHostKeyError(hostname, key.get_name(), fingerprint(key))


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def remote_command(argv: Sequence[str], cwd: str | None = None) -> str:
    """A shell command line that prints its PID, then runs ``argv`` in ``cwd``; all quoted."""
    script = 'echo "$$"; if [ -n "$0" ]; then cd -- "$0" || exit 97; fi; exec "$@"'
    return " ".join(shlex.quote(p) for p in ("sh", "-c", script, cwd or "", *argv))


class Session:
    """One verified SSH connection to a device (use as a context manager)."""

    def __init__(
        self,
        device: Device,
        connect_timeout: float = 10.0,
        passphrase_prompt: Callable[[str], str] | None = None,
    ):
        self.device = device
        self.endpoint = resolve(device)
        self.connect_timeout = connect_timeout
        self.passphrase_prompt = passphrase_prompt
        self.client: Any = None
        self._sftp: Any = None

    def _load_key(self) -> Any:
        import paramiko

        for path in self.endpoint.key_files:
            if not Path(path).is_file():
                raise DeviceError(f"SSH key not found: {path}", retryable=False)
            try:
                return paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError) as e:
                # OpenSSH-format keys report a missing passphrase as TypeError
                if isinstance(e, TypeError) and "password" not in str(e).lower():
                    raise DeviceError(f"Cannot read SSH key {path}: {e}", retryable=False) from e
            except (paramiko.SSHException, OSError, ValueError) as e:
                raise DeviceError(f"Cannot read SSH key {path}: {e}", retryable=False) from e
            if self.passphrase_prompt is None:
                raise DeviceError(
                    f"SSH key {path} is encrypted and no passphrase prompt is available",
                    retryable=False,
                )
            try:
                secret = self.passphrase_prompt(path).encode("utf-8")
                return paramiko.PKey.from_path(path, password=secret)
            except (paramiko.SSHException, ValueError, TypeError) as e:
                raise DeviceError(f"Cannot unlock SSH key {path}: {e}", retryable=False) from e
        return None

    def __enter__(self) -> Session:
        import paramiko

        endpoint = self.endpoint
        pkey = self._load_key()
        client = paramiko.SSHClient()
        for path in (ssh_dir() / "known_hosts", own_known_hosts()):
            if path.is_file():
                client.load_system_host_keys(str(path))
        client.set_missing_host_key_policy(_RefuseUnknown())
        user = endpoint.user or _local_user()
        try:
            client.connect(
                endpoint.hostname,
                port=endpoint.port,
                username=user,
                pkey=pkey,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                allow_agent=True,
                look_for_keys=pkey is None,
                transport_factory=_fast_transport,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            check_host_key(endpoint, e.key)  # raises the "CHANGED" DeviceError
            raise DeviceError(f"Host key for {endpoint.host_key_name} rejected") from e
        except paramiko.AuthenticationException as e:
            client.close()
            raise DeviceError(
                f"SSH authentication as {user!r} on {endpoint.host_key_name} failed: {e}",
                retryable=False,
            ) from e
        except paramiko.SSHException as e:
            client.close()
            raise DeviceError(f"SSH with {endpoint.host_key_name} failed: {e}") from e
        except OSError as e:  # refused, unreachable, timed out
            client.close()
            raise DeviceError(
                f"Cannot reach {endpoint.hostname}:{endpoint.port}: {e.strerror or e}"
            ) from e
        except UnicodeError as e:  # getaddrinfo's idna: a label too long, empty or not text
            client.close()
            raise DeviceError(
                f"Cannot reach {endpoint.hostname!r}: not a valid host name ({e})", retryable=False
            ) from e
        except BaseException:
            client.close()
            raise
        client.get_transport().set_keepalive(KEEPALIVE_SECONDS)
        self.client = client
        return self

    def __exit__(self, *exc: Any) -> None:
        """Close SFTP and SSH; a connection that already died cannot fail the close."""
        for closable in (self._sftp, self.client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - best-effort close of a dead connection
                    log.debug("closing %s failed", closable, exc_info=True)

    @property
    def sftp(self) -> Any:
        import paramiko

        if self._sftp is None:
            self._sftp = paramiko.SFTPClient.from_transport(
                self.client.get_transport(), window_size=SFTP_WINDOW, max_packet_size=SFTP_PACKET
            )
        return self._sftp

    def start(self, argv: Sequence[str], cwd: str | None = None) -> RemoteProcess:
        """Start ``argv`` on the device and return at once (write to it, then ``finish``)."""
        channel = self.client.get_transport().open_session(timeout=self.connect_timeout)
        channel.exec_command(remote_command(argv, cwd))
        return RemoteProcess(self, channel, str(argv[0]))

    def run(
        self,
        argv: Sequence[str],
        cwd: str | None = None,
        timeout: float = 120.0,
        check: bool = True,
    ) -> CommandResult:
        """Run ``argv`` on the device; on timeout the remote process is killed (DeviceError)."""
        return self.start(argv, cwd).finish(timeout=timeout, check=check)

    def kill(self, pid: int | None) -> None:
        """Send TERM, then KILL, to a remote process."""
        if not pid or pid < 0:
            return
        for signal_name in ("TERM", "KILL"):
            channel = self.client.get_transport().open_session(timeout=self.connect_timeout)
            channel.exec_command(
                " ".join(shlex.quote(p) for p in ("kill", f"-{signal_name}", str(pid)))
            )
            channel.recv_exit_status()
            channel.close()
            time.sleep(0.2)


_ACTIVE: set[RemoteProcess] = set()  # remote processes not finished yet (any thread)
_ACTIVE_LOCK = threading.Lock()


def stop_remote_processes() -> int:
    """Kill every remote process a command started and has not finished (on SIGTERM/SIGINT);
    returns how many. Best effort: a dead connection cannot be used to kill anything."""
    with _ACTIVE_LOCK:
        active = list(_ACTIVE)
    for proc in active:
        log.debug("stopping %s (pid %s) on %s", proc.name, proc.pid, proc.session.device.name)
        try:
            proc.session.kill(proc.pid)
        except Exception:  # noqa: BLE001 - best effort on a connection that may be gone
            log.debug("could not kill %s on %s", proc.name, proc.session.device.name)
        proc.abort()
    return len(active)


class RemoteProcess:
    """A command running on the device over one SSH channel."""

    def __init__(self, session: Session, channel: Any, name: str):
        self.session = session
        self.channel = channel
        self.name = name
        self.pid: int | None = None
        self._out = bytearray()
        self._err = bytearray()
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)

    def abort(self) -> None:
        """Close the channel; on a dead connection that cannot fail."""
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        try:
            self.channel.close()
        except (OSError, EOFError):
            log.debug("channel of %s already gone", self.name)

    def send(self, data: bytes, close: bool = True) -> None:
        """Write ``data`` to the process's stdin (and close stdin)."""
        self.channel.sendall(data)
        if close:
            self.channel.shutdown_write()

    def _drain(self) -> None:
        # stdout and stderr are drained together, so neither pipe can fill up and block
        while self.channel.recv_ready():
            self._out += self.channel.recv(1 << 16)
        while self.channel.recv_stderr_ready():
            self._err += self.channel.recv_stderr(1 << 16)
        if self.pid is None and b"\n" in self._out:
            line, _, rest = bytes(self._out).partition(b"\n")
            self.pid = int(line) if line.strip().isdigit() else -1
            self._out = bytearray(rest)

    def read_line(self, timeout: float) -> bytes:
        """The next line of stdout (without its newline); b"" at EOF or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            if self.pid is not None and b"\n" in self._out:
                line, _, rest = bytes(self._out).partition(b"\n")
                self._out = bytearray(rest)
                return line
            left = deadline - time.monotonic()
            if self._at_eof() or left <= 0:
                return b""
            select.select([self.channel], [], [], min(left, 0.05))

    def _at_eof(self) -> bool:
        """Both streams read to the end: the device sent EOF (or closed) and nothing is buffered.

        The exit status alone is not enough: it can arrive while output still waits behind the
        channel window, so reading must go on until EOF.
        """
        channel = self.channel
        return (
            (channel.eof_received or channel.closed)
            and not channel.recv_ready()
            and not channel.recv_stderr_ready()
        )

    def finish(self, timeout: float = 120.0, check: bool = True) -> CommandResult:
        """Read stdout and stderr to EOF, then take the exit status; kill the remote process on
        timeout (DeviceError)."""
        channel = self.channel
        deadline = time.monotonic() + timeout
        while True:
            self._drain()
            if self._at_eof():
                break
            left = deadline - time.monotonic()
            if left <= 0:
                channel.close()
                self.session.kill(self.pid)
                raise DeviceError(
                    f"{self.name} on {self.session.device.name} timed out after {timeout:.0f} s; "
                    f"the remote process {self.pid} was killed"
                )
            select.select([channel], [], [], min(left, 0.05))
        code = channel.recv_exit_status()
        channel.close()
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        result = CommandResult(code, bytes(self._out), bytes(self._err))
        if check and code != 0:
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DeviceError(
                f"{self.name} failed on {self.session.device.name} (exit {code})"
                + (f": {detail[-1][:300]}" if detail else "")
            )
        return result


def _local_user() -> str:
    import getpass

    return getpass.getuser()

"""SSH sessions with paramiko: ~/.ssh/config, verified host keys, keys and agent, safe remote commands."""

from __future__ import annotations

import base64
import hashlib
import logging
import select
import shlex
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.devices.inventory import Device, config_home
from edgesdk.errors import DeviceError

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15
SFTP_WINDOW = 1 << 27
SFTP_PACKET = 32768
_UNSUPPORTED = ("proxyjump", "proxycommand", "localforward", "remoteforward")


class UnknownHostKeyError(DeviceError):
    """The device presented a host key that no known_hosts file lists."""

    def __init__(self, host: str, key_type: str, fingerprint: str):
        super().__init__(
            f"Unknown host key for {host}: {key_type} {fingerprint}; refusing to connect until "
            "this fingerprint is verified and trusted"
        )
        self.host = host
        self.fingerprint = fingerprint


def fingerprint(key: Any) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a paramiko key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def ssh_dir() -> Path:
    return Path.home() / ".ssh"


def own_known_hosts() -> Path:
    return config_home() / "known_hosts"


@dataclass(frozen=True)
class Endpoint:
    """Where a device really is once ``~/.ssh/config`` is applied."""

    hostname: str
    port: int
    user: str | None
    key_files: tuple[str, ...]

    @property
    def host_key_name(self) -> str:
        """The name known_hosts uses: ``host`` on port 22, ``[host]:port`` otherwise."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def resolve(device: Device) -> Endpoint:
    """Apply ``~/.ssh/config`` (HostName, User, Port, IdentityFile); device fields win.

    Raises:
        DeviceError: the config asks for something edgesdk does not do (ProxyJump, ...).
    """
    import paramiko

    config_path = ssh_dir() / "config"
    options: dict[str, Any] = {}
    if config_path.is_file():
        text = config_path.read_text(encoding="utf-8", errors="replace")
        if any(line.strip().lower().startswith("include ") for line in text.splitlines()):
            log.warning("%s uses Include; edgesdk does not read included files", config_path)
        options = paramiko.SSHConfig.from_text(text).lookup(device.host)
        for key in _UNSUPPORTED:
            if key in options:
                raise DeviceError(
                    f"{config_path} sets {key} for {device.host!r}; edgesdk does not support "
                    f"{key} (connect directly, or give --host with a reachable address)"
                )
    hostname = options.get("hostname", device.host)
    port = device.port or int(options.get("port", 22))
    user = device.user or options.get("user")
    keys = (device.key,) if device.key else tuple(options.get("identityfile", ()))
    return Endpoint(
        hostname=hostname,
        port=port,
        user=user,
        key_files=tuple(str(Path(k).expanduser()) for k in keys),
    )


def _host_keys() -> Any:
    import paramiko

    keys = paramiko.HostKeys()
    for path in (ssh_dir() / "known_hosts", own_known_hosts()):
        if path.is_file():
            try:
                keys.load(str(path))
            except (OSError, paramiko.SSHException) as e:
                raise DeviceError(f"Cannot read known hosts {path}: {e}") from e
    return keys


def _check_host_key(endpoint: Endpoint, key: Any) -> None:
    """Accept ``key`` only if a known_hosts file lists it for this host (changed → refused)."""
    known = _host_keys().lookup(endpoint.host_key_name)
    if not known:
        raise UnknownHostKeyError(endpoint.host_key_name, key.get_name(), fingerprint(key))
    expected = known.get(key.get_name())
    if expected is None or expected != key:
        old = ", ".join(f"{k.get_name()} {fingerprint(k)}" for k in known.values())
        raise DeviceError(
            f"Host key for {endpoint.host_key_name} has CHANGED: it presents {key.get_name()} "
            f"{fingerprint(key)}, known hosts list {old}; refusing to connect (possible "
            "man-in-the-middle; if the device was reinstalled, remove its old entry first)"
        )


def _open_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((endpoint.hostname, endpoint.port), timeout=timeout)
    except OSError as e:
        raise DeviceError(
            f"Cannot reach {endpoint.hostname}:{endpoint.port}: {e.strerror or e}"
        ) from e


def presented_key(device: Device, timeout: float = 10.0) -> tuple[Endpoint, Any]:
    """The host key the device presents (no authentication, nothing trusted)."""
    import paramiko

    endpoint = resolve(device)
    sock = _open_socket(endpoint, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        return endpoint, transport.get_remote_server_key()
    except paramiko.SSHException as e:
        raise DeviceError(f"SSH handshake with {endpoint.host_key_name} failed: {e}") from e
    finally:
        transport.close()


def trust(device: Device, expected: str, timeout: float = 10.0) -> str:
    """Record the device's host key in edgesdk's known_hosts if it matches ``expected``.

    Returns:
        The fingerprint recorded.

    Raises:
        DeviceError: the fingerprint differs, or a different key is already known.
    """
    import paramiko

    endpoint, key = presented_key(device, timeout)
    actual = fingerprint(key)
    if actual != expected.strip():
        raise DeviceError(
            f"Fingerprint mismatch for {endpoint.host_key_name}: the host presents {actual}, "
            f"you gave {expected.strip()}; nothing recorded"
        )
    try:
        _check_host_key(endpoint, key)
        return actual  # already trusted
    except UnknownHostKeyError:
        pass
    path = own_known_hosts()
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    keys.add(endpoint.host_key_name, key.get_name(), key)
    tmp = path.with_name(path.name + ".tmp")
    keys.save(str(tmp))
    tmp.replace(path)
    return actual


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
                raise DeviceError(f"SSH key not found: {path}")
            try:
                return paramiko.PKey.from_path(path)
            except (paramiko.PasswordRequiredException, TypeError) as e:
                # OpenSSH-format keys report a missing passphrase as TypeError
                if isinstance(e, TypeError) and "password" not in str(e).lower():
                    raise DeviceError(f"Cannot read SSH key {path}: {e}") from e
            except (paramiko.SSHException, OSError, ValueError) as e:
                raise DeviceError(f"Cannot read SSH key {path}: {e}") from e
            if self.passphrase_prompt is None:
                raise DeviceError(
                    f"SSH key {path} is encrypted and no passphrase prompt is available"
                )
            try:
                secret = self.passphrase_prompt(path).encode("utf-8")
                return paramiko.PKey.from_path(path, password=secret)
            except (paramiko.SSHException, ValueError, TypeError) as e:
                raise DeviceError(f"Cannot unlock SSH key {path}: {e}") from e
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
            _check_host_key(endpoint, e.key)  # raises the "CHANGED" DeviceError
            raise DeviceError(f"Host key for {endpoint.host_key_name} rejected") from e
        except paramiko.AuthenticationException as e:
            client.close()
            raise DeviceError(
                f"SSH authentication as {user!r} on {endpoint.host_key_name} failed: {e}"
            ) from e
        except paramiko.SSHException as e:
            client.close()
            raise DeviceError(f"SSH with {endpoint.host_key_name} failed: {e}") from e
        except OSError as e:  # refused, unreachable, timed out
            client.close()
            raise DeviceError(
                f"Cannot reach {endpoint.hostname}:{endpoint.port}: {e.strerror or e}"
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


class RemoteProcess:
    """A command running on the device over one SSH channel."""

    def __init__(self, session: Session, channel: Any, name: str):
        self.session = session
        self.channel = channel
        self.name = name
        self.pid: int | None = None
        self._out = bytearray()
        self._err = bytearray()

    def abort(self) -> None:
        """Close the channel; on a dead connection that cannot fail."""
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

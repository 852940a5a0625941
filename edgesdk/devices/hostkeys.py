"""Host keys: where a device really is (``~/.ssh/config``), known_hosts checks, fingerprints,
and recording a key the user verified."""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.devices.inventory import Device, config_home
from edgesdk.errors import DeviceError, UnknownHostKeyError

log = logging.getLogger(__name__)

_UNSUPPORTED = ("proxyjump", "proxycommand", "localforward", "remoteforward")


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
                    f"{key} (connect directly, or give the device a reachable address: "
                    "`host=ADDRESS`)",
                    what=key,
                    retryable=False,
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


def is_known(device: Device) -> bool:
    """Whether a known_hosts file (``~/.ssh``'s or edgesdk's) lists a key for the device."""
    return _host_keys().lookup(resolve(device).host_key_name) is not None


def check_host_key(endpoint: Endpoint, key: Any) -> None:
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
            "man-in-the-middle; if the device was reinstalled, remove its old entry first)",
            retryable=False,
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
            f"you gave {expected.strip()}; nothing recorded",
            retryable=False,
        )
    try:
        check_host_key(endpoint, key)
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

"""An Ansible project for a device group: inventory, playbooks and the edgesdk role."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.fileio import write_atomic
from edgesdk.core.results import JsonResult
from edgesdk.devices.benchmark import RUNNER
from edgesdk.devices.hostkeys import is_known, own_known_hosts, ssh_dir
from edgesdk.devices.inventory import Device, is_valid_name
from edgesdk.errors import ConfigError, OutputError

KIT = Path(__file__).resolve().parent / "ansible_kit"
ROLE = Path("roles") / "edgesdk"


def kit_files() -> list[Path]:
    """The shipped playbooks and role files, relative to the kit folder."""
    return sorted(
        p.relative_to(KIT)
        for p in KIT.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".yml", ".py")
    )


class Unsafe(str):
    """A value Ansible must take as data, never as a template: written with the ``!unsafe`` tag.

    Device fields come from users, inventories and imports; Ansible templates plain strings in
    an inventory, so ``{{ lookup('pipe', ...) }}`` in a host name would run on the controller.
    """


def _unsafe_representer(dumper: Any, value: Unsafe) -> Any:
    return dumper.represent_scalar("!unsafe", str(value))


def _dumper() -> Any:
    """yaml's SafeDumper that writes :class:`Unsafe` strings with the ``!unsafe`` tag."""
    import yaml

    class InventoryDumper(yaml.SafeDumper):
        pass

    InventoryDumper.add_representer(Unsafe, _unsafe_representer)
    return InventoryDumper


def _ssh_option(name: str, values: list[str]) -> str:
    """``-o Name=value`` for ansible_ssh_common_args (split by Ansible like a shell line)."""
    quoted = " ".join(f'"{v}"' if any(c.isspace() for c in v) else v for v in values)
    return "-o " + shlex.quote(f"{name}={quoted}")


def host_key_args(known_hosts: list[Path]) -> str:
    """Strict host-key checking against the files edgesdk itself trusts."""
    return " ".join(
        [
            _ssh_option("StrictHostKeyChecking", ["yes"]),
            _ssh_option("UserKnownHostsFile", [str(p) for p in known_hosts]),
        ]
    )


def host_vars(device: Device) -> dict[str, Any]:
    """A device as Ansible inventory variables (unset fields stay with ``~/.ssh/config``)."""
    variables: dict[str, Any] = {"ansible_host": Unsafe(device.host)}
    if device.port is not None:
        variables["ansible_port"] = device.port
    if device.user is not None:
        variables["ansible_user"] = Unsafe(device.user)
    if device.key is not None:
        variables["ansible_ssh_private_key_file"] = Unsafe(device.key)
    variables["ansible_python_interpreter"] = Unsafe(device.python)
    variables["edgesdk_workdir"] = Unsafe(device.workdir)
    if device.target is not None:
        variables["edgesdk_target"] = Unsafe(device.target)
    return variables


def inventory_yaml(group: str, devices: list[Device], known_hosts: list[Path]) -> str:
    """``hosts.yml``: every value from a user or a device is ``!unsafe`` (data, not a template);
    the keys, device and group names, are restricted to letters, digits, '.', '_' and '-'.

    Raises:
        ConfigError: ``group`` is not a valid group name.
    """
    import yaml

    if not is_valid_name(group):
        raise ConfigError(f"Invalid group name {group!r} (letters, digits, '.', '_', '-')")
    data = {
        "all": {
            "children": {
                group: {
                    "hosts": {d.name: host_vars(d) for d in devices},
                    "vars": {
                        # beats host_key_checking=False in an ansible.cfg or the environment
                        "ansible_host_key_checking": True,
                        "ansible_ssh_common_args": Unsafe(host_key_args(known_hosts)),
                        # modules through the open ssh session, no temporary files: several
                        # times faster; safe here (the role needs no become/sudo)
                        "ansible_pipelining": True,
                    },
                }
            }
        }
    }
    header = (
        f"# Written by `edgesdk fleet ansible` for group {group} from edgesdk's device inventory.\n"
        "# Host keys are checked against edgesdk's known_hosts (`edgesdk device trust`).\n"
    )
    return header + yaml.dump(
        data, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=1 << 16
    )


@dataclass(frozen=True)
class AnsibleProject(JsonResult):
    """What ``fleet ansible`` wrote and the commands that use it."""

    group: str
    folder: Path
    devices: tuple[str, ...]
    files: tuple[str, ...]
    untrusted: tuple[str, ...] = ()  # no known host key yet: Ansible will refuse them

    @property
    def inventory(self) -> Path:
        return self.folder / "hosts.yml"

    def command(self, playbook: str, extra: str = "") -> str:
        argv = ["ansible-playbook", "-i", str(self.inventory), str(self.folder / playbook)]
        return " ".join(shlex.quote(a) for a in argv) + (f" {extra}" if extra else "")

    @property
    def commands(self) -> dict[str, str]:
        return {
            "deploy": self.command("deploy.yml", "-e model=MODEL.tflite"),
            "rollback": self.command("rollback.yml"),
            "benchmark": self.command("benchmark.yml"),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "ansible-project",
            "group": self.group,
            "folder": str(self.folder),
            "inventory": str(self.inventory),
            "devices": list(self.devices),
            "files": list(self.files),
            "untrusted": list(self.untrusted),
            "commands": self.commands,
        }


def write_project(group: str, devices: list[Device], out_dir: str | Path) -> AnsibleProject:
    """Write ``hosts.yml``, the playbooks and the role for ``devices`` into ``out_dir``.

    Files of an earlier run are replaced one by one (each atomically); other files stay.

    Raises:
        OutputError: ``out_dir`` is a file or cannot be written.
    """
    folder = Path(out_dir).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"Output {folder} exists and is not a folder")
    known_hosts = [own_known_hosts().absolute(), ssh_dir().absolute() / "known_hosts"]
    written = [write_atomic(folder / "hosts.yml", inventory_yaml(group, devices, known_hosts))]
    for relative in kit_files():
        written.append(write_atomic(folder / relative, (KIT / relative).read_bytes()))
    # the on-device runner is edgesdk's own, copied so the role needs no edgesdk installed
    written.append(write_atomic(folder / ROLE / "files" / "runner.py", RUNNER.read_bytes()))
    return AnsibleProject(
        group,
        folder,
        tuple(d.name for d in devices),
        tuple(str(p.relative_to(folder)) for p in written),
        tuple(d.name for d in devices if not is_known(d)),
    )

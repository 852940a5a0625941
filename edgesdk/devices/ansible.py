"""Reading Ansible inventories (INI or YAML) into edgesdk devices with their groups."""

from __future__ import annotations

import shlex
from collections import defaultdict
from pathlib import Path
from typing import Any

from edgesdk.devices.inventory import Device
from edgesdk.errors import ConfigError

_VARS = {
    "ansible_host": "host",
    "ansible_port": "port",
    "ansible_user": "user",
    "ansible_ssh_private_key_file": "key",
    "ansible_python_interpreter": "python",
}


class _Inventory:
    def __init__(self) -> None:
        self.host_vars: dict[str, dict[str, Any]] = defaultdict(dict)
        self.group_hosts: dict[str, list[str]] = defaultdict(list)
        self.group_vars: dict[str, dict[str, Any]] = defaultdict(dict)
        self.children: dict[str, list[str]] = defaultdict(list)

    def add_host(self, group: str, name: str, variables: dict[str, Any]) -> None:
        self.host_vars[name].update(variables)
        if name not in self.group_hosts[group]:
            self.group_hosts[group].append(name)

    def groups_of(self, host: str) -> list[str]:
        """Every group that holds ``host``, directly or through child groups."""
        direct = {g for g, hosts in self.group_hosts.items() if host in hosts}
        found = set(direct)
        changed = True
        while changed:
            changed = False
            for parent, kids in self.children.items():
                if parent not in found and found.intersection(kids):
                    found.add(parent)
                    changed = True
        return sorted(g for g in found if g not in ("all", "ungrouped"))

    def depth(self, group: str) -> int:
        """How many groups hold ``group`` (parents' vars apply first, children's win)."""
        parents = [p for p, kids in self.children.items() if group in kids]
        return 1 + max((self.depth(p) for p in parents), default=0)

    def devices(self, source: str) -> list[Device]:
        result = []
        for name, host_vars in self.host_vars.items():
            merged: dict[str, Any] = {}
            for group in ["all", *sorted(self.groups_of(name), key=self.depth)]:
                merged.update(self.group_vars.get(group, {}))
            merged.update(host_vars)
            fields: dict[str, Any] = {"host": name}
            for var, field in _VARS.items():
                if var in merged:
                    fields[field] = merged[var]
            if "port" in fields:
                try:
                    fields["port"] = int(fields["port"])
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"{source}: ansible_port={fields['port']!r} for {name} is not a number"
                    ) from None
            if "key" in fields:
                fields["key"] = str(Path(str(fields["key"])).expanduser())
            for key in ("host", "user", "python"):
                if key in fields:
                    fields[key] = str(fields[key])
            result.append(Device(name=name, groups=tuple(self.groups_of(name)), **fields))
        return sorted(result, key=lambda d: d.name)


def _parse_ini(text: str, source: str) -> _Inventory:
    inv = _Inventory()
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise ConfigError(f"{source}:{number}: expected [group], got {line!r}")
            name = line[1:-1].strip()
            section, _, kind = name.partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise ConfigError(
                    f"{source}:{number}: unknown section kind {kind!r} (vars or children)"
                )
            continue
        try:
            parts = shlex.split(line, comments=True)
        except ValueError as e:
            raise ConfigError(f"{source}:{number}: {e}") from e
        if kind == "children":
            inv.children[section].append(parts[0])
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise ConfigError(f"{source}:{number}: expected key=value in [{section}:vars]")
            inv.group_vars[section][key.strip()] = value.strip()
        else:
            variables = {}
            for token in parts[1:]:
                key, sep, value = token.partition("=")
                if not sep:
                    raise ConfigError(f"{source}:{number}: expected key=value, got {token!r}")
                variables[key] = value
            inv.add_host(section, parts[0], variables)
    return inv


def _walk_yaml(inv: _Inventory, group: str, node: Any, source: str) -> None:
    if node is None:
        return
    if not isinstance(node, dict):
        raise ConfigError(f"{source}: group {group!r} must be a mapping")
    for name, host_vars in (node.get("hosts") or {}).items():
        inv.add_host(group, str(name), dict(host_vars or {}))
    inv.group_vars[group].update(node.get("vars") or {})
    for child, child_node in (node.get("children") or {}).items():
        inv.children[group].append(str(child))
        _walk_yaml(inv, str(child), child_node, source)


def _parse_yaml(text: str, source: str) -> _Inventory:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"Invalid YAML in {source}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of groups (for example 'all:')")
    inv = _Inventory()
    for group, node in data.items():
        _walk_yaml(inv, str(group), node, source)
    return inv


def read_inventory(path: str | Path) -> list[Device]:
    """Devices (with groups) from an Ansible inventory file, INI or YAML.

    Raises:
        ConfigError: unreadable file, syntax errors, or a file with no hosts.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"Cannot read inventory {p}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"Cannot read inventory {p}: not UTF-8 text (byte {e.start})") from e
    is_yaml = p.suffix.lower() in (".yml", ".yaml") or text.lstrip().startswith(("---", "all:"))
    try:
        inv = _parse_yaml(text, str(p)) if is_yaml else _parse_ini(text, str(p))
    except (ValueError, TypeError, AttributeError) as e:  # a well-formed file of another shape
        raise ConfigError(
            f"Malformed inventory {p}: {e} (expected Ansible's INI or YAML inventory layout)"
        ) from e
    devices = inv.devices(str(p))
    if not devices:
        raise ConfigError(f"No hosts in inventory {p}")
    return devices

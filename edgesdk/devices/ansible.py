"""Reading Ansible inventories with ansible-core's own inventory manager into edgesdk devices."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgesdk.devices.inventory import Device
from edgesdk.errors import ConfigError, EdgeSdkError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'edgesdk[ansible]'"

# edgesdk's device field, then the inventory variables that set it, first found wins
# (ansible_ssh_* are the older names the ssh connection still reads)
_FIELDS = {
    "host": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "key": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "python": ("ansible_python_interpreter",),
    "workdir": ("edgesdk_workdir",),
    "target": ("edgesdk_target",),
}
_IMPLICIT_GROUPS = ("all", "ungrouped")
_FAILURE = re.compile(r"Failed to parse inventory with '([^']+)' plugin: (.+)")


def _ansible() -> Any:
    """ansible-core's inventory classes, or a one-line error saying how to get them."""
    try:
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.template import Templar
        from ansible.utils.collection_loader import AnsibleCollectionConfig
        from ansible.vars.manager import VariableManager
    except ImportError as e:
        raise ConfigError(
            f"Reading Ansible inventories needs ansible-core ({e.name or e}): {INSTALL_HINT}",
            what="ansible-core",
        ) from None
    if AnsibleCollectionConfig.collection_finder is None:
        # what ansible's own commands do first: plugins by FQCN (ansible.builtin.generator,
        # amazon.aws.aws_ec2, ...) and installed collections become loadable
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()
    return AnsibleError, InventoryManager, DataLoader, Templar, VariableManager


@contextlib.contextmanager
def _quietly() -> Iterator[list[str]]:
    """Nothing ansible-core shows inside the block reaches the terminal; its warnings come back
    as text, each one every time (printed warnings are shown once per process)."""
    found: list[str] = []
    printed = io.StringIO()
    try:  # ansible-core 2.19's way to take the warnings of a task
        from ansible._internal._display_utils import DeferredWarningContext, format_message
    except ImportError:  # other versions: what they print is read instead
        DeferredWarningContext = None
    context = DeferredWarningContext(variables={}) if DeferredWarningContext else None
    with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
        with context or contextlib.nullcontext():
            try:
                yield found
            finally:
                if context is not None:
                    found.extend(format_message(w, False) for w in context.get_warnings())
                found.append(printed.getvalue())


@contextlib.contextmanager
def _no_lookups(tried: list[str]) -> Iterator[None]:
    """Every Ansible lookup (``lookup()``, ``query()``, ``q()``) fails inside the block; the names
    of those tried are appended to ``tried``.

    Lookups run commands (``pipe``) and read files and the environment of this machine; an
    inventory someone hands over must not do that when it is only read. ansible-core 2.19 has
    no switch for it (``disable_lookups`` is ignored), so its one way to a lookup plugin, the
    loader, refuses them while the block runs (for the whole process: read_inventory is not
    meant to run beside playbooks in other threads).
    """
    from ansible.plugins.loader import lookup_loader

    def refuse(name: str, *args: Any, **kwargs: Any) -> None:
        tried.append(str(name).removeprefix("ansible.builtin."))
        raise PermissionError(f"lookup {name!r} is not run while reading an inventory")

    shadowed = lookup_loader.__dict__.get("get")
    lookup_loader.get = refuse
    try:
        yield
    finally:
        if shadowed is None:
            del lookup_loader.get
        else:
            lookup_loader.get = shadowed


def _refused(tried: list[str], where: str) -> ConfigError:
    names = ", ".join(f"lookup({n!r})" for n in dict.fromkeys(tried))
    return ConfigError(
        f"{where} calls {names}: edgesdk runs no lookups when reading an inventory (they run "
        "commands and read files on this machine); give the value itself"
    )


def _why(captured: str) -> str:
    """The plugins' reasons from what ansible-core printed while it failed to parse a source."""
    reasons = [
        f"{m[1]} plugin: {m[2].strip().removeprefix('Failed to parse inventory: ')}"
        for m in _FAILURE.finditer(captured)
    ]
    if not reasons:
        return "no inventory plugin accepted it (INI, YAML, a script, a folder or a plugin config)"
    return "; ".join(dict.fromkeys(reasons))


def _field(name: str, host: str, value: Any, source: str) -> Any:
    if name == "port":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{source}: ansible_port={value!r} for {host} is not a number (1-65535)"
            ) from None
    if not isinstance(value, (str, int, float)):
        raise ConfigError(f"{source}: {name} of {host} is {value!r} (expected a string)")
    text = str(value)
    return str(Path(text).expanduser()) if name == "key" else text


def _device(
    host: Any, variables: dict[str, Any], templar: Any, source: str, lookups: list[str]
) -> Device:
    fields: dict[str, Any] = {"host": host.name}
    for name, keys in _FIELDS.items():
        key = next((k for k in keys if variables.get(k) is not None), None)
        if key is None:
            continue
        lookups.clear()
        try:
            value = templar.template(variables[key])
        finally:  # a refused lookup fails the template, or hides behind | default(...)
            if lookups:
                raise _refused(lookups, f"{source}: {key} of {host.name}") from None
        if name == "python" and str(value).startswith("auto"):
            continue  # interpreter discovery: edgesdk uses its default python3
        fields[name] = _field(name, host.name, value, source)
    groups = sorted(g.name for g in host.get_groups() if g.name not in _IMPLICIT_GROUPS)
    return Device(name=host.name, groups=tuple(groups), **fields)


def read_inventory(path: str | Path) -> list[Device]:
    """Devices (with groups) from any inventory source ansible-core reads.

    INI or YAML files with host ranges (``pi-[01:16]``) and nested children, folders with
    ``group_vars/`` and ``host_vars/``, executable inventory scripts and inventory plugin
    configs; variables are merged and templated the way Ansible does, except that lookups
    (``lookup('pipe', ...)``, ``query(...)``) never run: a value that needs one is refused.

    Raises:
        ConfigError: ansible-core is not installed, the source is missing or unreadable,
            a value is invalid or needs a lookup, or the source has no hosts.
    """
    ansible_error, manager_cls, loader_cls, templar_cls, variables_cls = _ansible()
    source = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(source):
        raise ConfigError(f"Cannot read inventory {path}: no such file or folder")
    lookups: list[str] = []
    try:
        with _no_lookups(lookups):
            with _quietly() as warnings:
                loader = loader_cls()
                inventory = manager_cls(loader=loader, sources=[source], parse=False)
                parsed = inventory.parse_source(source)
            if lookups:  # an inventory plugin's config (generator, constructed) tried one
                raise _refused(lookups, f"Inventory {path}")
            if not parsed:
                raise ConfigError(f"Cannot read inventory {path}: {_why(chr(10).join(warnings))}")
            with _quietly() as more:
                inventory.reconcile_inventory()
                variables = variables_cls(loader=loader, inventory=inventory)
                devices = []
                for host in inventory.get_hosts():
                    host_vars = variables.get_vars(host=host)
                    templar = templar_cls(loader=loader, variables=host_vars)
                    devices.append(_device(host, host_vars, templar, str(path), lookups))
    except EdgeSdkError:
        raise
    except (ansible_error, ValueError, TypeError, KeyError, AttributeError, OSError) as e:
        if lookups:  # merging or reading variables tried one
            raise _refused(lookups, f"Inventory {path}") from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"Malformed inventory {path}: {first}") from e
    for text in (*warnings, *more):
        if text.strip():
            log.warning("ansible-core on %s: %s", path, text.strip())
    if not devices:
        raise ConfigError(f"No hosts in inventory {path}")
    return sorted(devices, key=lambda d: d.name)

"""The device verbs of the public API (re-exported by ``edgesdk.api``): inventory, trust,
deploy, benchmark, sweeps and fleets; each delegates to ``edgesdk.devices``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgesdk.core.profiles import load_profile
from edgesdk.tflite.model_info import check_tflite_file

if TYPE_CHECKING:  # for annotations only: the device stages pull in paramiko
    from edgesdk.devices.ansible_project import AnsibleProject
    from edgesdk.devices.benchmark import BenchmarkOptions, BenchmarkResult
    from edgesdk.devices.check import DeviceReport
    from edgesdk.devices.deploy import DeployResult
    from edgesdk.devices.fleet import FleetOptions, FleetResult, Update
    from edgesdk.devices.inventory import Device
    from edgesdk.devices.ssh import Session
    from edgesdk.devices.sweep import SweepResult
    from edgesdk.devices.trust import TrustOutcome

PassphrasePrompt = Callable[[str], str]
"""Asked for an SSH key's passphrase with the key file's path; returns the passphrase."""


def _session(device: str | Device, passphrase_prompt: PassphrasePrompt | None = None) -> Session:
    from edgesdk.devices.inventory import Inventory
    from edgesdk.devices.ssh import Session

    return Session(Inventory().resolve(device), passphrase_prompt=passphrase_prompt)


def device_check(
    device: str | Device, passphrase_prompt: PassphrasePrompt | None = None
) -> DeviceReport:
    """Connect (host key verified) and report OS, arch, Python, numpy, runtime, free disk."""
    from edgesdk.devices.check import check

    with _session(device, passphrase_prompt) as session:
        return check(session)


def device_trust(device: str | Device, fingerprint: str) -> str:
    """Record the device's host key if it presents exactly ``fingerprint`` (``SHA256:...``)."""
    from edgesdk.devices.hostkeys import trust
    from edgesdk.devices.inventory import Inventory

    return trust(Inventory().resolve(device), fingerprint)


def deploy(
    model: str | Path,
    device: str | Device,
    progress: Callable[[int, int], None] | None = None,
    passphrase_prompt: PassphrasePrompt | None = None,
    lock_wait: float = 60.0,
) -> DeployResult:
    """Upload a .tflite to a device, verify its sha256 there, and switch to it atomically.

    One change at a time per device: a deploy waits up to ``lock_wait`` s while another
    edgesdk deploy, rollback or Ansible run holds the device's lock, then fails naming it.

    Raises:
        InspectionError: not a .tflite model. DeviceError: connection, trust or upload failed
            (the previously deployed model stays in place).
    """
    from edgesdk.devices.deploy import deploy as _deploy

    check_tflite_file(model)
    with _session(device, passphrase_prompt) as session:
        return _deploy(session, Path(model), progress, lock_wait)


def rollback(
    device: str | Device, passphrase_prompt: PassphrasePrompt | None = None
) -> DeployResult:
    """Switch the device back to its previous deployed model."""
    from edgesdk.devices.deploy import rollback as _rollback

    with _session(device, passphrase_prompt) as session:
        return _rollback(session)


def benchmark(
    model: str | Path,
    device: str | Device | None = None,
    options: BenchmarkOptions | None = None,
    passphrase_prompt: PassphrasePrompt | None = None,
) -> BenchmarkResult:
    """Benchmark a .tflite on this machine (no device) or on a device over SSH."""
    from edgesdk.devices.benchmark import BenchmarkOptions, run_local, run_remote

    opts = options or BenchmarkOptions()
    check_tflite_file(model)
    if device is None:
        return run_local(Path(model), opts)
    with _session(device, passphrase_prompt) as session:
        return run_remote(session, Path(model), opts)


def benchmark_sweep(
    model: str | Path,
    sweep: list[str],
    device: str | Device | None = None,
    runs: int = 100,
    warmup: int = 10,
    passphrase_prompt: PassphrasePrompt | None = None,
    runtime: str = "auto",
) -> SweepResult:
    """Every combination of ``sweep`` axes (``threads=1,2,4``, ``xnnpack=on,off``,
    ``model=b.tflite,...``) on this machine or a device, runs interleaved so drift and thermal
    throttling hit every cell alike; p50/p90/p99 and the speed-up against the first cell.
    ``runtime``: auto (the first found), litert, tflite-runtime or tensorflow.

    Raises:
        ConfigError: a malformed axis. BenchmarkError, DeviceError: the runner failed.
    """
    from edgesdk.devices import sweep as sw

    spec = sw.parse_sweep(str(model), list(sweep))
    for m in spec.models:
        check_tflite_file(m)
    if device is None:
        return sw.run_local(spec, runs, warmup, runtime=runtime)
    with _session(device, passphrase_prompt) as session:
        return sw.run_remote(session, spec, runs, warmup, runtime=runtime)


def _group(group: str) -> list[Device]:
    from edgesdk.devices.inventory import Inventory

    return Inventory().group(group)


def device_add(device: Device) -> Device:
    """Add (or replace) a Device in the inventory; its target profile must load. Nothing is
    contacted."""
    from edgesdk.devices.inventory import Inventory

    if device.target is not None:
        load_profile(device.target)
    return Inventory().add(device)


def list_devices(group: str | None = None) -> list[Device]:
    """The inventory's devices (those of ``group`` when given), sorted by name."""
    from edgesdk.devices.inventory import Inventory

    return Inventory().group(group) if group is not None else Inventory().list()


def device_remove(name: str) -> None:
    """Remove a device from the inventory (nothing on the device changes)."""
    from edgesdk.devices.inventory import Inventory

    Inventory().remove(name)


def deploy_group(
    model: str | Path,
    group: str,
    options: FleetOptions | None = None,
    canary: int = 0,
    rollback_on_failure: bool = False,
    on_update: Update | None = None,
    passphrase_prompt: PassphrasePrompt | None = None,
) -> FleetResult:
    """Deploy to every device of a group (canaries first), bounded concurrency, retries.

    Returns:
        A FleetResult; its ``exit_code`` says whether all, some or none succeeded.
    """
    from edgesdk.devices.fleet import FleetOptions
    from edgesdk.devices.fleet import deploy_group as _deploy_group

    check_tflite_file(model)
    return _deploy_group(
        Path(model),
        _group(group),
        options or FleetOptions(),
        canary,
        rollback_on_failure,
        on_update,
        passphrase_prompt,
    )


def benchmark_group(
    model: str | Path,
    group: str,
    options: FleetOptions | None = None,
    bench: BenchmarkOptions | None = None,
    outlier_factor: float = 1.5,
    on_update: Update | None = None,
    passphrase_prompt: PassphrasePrompt | None = None,
) -> FleetResult:
    """Benchmark on every device of a group; per-device p50/p99, spread, outliers, throttling."""
    from edgesdk.devices.benchmark import BenchmarkOptions
    from edgesdk.devices.fleet import FleetOptions
    from edgesdk.devices.fleet import benchmark_group as _benchmark_group

    check_tflite_file(model)
    return _benchmark_group(
        Path(model),
        _group(group),
        options or FleetOptions(),
        bench or BenchmarkOptions(),
        outlier_factor,
        on_update,
        passphrase_prompt,
    )


def fleet_status(
    group: str,
    options: FleetOptions | None = None,
    on_update: Update | None = None,
    passphrase_prompt: PassphrasePrompt | None = None,
) -> FleetResult:
    """Which model each device of a group runs; unreachable devices; disagreement."""
    from edgesdk.devices.fleet import FleetOptions, status_group

    return status_group(_group(group), options or FleetOptions(), on_update, passphrase_prompt)


def import_inventory(path: str | Path) -> tuple[list[str], list[str]]:
    """Add the hosts of an Ansible inventory (any source ansible-core reads: INI, YAML, a folder
    with group_vars/host_vars, a script, a plugin config) as devices; returns (added, updated).
    Needs ansible-core (``pip install 'edgesdk[ansible]'``)."""
    from edgesdk.devices.ansible import read_inventory
    from edgesdk.devices.inventory import Inventory

    return Inventory().add_many(read_inventory(path))


def ansible_project(group: str, out_dir: str | Path) -> AnsibleProject:
    """Write an Ansible inventory (host keys checked), playbooks and the edgesdk role for a
    group into ``out_dir``; returns an AnsibleProject (files written, commands to run)."""
    from edgesdk.devices.ansible_project import write_project

    return write_project(group, _group(group), out_dir)


def presented_fingerprint(device: str | Device) -> str:
    """The SHA256 fingerprint of the host key a device presents (nothing is trusted)."""
    from edgesdk.devices.hostkeys import fingerprint, presented_key
    from edgesdk.devices.inventory import Inventory

    return fingerprint(presented_key(Inventory().resolve(device))[1])


def trust_group(
    group: str,
    fingerprints: str | Path | dict[str, str] | None = None,
    confirm: Callable[[Device, str], bool] | None = None,
) -> list[TrustOutcome]:
    """Record the host keys of a group's devices, only where each matches what you verified.

    Args:
        group: the device group.
        fingerprints: a file of ``DEVICE SHA256:...`` lines (or that mapping); without it
            ``confirm(device, fingerprint)`` decides per device.
        confirm: called per device when no fingerprints are given; without it nothing is
            trusted.

    Returns:
        A TrustOutcome per device (trusted or not, and why not).
    """
    from edgesdk.devices.trust import read_fingerprints, trust_devices

    expected = (
        read_fingerprints(fingerprints) if isinstance(fingerprints, (str, Path)) else fingerprints
    )
    return trust_devices(_group(group), expected, confirm, presented_fingerprint, device_trust)

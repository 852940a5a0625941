"""Fingerprints files, group trust decisions and which errors a fleet retries."""

from __future__ import annotations

import pytest

from edgesdk.devices.inventory import Device
from edgesdk.devices.trust import read_fingerprints, trust_devices
from edgesdk.errors import ConfigError, DeviceError, UnknownHostKeyError

FP = "SHA256:" + "A" * 43
FP2 = "SHA256:" + "B" * 43


def test_fingerprints_file_with_comments_and_blank_lines(tmp_path):
    f = tmp_path / "fp.txt"
    f.write_text(f"# lab\n\npi-01 {FP}\n  pi-02   {FP2}\n")
    assert read_fingerprints(f) == {"pi-01": FP, "pi-02": FP2}


@pytest.mark.parametrize("line", ["pi-01", f"pi-01 MD5:{'a' * 10}", f"pi-01 {FP} extra"])
def test_a_bad_line_is_named_with_its_number(tmp_path, line):
    f = tmp_path / "fp.txt"
    f.write_text(f"pi-00 {FP}\n{line}\n")
    with pytest.raises(ConfigError, match=r"fp\.txt:2: expected 'DEVICE SHA256:\.\.\.'"):
        read_fingerprints(f)


def test_unreadable_fingerprints_file(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read fingerprints file"):
        read_fingerprints(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_fingerprints(tmp_path / "bin.txt")


def test_trust_only_what_matches_or_is_confirmed():
    devices = [Device("a", "127.0.0.2"), Device("b", "127.0.0.3"), Device("c", "127.0.0.4")]
    presents = {"a": FP, "b": FP2}
    recorded = []

    def presented(d):
        if d.name not in presents:
            raise DeviceError(f"Cannot reach {d.host}:22: refused")
        return presents[d.name]

    def record(d, fp):
        recorded.append((d.name, fp))
        return fp

    out = trust_devices(devices, {"a": FP, "b": FP}, None, presented, record)
    assert [(o.device, o.trusted) for o in out] == [("a", True), ("b", False), ("c", False)]
    assert (
        recorded == [("a", FP)] and "file says" in out[1].reason and "Cannot reach" in out[2].reason
    )
    recorded.clear()
    out = trust_devices(devices[:2], None, lambda d, fp: d.name == "b", presented, record)
    assert [o.trusted for o in out] == [False, True] and recorded == [("b", presents["b"])]
    out = trust_devices(devices[:1], None, None, presented, record)  # nobody to ask: refuse
    assert not out[0].trusted


def test_retry_rules_are_declared_on_the_error():
    assert DeviceError("Cannot reach 127.0.0.2:22: timed out").retryable
    assert not DeviceError("sha256 mismatch", retryable=False).retryable
    assert not UnknownHostKeyError("[127.0.0.1]:22", "ssh-ed25519", FP).retryable
    assert UnknownHostKeyError("[127.0.0.1]:22", "ssh-ed25519", FP).value == FP
    assert not ConfigError("bad option").retryable

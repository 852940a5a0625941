"""`device check`'s answer as a typed DeviceReport: the probe run here with this Python, its
JSON unchanged by the typing, and an unreadable answer refused as a DeviceError."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgesdk.devices.check import PROBE, DeviceReport, _report
from edgesdk.errors import DeviceError


def _probe(folder: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", PROBE, folder], capture_output=True, text=True, check=True
    )
    return r.stdout


def test_the_report_keeps_every_field_of_the_probe_in_order(tmp_path):
    answer = _probe(str(tmp_path / "not-yet" / "there"))
    report = _report(answer, "pi", "[127.0.0.1]:2222", "root")
    assert isinstance(report, DeviceReport) and report.ready
    probed = json.loads(answer)
    assert report.to_dict() == {
        **probed,
        "device": "pi",
        "host": "[127.0.0.1]:2222",
        "user": "root",
        "ready": True,
    }
    assert list(report.to_dict())[: len(probed)] == list(probed)
    assert report.disk_path == str(tmp_path) and report.disk_free_bytes > 0
    assert report.python == ".".join(map(str, sys.version_info[:3]))


def test_a_device_without_a_runtime_is_not_ready(tmp_path):
    probed = json.loads(_probe(str(tmp_path)))
    probed.update(runtime=None, runtime_version=None, runtimes={})
    report = _report("noise\n" + json.dumps(probed) + "\n", "pi", "h", None)
    assert not report.ready and report.to_dict()["ready"] is False and report.runtimes == {}


@pytest.mark.parametrize(
    "answer", ["", "not json", "[1, 2]", '{"os": "Linux"}', '{"disk_free_bytes": "lots"}']
)
def test_an_unreadable_answer_is_a_device_error(answer):
    with pytest.raises(DeviceError, match="Unreadable answer from pi's probe") as e:
        _report(answer, "pi", "h", None)
    assert e.value.what == "pi" and not e.value.retryable

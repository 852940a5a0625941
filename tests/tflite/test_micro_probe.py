"""The arena search probes TFLite Micro in a forked child: a crash there is a failed size, and a
child that never answers (stuck on a lock held at the fork) ends in one line, not a hang."""

from __future__ import annotations

import os
import time

import pytest

from edgesdk.errors import ExportError
from edgesdk.tflite import micro

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork-only probe")


def test_a_crashing_probe_is_a_failed_size_and_a_silent_one_times_out(monkeypatch):
    monkeypatch.setattr(micro, "_interpreter", lambda model, size: os.abort())
    assert micro._builds(b"", 1024) is False  # SIGABRT in the child, this process lives on
    monkeypatch.setattr(micro, "_interpreter", lambda model, size: None)
    assert micro._builds(b"", 1024) is True
    monkeypatch.setattr(micro, "_interpreter", lambda model, size: time.sleep(30))
    monkeypatch.setattr(micro, "PROBE_TIMEOUT_S", 0.3)
    with pytest.raises(ExportError, match=r"did not build the model in 1024 bytes within 0.3 s"):
        micro._builds(b"", 1024)

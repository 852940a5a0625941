"""Written artifacts get the modes a plain open(..., "w") / mkdir would give under the umask,
still written atomically (mkstemp/mkdtemp would leave them 0600/0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import edgesdk
from edgesdk.core.fileio import write_atomic


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    if root.is_dir():
        for p in root.rglob("*"):
            found[str(p)] = stat.S_IMODE(p.stat().st_mode)
    return found


def _expect(path: Path, mask: int) -> None:
    for name, mode in _modes(path).items():
        wanted = (0o777 if Path(name).is_dir() else 0o666) & ~mask
        assert mode == wanted, f"{name}: {oct(mode)}, expected {oct(wanted)}"


def test_write_atomic_follows_the_umask(tmp_path, umask):
    _expect(write_atomic(tmp_path / "a" / "b.json", "{}"), umask)


def test_every_kind_of_artifact(tmp_path, umask, trained_cnn, digits_npz):
    out = tmp_path / "m_int8.tflite"
    result = edgesdk.quantize(trained_cnn, digits_npz, out, target="arduino-nano-33-ble")
    _expect(out, umask)
    _expect(out.with_name(out.name + ".manifest.json"), umask)
    _expect(result.save(tmp_path / "saved" / "quantize.json"), umask)
    edgesdk.export_c(out, tmp_path / "bundle", target="arduino-nano-33-ble", firmware=True)
    _expect(tmp_path / "bundle", umask)  # folder, sources, export.json, firmware/
    small = tmp_path / "pruned.keras"
    edgesdk.compress(trained_cnn, digits_npz, small, prune=0.5, epochs=1, int8=False)
    _expect(small, umask)
    _expect(small.with_name(small.name + ".manifest.json"), umask)
    report = edgesdk.report(tmp_path, tmp_path / "report")
    _expect(Path(report.html).parent, umask)

"""One device layout, two implementations: edgesdk's (devices/layout.py + deploy.py over SFTP) and
the Ansible module's (standard library only, on the device). Both are held to the same spec."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from edgesdk.devices import layout

MODULE = (
    Path(layout.__file__).parent / "ansible_kit/roles/edgesdk/library/edgesdk_model.py"
).resolve()


@pytest.fixture(scope="module")
def module():
    spec = importlib.util.spec_from_file_location("edgesdk_model_under_test", MODULE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def entry(n: int) -> dict:
    sha = f"{n:02x}" * 32
    return {"sha256": sha, "name": f"m{n}.tflite", "size": n, "file": sha[:16] + ".tflite",
            "deployed_at": 1000.0 + n}  # fmt: skip


def test_the_constants_are_the_same(module):
    for name in ("KEEP_VERSIONS", "CURRENT", "HISTORY", "MODELS", "LOCK", "UPLOAD_PREFIX"):
        assert getattr(module, name) == getattr(layout, name), name
    assert tuple(module.TEMP_PREFIXES) == layout.TEMP_PREFIXES
    assert tuple(module.FIELDS) == layout.FIELDS


@pytest.mark.parametrize(
    "entries",
    [[], [1], [1, 2, 3, 4], [1, 2, 1, 3], [1, 2, 3, 1, 4, 2], [5, 5, 6], [1, 2, 3, 2, 1, 4, 5]],
)
def test_both_keep_the_same_versions(module, entries):
    history = [entry(n) for n in entries]
    assert module.kept(history) == layout.kept(history)


def _documents():
    a, b, c = entry(1), entry(2), entry(3)
    return [
        ({"deployments": [a, b]}, b["file"], [a, b]),
        ({"deployments": []}, None, []),
        # a change that crashed before its switch: the committed history holds
        ({"deployments": [a], "pending": {"current": b["file"], "deployments": [a, b]}},
         a["file"], [a]),
        # ... after its switch: the pending one does
        ({"deployments": [a], "pending": {"current": b["file"], "deployments": [a, b]}},
         b["file"], [a, b]),
        # a rollback (c -> b) that crashed after its switch
        ({"deployments": [a, b, c], "pending": {"current": b["file"], "deployments": [a, b]}},
         b["file"], [a, b]),
        # clearing (no current.tflite) after the removal
        ({"deployments": [a], "pending": {"current": None, "deployments": []}}, None, []),
    ]  # fmt: skip


@pytest.mark.parametrize("index", range(6))
def test_both_resolve_a_crashed_change_alike(module, tmp_path, index):
    doc, current, expected = _documents()[index]
    assert layout.resolve(doc, current) == expected
    store = module.Store(str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / layout.HISTORY).write_text(json.dumps(doc))
    if current is not None:
        os.symlink(f"models/{current}", tmp_path / layout.CURRENT)
    assert store.history() == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"deployments": [dict(entry(1), sha256="x" * 64)]},
        {"deployments": [dict(entry(1), file="../../etc/passwd")]},
        {"deployments": [dict(entry(1), extra=1)]},
        {"deployments": "no"},
        {"deployments": [], "pending": {"current": entry(1)["file"]}},
    ],
)
def test_both_refuse_a_damaged_history(module, tmp_path, bad):
    with pytest.raises(layout.LayoutError):
        layout.resolve(bad, entry(1)["file"])
    (tmp_path / "models").mkdir()
    (tmp_path / layout.HISTORY).write_text(json.dumps(bad))
    os.symlink(f"models/{entry(1)['file']}", tmp_path / layout.CURRENT)
    with pytest.raises((ValueError, KeyError, TypeError)):
        module.Store(str(tmp_path)).history()


def test_the_modules_change_leaves_what_edgesdk_reads(module, tmp_path):
    """The module's commit writes the same document edgesdk's commit would (pending, then
    switch, then final), and prunes the same files."""
    store = module.Store(str(tmp_path))
    store.ensure_dirs()
    history = [entry(n) for n in (1, 2, 3)]
    for e in [*history, entry(4)]:
        (tmp_path / "models" / e["file"]).write_bytes(b"x")
    store.commit(history, layout.kept([*history, entry(4)]), entry(4)["file"])
    doc = json.loads((tmp_path / layout.HISTORY).read_text())
    assert doc == layout.document(layout.kept([*history, entry(4)]))
    assert os.readlink(tmp_path / layout.CURRENT) == f"models/{entry(4)['file']}"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(
        e["file"] for e in layout.kept([*history, entry(4)])
    )

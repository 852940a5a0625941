"""Malformed inputs, seeded: every parser users feed gives success or one EdgeSdkError, never a
traceback or a crash (native runtimes run a malformed model in a child process first)."""

from __future__ import annotations

import random
import shutil

import pytest
from fuzzing import bundle_entry, data_entries, fresh_tmp, mutate, tflite_entries
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory, trained_cnn, digits_npz):
    out = tmp_path_factory.mktemp("fuzz") / "digits_int8.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, out, target="arduino-nano-33-ble")
    return out


@pytest.fixture
def tally():
    from fuzzing import Tally

    t = Tally()
    yield t
    assert not t.defects, "\n\n".join(t.defects[:3])


def test_tflite_parsers(int8_model, models, tally):
    rng = random.Random(0)
    tmp = fresh_tmp()
    try:
        for source in (int8_model, models["a"]):  # an int8 CNN and a float MLP
            entries = tflite_entries(source.read_bytes(), tmp)
            base = source.read_bytes()
            for _ in range(150):
                damaged = mutate(base, rng)
                tally.run("inspect", lambda d=damaged, e=entries: e["inspect"](d))
        entries = tflite_entries(int8_model.read_bytes(), tmp)
        for _ in range(20):  # each runs TFLite Micro and LiteRT (in a child first)
            damaged = mutate(int8_model.read_bytes(), rng)
            tally.run("export-c", lambda d=damaged: entries["export-c"](d))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert tally.counts["inspect"]["clean error"] > 0 and tally.counts["inspect"]["ok"] > 0


def test_cli_inspect_sample(int8_model, tmp_path):
    rng = random.Random(1)
    runner = CliRunner()
    outcomes = set()
    for i in range(12):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(mutate(int8_model.read_bytes(), rng))
        r = runner.invoke(app, ["inspect", str(path), "--json"])
        assert r.exit_code in (0, 1), r.output
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        if r.exit_code == 1:
            assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
        outcomes.add(r.exit_code)
    assert outcomes == {0, 1}  # both kinds of damage were produced


def test_other_parsers(tally, ssh_home, tmp_path):
    rng = random.Random(2)
    tmp = fresh_tmp()
    try:
        for name, (base, load) in data_entries(tmp).items():
            for _ in range(60):
                damaged = mutate(base, rng)
                tally.run(name, lambda d=damaged, f=load: f(d))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, counts in tally.counts.items():
        assert counts["clean error"] > 0, f"{name}: no damaged file was refused"


def test_bundle_folders(int8_model, tmp_path, tally):
    bundle = tmp_path / "bundle"
    edgesdk.export_c(int8_model, bundle, target="arduino-nano-33-ble", test_vectors=2)
    rng = random.Random(3)
    for _ in range(40):
        tally.run("bundle folder", bundle_entry(bundle, tmp_path, rng))

"""Malformed inputs, seeded: every parser users feed gives success or one EdgeSdkError, never a
traceback or a crash (native runtimes run a malformed model in a child process first).

Damaged .tflite files come two ways: random bytes (flips, cuts, junk, swapped words) and
targeted fields found with the schema (tensor shapes, types, buffer indices, graph and op tensor
indices, quantization, weights, offsets), which is what makes LiteRT and TFLite Micro read one
file differently. ``scripts/fuzz.py`` runs the same with larger counts."""

from __future__ import annotations

import random
import shutil

import pytest
from fuzzing import (
    bundle_entry,
    clean_cli_failure,
    cli_outcome,
    data_entries,
    evaluate_entry,
    fresh_tmp,
    mutate,
    mutate_structure,
    output_dim_plus_one,
    regions,
    tflite_entries,
)
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
            where = regions(base)
            for _ in range(150):
                damaged = mutate(base, rng)
                tally.run("inspect", lambda d=damaged, e=entries: e["inspect"](d))
                damaged, case = mutate_structure(base, rng, where)
                tally.run("inspect", lambda d=damaged, e=entries: e["inspect"](d), case)
        entries = tflite_entries(int8_model.read_bytes(), tmp)
        for _ in range(20):  # each runs TFLite Micro and LiteRT (in a child first)
            damaged = mutate(int8_model.read_bytes(), rng)
            tally.run("export-c", lambda d=damaged: entries["export-c"](d))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert tally.counts["inspect"]["clean error"] > 0 and tally.counts["inspect"]["ok"] > 0


def test_every_region_is_found(int8_model):
    """The targeted mutations reach every kind of field of the int8 CNN."""
    where = regions(int8_model.read_bytes())
    assert all(where.values()), {k: len(v) for k, v in where.items()}
    assert len(where["graph io"]) == 2 and len(where["tensor shape"]) >= 20


@pytest.mark.parametrize("engine", ["tflm", "standalone"])
def test_runtimes_reading_different_output_shapes_is_one_error(int8_model, tmp_path, engine):
    """Issue 23 item 12: output 0 declared [1, 11] while its op computes [1, 10]. Before the
    fix, export-c ended in ``ValueError: operands could not be broadcast together with shapes
    (1,10) (1,11)`` (TFLite Micro's output against LiteRT's, in compare_with_litert)."""
    from edgesdk.errors import InspectionError

    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(output_dim_plus_one(int8_model.read_bytes()))
    with pytest.raises(InspectionError) as raised:
        edgesdk.export_c(damaged, tmp_path / "out", target="arduino-nano-33-ble", engine=engine)
    message = str(raised.value)
    assert f"Model file {damaged} is damaged or inconsistent: output 0" in message
    assert "[1, 10]" in message and "[1, 11]" in message and "LiteRT" in message
    if engine == "tflm":
        assert "[1, 10] (scale" in message and "to LiteRT, int8 [1, 11]" in message
        assert message.endswith("to TFLite Micro")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed", [10, 11, 12])
@pytest.mark.parametrize("engine", ["export-c", "export-c standalone"])
def test_export_c_targeted(int8_model, tally, engine, seed):
    """Damaged fields through export-c with either engine (TFLite Micro vs LiteRT parity, or
    the generated C compiled and checked against LiteRT's reference kernels)."""
    rng = random.Random(seed)
    tmp = fresh_tmp()
    base = int8_model.read_bytes()
    where = regions(base)
    try:
        entries = tflite_entries(base, tmp)
        for _ in range(12):
            damaged, case = mutate_structure(base, rng, where)
            tally.run(engine, lambda d=damaged: entries[engine](d), f"seed {seed}: {case}")
        for _ in range(3):
            damaged = mutate(base, rng)
            tally.run(engine, lambda d=damaged: entries[engine](d), f"seed {seed}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert tally.counts[engine]["clean error"] > 0


def test_cli_export_c_in_its_own_process(int8_model, tmp_path):
    """The real CLI process (a native crash would end it, not this test): the regression case
    and targeted damage, both engines: exit 0, or exit 1 with one ``error:`` line."""
    rng = random.Random(4)
    base = int8_model.read_bytes()
    where = regions(base)
    cases = [("output 0 [1, 10] -> [1, 11]", output_dim_plus_one(base))]
    cases += [mutate_structure(base, rng, where)[::-1] for _ in range(3)]
    failures, codes = [], []
    for i, (case, data) in enumerate(cases):
        path = tmp_path / f"m{i}.tflite"
        path.write_bytes(data)
        for engine in ("tflm", "standalone"):
            out = tmp_path / f"out-{i}-{engine}"
            args = ["export-c", str(path), "--target", "arduino-nano-33-ble", "-o", str(out)]
            code, _, stderr = cli_outcome([*args, "--engine", engine])
            codes.append(code)
            why = clean_cli_failure(code, stderr)
            if why:
                failures.append(f"{case} ({engine}): {why}")
            if i == 0:
                assert code == 1 and "is damaged or inconsistent: output 0" in stderr, stderr
    assert not failures, "\n".join(failures)


def test_evaluate_damaged_models(trained_cnn, digits_npz, int8_model, tally):
    """evaluate on LiteRT and TFLite Micro: the regression case and a few targeted ones."""
    rng = random.Random(5)
    tmp = fresh_tmp()
    base = int8_model.read_bytes()
    where = regions(base)
    try:
        run = evaluate_entry(trained_cnn, digits_npz, tmp)
        tally.run("evaluate", lambda: run(output_dim_plus_one(base)), "output 0 + 1")
        for _ in range(3):
            damaged, case = mutate_structure(base, rng, where)
            tally.run("evaluate", lambda d=damaged: run(d), case)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert tally.counts["evaluate"]["clean error"] > 0


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

"""export-c: the firmware bundle compiled with the real gcc/g++ and verified on TFLite Micro."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.core.options import QuantizeOptions
from edgesdk.core.profiles import load_profile
from edgesdk.errors import ExportError

MAIN = r"""
#include <stdio.h>
#include <stdint.h>
#include "NAME_model.h"
#include "NAME_test_vectors.h"
int main(int argc, char** argv) {
  if (argc < 2) return 3;
  FILE* f = fopen(argv[1], "wb");
  if (!f) return 2;
  fwrite(g_NAME_model_data, 1, g_NAME_model_data_len, f);
  fclose(f);
  printf("%lu %d %d %d %d\n", (unsigned long)((uintptr_t)g_NAME_model_data % NAME_UPPER_MODEL_ALIGNMENT),
         (int)kCAMELTensorArenaSize, (int)NAME_quantize_input0(0.31f),
         (int)kCAMELTestVectorCount, (int)kCAMELTestInput0[0][0]);
  return 0;
}
"""


def result_input_quant(path):
    t = edgesdk.inspect(path).io_tensors()[0][0]
    return t.scale[0], t.zero_point[0]


@pytest.fixture(scope="module")
def int8_tflite(tmp_path_factory, trained_cnn, digits_npz):
    out = tmp_path_factory.mktemp("export") / "Digits CNN-v1.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, out, target="arduino-nano-33-ble")
    return out


@pytest.mark.parametrize(
    "compiler,lang,std", [("gcc", "c", "-std=c11"), ("g++", "c++", "-std=c++17")]
)
def test_bundle_compiles_and_holds_the_exact_bytes(tmp_path, int8_tflite, compiler, lang, std):
    out = tmp_path / "bundle"
    r = CliRunner().invoke(
        app,
        [
            "export-c",
            str(int8_tflite),
            "-t",
            "stm32f746-disco",
            "-o",
            str(out),
            "--test-vectors",
            "4",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    name = result["name"]
    assert name == "digits_cnn_v1"
    assert sorted(p.name for p in out.iterdir()) == sorted(result["files"])
    source = (out / f"{name}_model.cc").read_text()
    assert '__attribute__((section(".rodata")))' in source and "EDGESDK_ALIGNAS(16)" in source
    main = (
        MAIN.replace("NAME_UPPER", name.upper())
        .replace("NAME", name)
        .replace("CAMEL", "DigitsCnnV1")
    )
    (tmp_path / "main.c").write_text(main)
    exe = tmp_path / f"prog_{lang}"
    subprocess.run(
        [
            compiler,
            std,
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{out}",
            "-x",
            lang,
            str(tmp_path / "main.c"),
            "-x",
            lang,
            str(out / f"{name}_model.cc"),
            "-o",
            str(exe),
        ],
        check=True,
        capture_output=True,
    )
    dump = tmp_path / "dump.bin"
    run = subprocess.run([str(exe), str(dump)], check=True, capture_output=True, text=True)
    assert dump.read_bytes() == int8_tflite.read_bytes()
    misalign, arena, q, vectors, _ = (int(v) for v in run.stdout.split())
    assert misalign == 0 and vectors == 4
    assert arena == result["arena_declared"] >= result["arena_measured"]["total"]
    scale, zero = result_input_quant(int8_tflite)
    v = 0.31 / scale + zero
    assert q == (math.floor(v + 0.5) if v >= 0 else math.ceil(v - 0.5))  # round half away from zero


def test_tflm_agrees_with_litert_reference_and_arena_is_enough(tmp_path, int8_tflite):
    result = edgesdk.export_c(int8_tflite, tmp_path / "b", target="esp32-s3")
    (parity,) = result.parity
    assert parity.samples == 100 and parity.max_lsb <= 1 and parity.top1_changes == 0
    assert 0 <= parity.exact_rate <= 1
    assert result.arena_declared >= result.arena.total > 0
    from edgesdk.tflite.micro import check_arena

    check_arena(int8_tflite.read_bytes(), result.arena_declared)
    with pytest.raises(ExportError, match="too small"):
        check_arena(int8_tflite.read_bytes(), result.arena.total // 2)
    resolver = (tmp_path / "b" / f"{result.name}_op_resolver.h").read_text()
    ops = {o.op for o in result.ops}
    assert f"MicroMutableOpResolver<k{'DigitsCnnV1'}OpCount>" in resolver
    assert f"OpCount = {len(ops)};" in resolver and resolver.count("resolver.Add") == len(ops)


def test_dynamic_range_model_is_refused_for_mcu(tmp_path, trained_cnn):
    dyn = tmp_path / "dyn.tflite"
    edgesdk.quantize(
        trained_cnn, None, dyn, target="raspberry-pi-4", options=QuantizeOptions(mode="dynamic")
    )
    r = CliRunner().invoke(
        app, ["export-c", str(dyn), "-t", "arduino-nano-33-ble", "-o", str(tmp_path / "x")]
    )
    assert r.exit_code == 1
    assert "hybrid (dynamic-range)" in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x").exists()


def test_export_errors_leave_nothing(tmp_path, int8_tflite):
    runner = CliRunner()
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    half = tmp_path / "half.tflite"
    half.write_bytes(int8_tflite.read_bytes()[:5000])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "main.cc").write_text("int main() {}")
    cases = [
        ([str(bad), "-t", "esp32-s3"], "Not a TFLite model"),
        ([str(half), "-t", "esp32-s3"], "truncated"),
        ([str(int8_tflite), "-t", "esp32-s4"], "Unknown target"),
        ([str(int8_tflite), "-t", "esp32-s3", "--name", "+++"], "cannot become a C identifier"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        r = runner.invoke(app, ["export-c", *args, "-o", str(out)])
        assert r.exit_code == 1 and message in r.stderr, (args, r.stderr)
        assert not out.exists()
    r = runner.invoke(app, ["export-c", str(int8_tflite), "-t", "esp32-s3", "-o", str(busy)])
    assert r.exit_code == 1 and "already has files" in r.stderr
    assert [p.name for p in busy.iterdir()] == ["main.cc"]
    r = runner.invoke(
        app, ["export-c", str(int8_tflite), "-t", "esp32-s3", "-o", str(busy), "--force"]
    )
    assert r.exit_code == 0 and "main.cc" not in [p.name for p in busy.iterdir()]


def test_over_budget_is_an_error_unless_forced(tmp_path, int8_tflite):
    tiny = load_profile("arduino-nano-33-ble").to_dict(with_source=False)
    tiny["name"] = "tiny-board"
    tiny["memory"] = {"ram_bytes": 8192, "flash_bytes": 65536}
    toml = "\n".join(
        [f"{k} = {json.dumps(v)}" for k, v in tiny.items() if not isinstance(v, dict)]
        + [
            f"[{k}]\n" + "\n".join(f"{kk} = {json.dumps(vv)}" for kk, vv in v.items())
            for k, v in tiny.items()
            if isinstance(v, dict)
        ]
    )
    profile = tmp_path / "tiny.toml"
    profile.write_text(toml)
    out = tmp_path / "b"
    with pytest.raises(
        ExportError, match=r"Over the flash .* budget of tiny-board: \d+ bytes needed, 65536"
    ):
        edgesdk.export_c(int8_tflite, out, target=profile)
    assert not out.exists()
    result = edgesdk.export_c(int8_tflite, out, target=profile, force=True)
    assert result.forced and result.flash.over and result.ram.over and len(result.warnings) == 2


def test_quantize_emit_c(tmp_path, trained_cnn, digits_npz):
    out = tmp_path / "m.tflite"
    bundle = tmp_path / "fw"
    r = CliRunner().invoke(
        app,
        [
            "quantize",
            str(trained_cnn),
            "-t",
            "rp2040",
            "-d",
            str(digits_npz),
            "-o",
            str(out),
            "--emit-c",
            str(bundle),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["export"]["verified"] and (bundle / "m_model.cc").is_file()
    busy_out = tmp_path / "m2.tflite"
    r = CliRunner().invoke(
        app,
        [
            "quantize",
            str(trained_cnn),
            "-t",
            "rp2040",
            "-d",
            str(digits_npz),
            "-o",
            str(busy_out),
            "--emit-c",
            str(bundle),
        ],
    )
    assert r.exit_code == 1 and "already has files" in r.stderr and not busy_out.exists()


def test_gcc_is_available():
    assert shutil.which("gcc") and shutil.which("g++")


def _profile_with(tmp_path, **header):
    text = (
        Path(edgesdk.__file__).parent / "core" / "profile_data" / "arduino-nano-33-ble.toml"
    ).read_text()
    for key, value in header.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


def test_lsb_gaps_are_reported_with_the_first_diverging_op_not_refused(tmp_path, int8_tflite):
    profile = _profile_with(tmp_path, lsb_tolerance=0)  # any LSB gap is now over tolerance
    result = edgesdk.export_c(int8_tflite, tmp_path / "b", target=profile)
    (parity,) = result.parity
    assert parity.max_lsb >= 1 and parity.top1_changes == 0  # the gap this model really has
    assert (tmp_path / "b").is_dir()  # written: LSB gaps are a report, not a wall
    assert any("differs from LiteRT's reference kernels by up to" in w for w in result.warnings)
    d = result.divergence
    assert d is not None and d["max_lsb"] >= 1 and d["op"] and d["tensor"]
    assert any(f"first divergence: op {d['op_index']} {d['op']}" in w for w in result.warnings)


def test_test_vectors_from_the_users_data_without_ties(tmp_path, int8_tflite, digits_npz):
    result = edgesdk.export_c(
        int8_tflite, tmp_path / "b", target="arduino-nano-33-ble", test_vectors=6, data=digits_npz
    )
    assert result.samples_from == str(digits_npz) and result.parity[0].samples == 100
    text = next((tmp_path / "b").glob("*_test_vectors.h")).read_text()
    start = text.index("{", text.index("TestOutput0")) + 1
    rows = re.findall(r"\{([^{}]*)\}", text[start : text.index("};", start)])
    assert len(rows) == 6
    for row in rows:
        values = [int(v) for v in row.replace("\n", " ").split(",") if v.strip()]
        assert sorted(values)[-1] > sorted(values)[-2]  # one clear top class per vector

"""The standalone engine's integer-only path (``integer_only=True``): SOFTMAX as TFLite Micro's
fixed-point kernel, bit-exact with TFLite Micro's interpreter (host gcc, ASan/UBSan, -Werror),
every other op with LiteRT BUILTIN_REF, and no float or double anywhere in the C."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from softmax_models import softmax_model
from standalone_models import op_model, whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ExportError
from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.export import random_vectors, verify_on_host
from edgesdk.firmware.standalone.hostrun import build_host, run_host
from edgesdk.firmware.standalone.mixed_reference import TFLM, MixedReference, op_references
from edgesdk.firmware.standalone.reference import reference_outputs

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
runner = CliRunner()

# (shape, input scale, input zero point, beta): scales over 3 decades, betas != 1, zero points
# at the int8 limits, depth 1 .. 300, several rows (depth >= 512 only with wide logits: there
# TFLite Micro itself asserts once the sum of exps reaches 2^28, see the kernel's comment)
SOFTMAX_CASES = {
    "d13": ((1, 13), 0.1, 0, 1.0),
    "rows4_zp-128": ((4, 10), 0.05, -128, 1.0),
    "rank3_zp127_beta0.5": ((2, 3, 7), 0.2, 127, 0.5),
    "depth1": ((3, 1), 0.1, 0, 1.0),
    "depth2_beta0.25": ((5, 2), 0.3, -128, 0.25),
    "d100_beta2": ((3, 100), 0.02, 5, 2.0),
    "d300_wide": ((1, 300), 0.5, 0, 1.0),
    "tiny_scale": ((1, 10), 1e-4, 0, 1.0),
    "huge_beta": ((2, 50), 3.0, 0, 10.0),
    "d1000": ((1, 1000), 0.25, -7, 1.0),
}
VECTORS = 40


def _edge_vectors(shape: tuple[int, ...]) -> list[list[np.ndarray]]:
    """All equal, all at the int8 limits, one maximum, a ramp (no all-equal rows of 512 or
    more: TFLite Micro's RoundingDivideByPOT asserts on them, exponent > 31)."""
    size = int(np.prod(shape))
    one_max = np.full(size, -128, dtype=np.int8)
    one_max[size // 2] = 127
    ramp = (np.arange(size) % 256 - 128).astype(np.int8)
    equal = [np.zeros(size, np.int8), np.full(size, -128, np.int8), np.full(size, 127, np.int8)]
    rows = [*(equal if shape[-1] < 512 else []), one_max, ramp]
    return [[x.reshape(shape)] for x in rows]


def _build(folder: Path, model: bytes) -> tuple[object, Path]:
    compiled = compile_model(model, "m", integer_only=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m_model.h").write_text(compiled.sources.header)
    (folder / "m_model.c").write_bytes(compiled.sources.source)
    return compiled, build_host(folder, "m", compiled.graph, sanitize=True)


def _tflm_softmax(model: bytes, x: np.ndarray) -> np.ndarray:
    from edgesdk.tflite.micro import load_interpreter, run_micro

    interp, _ = load_interpreter(model)
    return run_micro(interp, [x], 1)[0]


@pytest.mark.parametrize("case", sorted(SOFTMAX_CASES))
def test_softmax_alone_is_bit_exact_with_tflite_micro(case, tmp_path):
    shape, scale, zp, beta = SOFTMAX_CASES[case]
    model = softmax_model(shape, scale, zp, beta)
    compiled, exe = _build(tmp_path, model)
    assert [L.kernel for L in compiled.layers] == ["softmax_fixed"]
    vectors = random_vectors(compiled.graph, VECTORS, seed=3) + _edge_vectors(shape)
    for in_place in (False, True):
        got = run_host(exe, compiled.graph, vectors, in_place=in_place)
        for v, row in zip(vectors, got, strict=True):
            expected = _tflm_softmax(model, v[0])
            np.testing.assert_array_equal(row[0], expected.reshape(shape))


def test_the_softmax_parameters_are_tflites():
    """PreprocessSoftmaxScaling / CalculateInputRadius in double, worked by hand for scale 0.1:
    0.1 * 2^26 = 6710886.4 = 0.8 * 2^23 -> round(0.8 * 2^31) = 1717986918, shift 23,
    radius floor(31 * 2^26 / 2^23) = 248."""
    from edgesdk.firmware.standalone.quant import softmax_fixed_params

    assert softmax_fixed_params(float(np.float32(0.1)), 1.0) == (1717986944, 23, -248)
    assert softmax_fixed_params(0.1, 1.0) == (1717986918, 23, -248)  # exact 0.1: the float32
    assert softmax_fixed_params(0.5, 1.0) == (1 << 30, 26, -31)  # 2^25 = 0.5 * 2^26
    assert softmax_fixed_params(3.0, 10.0)[:2] == ((1 << 31) - 1, 30)  # capped at 2^31 - 1
    assert softmax_fixed_params(1e-9, 1.0) is None  # below 2^-26: TFLite refuses it too


@pytest.mark.parametrize("corrupt", ["table_size", "exp_table"])
def test_a_corrupted_softmax_parameter_fails_verification(tmp_path, corrupt):
    model = softmax_model((4, 12), 0.1, 0, 1.0)
    compiled, _ = _build(tmp_path, model)
    reference = MixedReference(model, compiled.graph, {0: TFLM})
    vectors = random_vectors(compiled.graph, 20, seed=1)
    assert verify_on_host(model, compiled, "m", vectors, tmp_path, True, reference) == 20
    source = tmp_path / "m_model.c"
    text = source.read_text()
    if corrupt == "table_size":  # the radius cut from 248 to 20 (2.0 in logits)
        m = re.search(r"\.table_size = (\d+),", text)
        wrong = "20"
        # logits 2.5 below the maximum: kept by TFLite Micro, dropped by the corrupted C
        vectors = [[np.array([[0] * 6 + [-25] * 6] * 4, dtype=np.int8)], *vectors]
    else:  # exp(-0.1) 2 % off
        m = re.search(r"_exp_table\[\d+\][^{]*\{\s*-?\d+,\s*(\d+)", text)
        wrong = str(int(m.group(1)) * 49 // 50)
        vectors = [[np.array([[0] * 6 + [-1] * 6] * 4, dtype=np.int8)], *vectors]
    source.write_text(text[: m.start(1)] + wrong + text[m.end(1) :])
    with pytest.raises(ExportError, match="differs from its references"):
        verify_on_host(model, compiled, "m", vectors, tmp_path, True, reference)


def test_the_exp_table_is_gemmlowps_exp():
    """exp_on_negative_values in Q0.31 against exp() (within gemmlowp's accuracy); 1.0 at 0."""
    import math

    from edgesdk.firmware.standalone.quant import exp_on_negative, softmax_exp_table

    assert exp_on_negative(0) == (1 << 31) - 1
    for k in range(1, 200):
        a = -k * (1 << 26) // 16  # -k/16
        assert abs(exp_on_negative(a) / 2**31 - math.exp(-k / 16)) < 1e-6, k
    table = softmax_exp_table(1717986944, 23, -248)  # input scale 0.1
    assert len(table) == 249 and table[0] == (1 << 31) - 1
    assert abs(table[10] / 2**31 - math.exp(-1.0)) < 1e-6


def _code(text: str) -> str:
    """C text without comments (a comment may say 'double rounding')."""
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


FLOATING = re.compile(r"\b(float|double)\b|\b\d+\.\d*([eE][-+]?\d+)?f?\b|\b0x[0-9a-fA-F.]+p")


@pytest.mark.parametrize("name", ["digits_cnn", "ds_cnn"])
def test_whole_models_integer_only_are_bit_exact_and_float_free(name, tmp_path):
    model = whole_model(name)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    out = tmp_path / "out"
    result = edgesdk.export_c(
        path, out, target="arduino-nano-33-ble", engine="standalone", integer_only=True,
        test_vectors=3,
    )  # fmt: skip
    assert result.verified_samples == 20 and result.integer_only
    refs = {op: r for _, op, r in result.op_references}
    assert refs["SOFTMAX"] == "TFLite Micro" and refs["CONV_2D"] == "LiteRT BUILTIN_REF"
    meta = json.loads((out / "export.json").read_text())
    assert meta["integer_only"] and meta["reference"] == "LiteRT BUILTIN_REF + TFLite Micro"
    assert {r["reference"] for r in meta["op_references"] if r["op"] == "SOFTMAX"} == {TFLM}
    for f in out.glob(f"{name}_*.[ch]"):
        assert not FLOATING.search(_code(f.read_text())), f
    # the default engine's header has the float quantize helpers, a float-I/O model's C has
    # float (the scan can fail); its SOFTMAX is the same fixed-point kernel
    plain = compile_model(model, "m")
    assert "softmax_fixed" in plain.sources.kernels and "softmax" not in plain.sources.kernels
    assert FLOATING.search(_code(plain.sources.header))
    assert FLOATING.search(_code(compile_model(op_model("float_io"), "f").sources.source.decode()))
    # independently of export's own check: the C against TFLM for SOFTMAX, else BUILTIN_REF
    compiled, exe = _build(tmp_path / "c", model)
    reference = MixedReference(
        model, compiled.graph, op_references({L.op.index: L.kernel for L in compiled.layers})
    )
    vectors = random_vectors(compiled.graph, VECTORS, seed=5)
    for v, row in zip(vectors, run_host(exe, compiled.graph, vectors), strict=True):
        for a, b in zip(row, reference(v), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["digits_cnn", "ds_cnn"])
def test_how_often_litert_and_tflite_micro_softmax_differ(name, record_property):
    """Measured, not assumed: LiteRT BUILTIN_REF's softmax vs TFLite Micro's fixed-point one on
    the same (BUILTIN_REF) logits. On these models they agree on every value (see
    benchmarks/standalone_integer_softmax.py); the count is recorded (junit) so a change shows."""
    model = whole_model(name)
    compiled = compile_model(model, "m", integer_only=True)
    g = compiled.graph
    mixed = MixedReference(model, g, op_references({L.op.index: L.kernel for L in compiled.layers}))
    differ = total = worst = 0
    for v in random_vectors(g, 200, seed=11):
        a, b = mixed(v)[0].astype(int), reference_outputs(model, g, v)[0].astype(int)
        differ += int(np.count_nonzero(a != b))
        worst = max(worst, int(np.abs(a - b).max()))
        total += a.size
    record_property("softmax_differ", f"{differ}/{total} values, max {worst} LSB")
    assert total == 200 * g.tensors[g.outputs[0]].size
    assert worst <= 1  # two correct roundings of the same probability


def test_float_io_and_the_tflm_engine_are_refused_in_one_line(tmp_path):
    path = tmp_path / "float_io.tflite"
    path.write_bytes(op_model("float_io"))
    out = tmp_path / "out"
    with pytest.raises(ExportError) as e:
        edgesdk.export_c(path, out, engine="standalone", integer_only=True)
    message = str(e.value)
    assert "int8 inputs and outputs" in message and "float32" in message and "\n" not in message
    assert not out.exists()
    cli = runner.invoke(
        app, ["export-c", str(path), "-o", str(out), "--engine", "standalone", "--integer-only"]
    )
    assert cli.exit_code == 1 and "int8 inputs and outputs" in cli.output and not out.exists()
    ds = tmp_path / "ds_cnn.tflite"
    ds.write_bytes(whole_model("ds_cnn"))
    cli = runner.invoke(app, ["export-c", str(ds), "-o", str(out), "--integer-only"])
    assert cli.exit_code == 1 and "engine='standalone'" in cli.output and not out.exists()


def test_a_softmax_output_tflite_micro_cannot_run_is_refused(tmp_path):
    model = softmax_model((1, 10), 1e-9, 0, 1.0)  # beta * scale below 2^-26
    with pytest.raises(ExportError, match=r"Integer-only SOFTMAX \(op 0\)"):
        compile_model(model, "m", integer_only=True)
    fallback = compile_model(model, "m")  # the float table has no such limit: the default
    assert "softmax" in fallback.sources.kernels  # engine falls back to it


def test_a_row_where_a_float_normalisation_rounds_differently(tmp_path):
    """A row (found by a random sweep) where LiteRT BUILTIN_REF and TFLite Micro agree and a
    float32 table + normalisation (the default engine's softmax.c) gives -111 at index 2: the
    integer-only kernel matches both references there."""
    model = softmax_model((1, 10), float(np.float32(0.0243137925863266)), 0, 1.0)
    x = np.array([[-101, 120, 38, 30, 69, -64, 21, -4, -121, 70]], dtype=np.int8)
    compiled, exe = _build(tmp_path, model)
    got = run_host(exe, compiled.graph, [[x]])[0][0]
    expected = [[-127, 1, -110, -114, -91, -127, -116, -122, -128, -90]]
    np.testing.assert_array_equal(reference_outputs(model, compiled.graph, [x])[0], expected)
    np.testing.assert_array_equal(_tflm_softmax(model, x), expected)
    np.testing.assert_array_equal(got, expected)


def test_a_softmax_output_tflite_micro_refuses_is_refused():
    """Both runtimes refuse an int8 softmax output whose zero point is not -128; so does the
    integer-only engine (in one line), at generation time."""
    model = softmax_model((1, 10), 0.1, 0, 1.0, out_zp=0)
    with pytest.raises(ExportError) as e:
        compile_model(model, "m", integer_only=True)
    assert "zero point -128" in str(e.value) and "\n" not in str(e.value)


def test_cli_integer_only_json_names_the_references(tmp_path):
    path = tmp_path / "digits_cnn.tflite"
    path.write_bytes(whole_model("digits_cnn"))
    out = tmp_path / "fw"
    cli = runner.invoke(
        app, ["export-c", str(path), "-o", str(out), "--engine", "standalone", "--integer-only",
              "--json"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    data = json.loads(cli.output)
    assert data["integer_only"] and data["verified_samples"] == 20
    assert [r["reference"] for r in data["op_references"]][-1] == "TFLite Micro"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["integer_only"] is True
    table = runner.invoke(
        app, ["export-c", str(path), "-o", str(out), "--engine", "standalone", "--integer-only",
              "--force"],
    )  # fmt: skip
    assert table.exit_code == 0 and "TFLite Micro for SOFTMAX" in table.output

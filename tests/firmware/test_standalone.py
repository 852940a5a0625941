"""The standalone C engine on the host: every op alone (edge cases) and whole look-alike models,
compiled with the real gcc (-Wall -Wextra -Werror, ASan + UBSan) and compared byte for byte with
LiteRT's reference kernels (BUILTIN_REF); arm-none-eabi-gcc compiles the same C warning-free."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from standalone_models import WHOLE_MODELS, op_cases, op_model, single_layer, whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ExportError
from edgesdk.firmware.standalone import layers as layers_mod
from edgesdk.firmware.standalone.engine import compile_model
from edgesdk.firmware.standalone.export import random_vectors
from edgesdk.firmware.standalone.hostrun import build_host, run_host
from edgesdk.firmware.standalone.reference import reference_outputs

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
runner = CliRunner()
VECTORS = 16


def write(folder: Path, model: bytes, name: str = "m", keep_scratch: bool = False) -> object:
    compiled = compile_model(model, name, keep_scratch=keep_scratch)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}_model.h").write_text(compiled.sources.header)
    (folder / f"{name}_model.c").write_bytes(compiled.sources.source)
    return compiled


def mismatches(
    model: bytes, folder: Path, name: str = "m", seed: int = 0, in_place: bool = False
) -> tuple[int, int]:
    """(differing output values, compared values) over VECTORS random inputs, through the
    copying ``<name>_invoke`` or (``in_place``) ``<name>_invoke_in_place``."""
    compiled = compile_model(model, name) if not (folder / f"{name}_model.c").exists() else None
    if compiled is None:
        from edgesdk.firmware.standalone.graph import read_graph

        graph = read_graph(model)
    else:
        graph = compiled.graph
    exe = build_host(folder, name, graph, sanitize=True)
    vectors = random_vectors(graph, VECTORS, seed)
    got = run_host(exe, graph, vectors, in_place=in_place)
    bad = total = 0
    for v, row in zip(vectors, got, strict=True):
        for a, b in zip(row, reference_outputs(model, graph, v), strict=True):
            bad += int(np.count_nonzero(a.reshape(-1) != b.reshape(-1)))
            total += a.size
    return bad, total


@pytest.mark.parametrize("case", sorted(op_cases()))
def test_each_op_is_bit_exact_with_the_reference_kernels(case, tmp_path):
    model = op_model(case)
    write(tmp_path, model)
    bad, total = mismatches(model, tmp_path)
    assert total > 0 and bad == 0, f"{case}: {bad} of {total} output values differ"
    bad, total = mismatches(model, tmp_path, in_place=True)
    assert total > 0 and bad == 0, f"{case} in place: {bad} of {total} output values differ"
    # alone, a convolution's scratch always raises the peak: the plan drops it (the kernels'
    # scratch-free variants run above); with keep_scratch the im2col/accumulator paths run
    compiled = compile_model(model, "m", keep_scratch=True)
    if compiled.plan.scratch:
        write(tmp_path / "scratch", model, keep_scratch=True)
        bad, total = mismatches(model, tmp_path / "scratch", in_place=True)
        assert total > 0 and bad == 0, f"{case} with scratch: {bad} of {total} values differ"


@pytest.mark.parametrize("name", [*sorted(WHOLE_MODELS), "two_in_two_out", "two_branches"])
def test_whole_models_are_bit_exact_with_the_reference_kernels(name, tmp_path):
    model = whole_model(name)
    compiled = write(tmp_path, model)
    bad, total = mismatches(model, tmp_path)
    assert total > 0 and bad == 0, f"{name}: {bad} of {total} output values differ"
    bad, total = mismatches(model, tmp_path, in_place=True)
    assert total > 0 and bad == 0, f"{name} in place: {bad} of {total} output values differ"
    if name == "two_in_two_out":
        assert len(compiled.graph.inputs) == 2 and len(compiled.graph.outputs) == 2
        assert (
            "int m_invoke(const int8_t *input0, const int8_t *input1, int8_t *output0, "
            "int8_t *output1)" in compiled.sources.header
        )
    # at least as good as TFLite Micro's planner, like with like: its arena head holds the
    # activations, the kernels' scratch and the I/O tensors; so does the plan (the in-place
    # entry's pointers are into it)
    from edgesdk.tflite.micro import load_interpreter, measure_arena

    g = compiled.graph
    for t in (*g.inputs, *g.outputs):
        p = compiled.plan.of(t)
        assert p.where == "arena" and 0 <= p.offset <= compiled.plan.arena_bytes - p.size
    assert compiled.plan.arena_bytes >= max(g.tensors[t].nbytes for t in g.inputs)
    tflm_head = measure_arena(load_interpreter(model)[0]).head
    assert compiled.plan.arena_bytes <= tflm_head, (compiled.plan.arena_bytes, tflm_head)
    # the plan shares memory: the peak is below the sum of the tensors
    assert (
        0 < compiled.plan.arena_bytes < compiled.plan.unshared_bytes or len(compiled.graph.ops) < 3
    )


def test_a_corrupted_weight_makes_the_comparison_fail(tmp_path):
    model = whole_model("autoencoder")
    write(tmp_path, model)
    assert mismatches(model, tmp_path)[0] == 0
    source = tmp_path / "m_model.c"
    text = source.read_text()
    start = text.rindex("_weights[")  # the output layer's weights: one byte of them
    body = text.index("{", start) + 1
    m = re.compile(r"0x([0-9a-f]{2})").search(text, body)
    flipped = f"0x{int(m.group(1), 16) ^ 0x40:02x}"
    source.write_text(text[: m.start()] + flipped + text[m.end() :])
    bad, total = mismatches(model, tmp_path)
    assert bad > 0, "a flipped weight bit went unnoticed"


def test_the_plan_reuses_memory_and_works_in_place(tmp_path):
    compiled = compile_model(whole_model("resnet_like"), "m")
    plan = compiled.plan
    assert plan.in_place  # an ADD writes over its input
    chain = compile_model(op_model("in_place_chain"), "m")
    kinds = {op.index: op.kind for op in chain.graph.ops}
    assert [kinds[i] for i in chain.plan.in_place] == ["DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D"]
    reshapes = compile_model(op_model("add_mul_concat"), "m").plan.aliased
    assert reshapes  # a RESHAPE costs no copy and no memory
    arena = [p for p in plan.placements if p.where == "arena"]
    # no two tensors whose lifetimes overlap share bytes: checked by the bit-exact run, and the
    # peak is never below the largest live pair
    assert plan.arena_bytes >= max(p.size for p in arena)
    assert plan.arena_bytes < plan.unshared_bytes


@pytest.mark.parametrize(
    "case",
    # (not conv_valid_stride2: narrowing, its output never catches up with its unread input
    # even at shift 0; the row margin is conservative there)
    ["model:resnet_blocks", "op:conv_same_stride2_relu6", "op:conv_dilation",
     "op:conv_same_relu"],
)  # fmt: skip
def test_convolutions_over_their_own_input_need_every_row_of_their_margin(
    case, tmp_path, monkeypatch
):
    """The row overlays are bit-exact (both entries, ASan/UBSan) with the margin of
    layers.row_overlay_shift, and not with one output row less: the check can fail."""
    kind, name = case.split(":")
    model = whole_model(name) if kind == "model" else op_model(name)
    compiled = write(tmp_path / "ok", model)
    convs = [i for i in compiled.plan.in_place if compiled.graph.ops[i].kind == "CONV_2D"]
    assert 0 in convs
    for in_place in (False, True):
        bad, total = mismatches(model, tmp_path / "ok", in_place=in_place)
        assert total > 0 and bad == 0, f"{name}: {bad} of {total} output values differ"
    exact = layers_mod.row_overlay_shift

    def short(in_w, in_c, out_h, out_w, out_c, stride_h, pad_t):
        return max(0, exact(in_w, in_c, out_h, out_w, out_c, stride_h, pad_t) - out_w * out_c)

    monkeypatch.setattr(layers_mod, "row_overlay_shift", short)
    write(tmp_path / "short", model)
    bad, total = mismatches(model, tmp_path / "short", in_place=True)
    assert bad > 0, "a convolution overwrote input it still read, unnoticed"


def test_generated_code_is_readable(tmp_path):
    compiled = write(tmp_path, whole_model("digits_cnn"), "digits")
    text = (tmp_path / "digits_model.c").read_text()
    assert max(len(line) for line in text.splitlines()) <= 160
    for op in compiled.graph.ops:  # one commented call per layer, named after the model's tensor
        assert f"/* op {op.index} {op.kind} -> '" in text
    assert "int digits_invoke(const int8_t *input0, int8_t *output0)" in text
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments may say "double rounding"
    # no float at run time on an int8 model: SOFTMAX is the fixed-point kernel by default
    for banned in ("malloc", "double", "printf", "float"):
        assert banned not in code, banned


@pytest.mark.parametrize(
    "flags",
    [
        ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"],
        ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    ],
    ids=["cortex-m0", "cortex-m4f"],
)
def test_arm_none_eabi_gcc_compiles_it_without_warnings(tmp_path, flags):
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)")
    for name in ("digits_cnn", "ds_cnn", "autoencoder"):
        write(tmp_path / name, whole_model(name), name)
        cmd = [cc, *flags, "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
               str(tmp_path / name / f"{name}_model.c"), "-o", str(tmp_path / f"{name}.o")]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def test_unsupported_op_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    import keras

    model = single_layer(lambda: keras.layers.Activation("tanh"), (6,))
    from standalone_models import convert

    path = tmp_path / "tanh.tflite"
    path.write_bytes(convert(model, (6,)))
    out = tmp_path / "out"
    with pytest.raises(ExportError) as e:
        edgesdk.export_c(path, out, target="arduino-nano-33-ble", engine="standalone")
    message = str(e.value)
    assert "TANH" in message and 'engine="tflm"' in message and "\n" not in message
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    result = runner.invoke(app, ["export-c", str(path), "-o", str(out), "--engine", "standalone"])
    assert result.exit_code == 1 and "TANH" in result.output and not out.exists()
    assert "use --engine tflm for this model" in result.output  # the CLI names its flag


@pytest.mark.parametrize(
    "layer, words",
    [
        (lambda k: k.layers.Rescaling(0.5, offset=1.0), ("MUL", "constant operand")),
        (lambda k: k.layers.Activation("tanh"), ("TANH", "not in the engine's op set")),
    ],
    ids=["constant-operand", "tanh"],
)
def test_options_outside_the_set_are_refused_in_one_line(tmp_path, layer, words):
    import keras
    from standalone_models import convert

    model = single_layer(lambda: layer(keras), (4, 4, 3))
    data = convert(model, (4, 4, 3))
    with pytest.raises(ExportError) as e:
        compile_model(data, "m")
    message = str(e.value)
    assert all(w in message for w in words) and 'engine="tflm"' in message and "\n" not in message


def test_export_c_cli_writes_verified_sources_and_records_the_engine(tmp_path):
    path = tmp_path / "ds_cnn.tflite"
    path.write_bytes(whole_model("ds_cnn"))
    out = tmp_path / "fw"
    result = runner.invoke(
        app,
        ["export-c", str(path), "-t", "arduino-nano-33-ble", "-o", str(out), "--engine",
         "standalone", "--test-vectors", "3", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["engine"] == "standalone" and data["verified_samples"] == 20
    assert (
        data["ram"]["arena_peak"] > 0 and data["ram"]["arena_peak"] < data["ram"]["arena_unshared"]
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "ds_cnn_model.c", "ds_cnn_model.h", "ds_cnn_test_vectors.h", "export.json", "manifest.json",
    ]  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["engine"] == "standalone"
    assert "kDsCnnTestOutput0[3]" in (out / "ds_cnn_test_vectors.h").read_text()
    bad = runner.invoke(app, ["export-c", str(path), "-o", str(tmp_path / "x"), "--engine", "nope"])
    assert bad.exit_code == 1 and "tflm, standalone" in bad.output
    # --firmware needs a profile with an [mcu] section (the default linux-x86_64 has none)
    bad = runner.invoke(
        app, ["export-c", str(path), "-o", str(tmp_path / "y"), "--engine", "standalone",
              "--firmware"],
    )  # fmt: skip
    assert bad.exit_code == 1 and "[mcu]" in bad.output
    assert not (tmp_path / "y").exists()
    quick = edgesdk.export_c(path, tmp_path / "z", engine="standalone", verify=False)
    assert quick.verified_samples == 0 and quick.to_dict()["verified"] is False


def test_the_kernels_are_package_data():
    """The C kernels ship in the wheel: pyproject's package-data covers every file (the built
    wheel itself is checked by tests/test_packaging.py's module list for the .py files)."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    patterns = data["edgesdk.firmware.standalone"]
    kernels = sorted((root / "edgesdk/firmware/standalone/kernels").glob("*.c"))
    assert len(kernels) >= 13
    for k in kernels:
        assert any(fnmatch.fnmatch(f"kernels/{k.name}", p) for p in patterns), k.name

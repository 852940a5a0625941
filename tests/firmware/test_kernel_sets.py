"""TFLite Micro as users ship it: CMSIS-NN kernels (the default on Cortex-M), the reference ones
on request, int8-only registrations in the op resolver, and trees made by TFLite Micro's own
create_tflm_tree.py as the source. Real arm-none-eabi-gcc, qemu-system-arm, the TFLite Micro
library (built once per source, kernel set and core, cached)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import require_firmware_tools
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ConfigError, FirmwareError
from edgesdk.firmware.tflm.emulation import REPO_ROOT
from edgesdk.firmware.tflm.library import TREE_TOOL, locate_source, open_source
from edgesdk.firmware.tflm.registrations import registrations

runner = CliRunner()
TARGET = "arduino-nano-33-ble"  # Cortex-M4F: CMSIS-NN's SIMD path
TREES = REPO_ROOT.parent / "shared" / "third_party" / "tflite-micro"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kernels") / "digits_cnn.tflite"
    path.write_bytes(whole_model("digits_cnn"))
    return path


@pytest.fixture(scope="module")
def bundle(model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kernels") / "bundle"
    edgesdk.export_c(model, out, TARGET, test_vectors=3)
    return out


@pytest.fixture(scope="module")
def emulated(bundle):
    """The bundle under both kernel sets (default first: CMSIS-NN on a Cortex-M4F)."""
    require_firmware_tools()
    return edgesdk.emulate(bundle), edgesdk.emulate(bundle, kernels="reference")


@pytest.mark.emulation
def test_cmsis_nn_is_the_default_and_matches_the_reference_kernels_bit_for_bit(emulated, bundle):
    cmsis, ref = emulated
    assert json.loads((bundle / "export.json").read_text())["kernels"] == "cmsis-nn"
    assert (cmsis.kernels, ref.kernels) == ("cmsis-nn", "reference")
    # both equal the host TFLite Micro interpreter's outputs in every byte of every vector
    assert cmsis.bit_exact and ref.bit_exact and len(cmsis.vectors) == 3
    assert cmsis.library["key"] != ref.library["key"]  # the cache key covers the kernel set
    assert cmsis.library["kernels"] == "cmsis-nn" and ref.library["kernels"] == "reference"
    # measured, not assumed: the SIMD kernels run in far fewer instructions
    assert max(cmsis.instructions) * 3 < min(ref.instructions)
    assert cmsis.dsp_instructions.get("smlad", 0) > 0  # SMLAD is in the linked image
    assert ref.dsp_instructions == {}
    assert cmsis.to_dict()["kernels"] == "cmsis-nn"


@pytest.mark.emulation
def test_the_terminal_and_the_report_name_the_kernels(emulated, tmp_path):
    cmsis, ref = emulated
    cmsis.save(tmp_path / "cmsis.json")
    ref.save(tmp_path / "ref.json")
    r = runner.invoke(app, ["report", str(tmp_path), "-o", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert "TFLite Micro, CMSIS-NN" in text and "TFLite Micro, reference kernels" in text
    from rich.console import Console

    from edgesdk.cli.render_runs import render_emulation

    console = Console(record=True, width=200)
    render_emulation(cmsis, console)
    shown = console.export_text()
    assert "TFLite Micro, CMSIS-NN" in shown and "smlad" in shown
    assert "registered int8-only (generic: MEAN)" in shown


@pytest.mark.emulation
def test_int8_only_registrations_link_less_code_with_identical_results(bundle, tmp_path):
    require_firmware_tools()
    header = bundle / "digits_cnn_op_resolver.h"
    text = header.read_text()
    assert "AddConv2D(tflite::Register_CONV_2D_INT8())" in text
    assert "AddMean()" in text  # MEAN has no int8-only registration
    generic = tmp_path / "generic"
    shutil.copytree(bundle, generic)
    (generic / header.name).write_text(re.sub(r"\(tflite::Register_\w+_INT8\(\)\)", "()", text))
    int8_only, plain = edgesdk.emulate(bundle), edgesdk.emulate(generic)
    assert int8_only.bit_exact and plain.bit_exact
    saved = plain.flash["total"] - int8_only.flash["total"]
    assert saved > 10_000, (plain.flash, int8_only.flash)  # the int4/int16 variants are gone
    assert abs(max(plain.instructions) - max(int8_only.instructions)) < 1_000


def _tensor(dtype: str) -> SimpleNamespace:
    return SimpleNamespace(dtype=dtype)


def test_a_registration_is_int8_only_only_when_every_instance_is_int8():
    ops = [SimpleNamespace(op="CONV_2D", method="AddConv2D"),
           SimpleNamespace(op="FULLY_CONNECTED", method="AddFullyConnected"),
           SimpleNamespace(op="MEAN", method="AddMean")]  # fmt: skip
    tensors = [_tensor("int8"), _tensor("int8"), _tensor("int32"), _tensor("int8"),
               _tensor("int16"), _tensor("int64")]  # fmt: skip
    graph = SimpleNamespace(
        tensors=tensors,
        ops=[
            SimpleNamespace(index=0, name="CONV_2D", inputs=(0, 1, 2), outputs=(3,)),
            SimpleNamespace(index=1, name="CONV_2D", inputs=(3, 1, -1), outputs=(0,)),
            SimpleNamespace(index=2, name="FULLY_CONNECTED", inputs=(4, 1, 5), outputs=(4,)),
            SimpleNamespace(index=3, name="MEAN", inputs=(0,), outputs=(3,)),
        ],
    )
    regs = {r.op: r for r in registrations(SimpleNamespace(subgraphs=[graph]), ops)}
    assert regs["CONV_2D"].int8_only and regs["CONV_2D"].call == (
        "AddConv2D(tflite::Register_CONV_2D_INT8())"
    )
    fc = regs["FULLY_CONNECTED"]  # int16 activations (16x8): the generic kernel
    assert not fc.int8_only and fc.call == "AddFullyConnected()" and "int16" in fc.why
    assert not regs["MEAN"].int8_only and regs["MEAN"].why == "no int8-only registration"


def test_the_user_firmware_project_compiles_with_the_kernels_defines(model, tmp_path):
    for kernels, has in (("cmsis-nn", True), ("reference", False)):
        out = tmp_path / kernels
        edgesdk.export_c(model, out, TARGET, firmware=True, kernels=kernels)
        config = (out / "firmware" / "config.mk").read_text()
        assert ("-DCMSIS_NN" in config) is has, config
        assert json.loads((out / "export.json").read_text())["kernels"] == kernels


def test_bad_kernels_are_one_line(model, bundle, tmp_path):
    with pytest.raises(ConfigError, match=r"^Invalid kernels='simd' \(must be one of: reference, "):
        edgesdk.export_c(model, tmp_path / "b", TARGET, kernels="simd")
    assert not (tmp_path / "b").exists()
    with pytest.raises(ConfigError, match=r"must be one of: portable, dsp\) for engine='standal"):
        edgesdk.export_c(model, tmp_path / "c", TARGET, engine="standalone", kernels="reference")
    r = runner.invoke(app, ["emulate", str(bundle), "--kernels", "simd"])
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Invalid kernels='simd'" in lines[0], r.output


def test_no_source_says_how_to_make_a_tree(tmp_path):
    with pytest.raises(FirmwareError, match=r"does not exist.*create_tflm_tree\.py"):
        locate_source(REPO_ROOT, {"EDGESDK_TFLM_SRC": str(tmp_path / "nowhere")})
    with pytest.raises(FirmwareError, match=r"No TFLite Micro source.*create_tflm_tree\.py"):
        locate_source(None, {})
    checkout = tmp_path / "tflite-micro"
    (checkout / TREE_TOOL).parent.mkdir(parents=True)
    (checkout / TREE_TOOL).write_text("# TFLite Micro's tool\n")
    with pytest.raises(FirmwareError, match=r"is a TFLite Micro checkout.*create_tflm_tree\.py"):
        open_source(checkout)
    with pytest.raises(FirmwareError, match=r"not a complete TFLite Micro tree.*create_tflm_tree"):
        open_source(tmp_path)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """The fixture trees made by create_tflm_tree.py at 90b983c (reference; CMSIS-NN for the
    M4F), unpacked: no lib_sources.txt, no file of ours."""
    out = {}
    for kind, folder in (("ref", "tree-ref"), ("cmsis-nn-m4f", "tree-cmsis")):
        archive = TREES / f"tflm-tree-{kind}-90b983c.tar.zst"
        if not archive.is_file():
            pytest.skip(f"no fixture tree {archive}")
        dest = tmp_path_factory.mktemp(kind)
        with subprocess.Popen(["zstd", "-dc", str(archive)], stdout=subprocess.PIPE) as z:
            subprocess.run(["tar", "-x", "-C", str(dest)], stdin=z.stdout, check=True)
        root = dest / folder
        assert not list(root.rglob("lib_sources.txt")) and not list(root.rglob("*.mk"))
        out[kind] = root
    return out


def test_a_tree_decides_which_kernels_it_can_build(trees):
    ref, cmsis = open_source(trees["ref"]), open_source(trees["cmsis-nn-m4f"])
    assert [k.value for k in ref.kernel_sets] == ["reference"]
    assert [k.value for k in cmsis.kernel_sets] == ["cmsis-nn"]
    # what TFLite Micro's list_library_sources gave its tool, less signal/ (41 files: the
    # audio front-end custom ops no bundle registers)
    assert len(ref.sources) == 202 - 41
    assert len(cmsis.cmsis_nn_sources) == 202 - 41 + 113  # + CMSIS-NN's .c files


@pytest.mark.emulation
@pytest.mark.parametrize("kind, kernels", [("ref", "reference"), ("cmsis-nn-m4f", "cmsis-nn")])
def test_firmware_builds_against_a_create_tflm_tree_tree(trees, bundle, kind, kernels):
    require_firmware_tools()
    result = edgesdk.emulate(bundle, tflm_src=trees[kind])  # the bundle asks for CMSIS-NN
    assert result.bit_exact and result.kernels == kernels
    assert result.library["source_layout"] == "tree"
    if kind == "ref":  # the tree has no CMSIS-NN: the reference kernels, and a note says so
        assert any("not cmsis-nn" in w for w in result.warnings), result.warnings
        r = runner.invoke(app, ["emulate", str(bundle), "--tflm-src", str(trees[kind]),
                                "--kernels", "cmsis-nn"])  # fmt: skip
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert r.exit_code == 1 and len(lines) == 1, r.output
        assert "cannot build the cmsis-nn kernels (it can build: reference)" in lines[0]
    else:
        assert result.dsp_instructions.get("smlad", 0) > 0


@pytest.mark.emulation
def test_the_arena_can_come_from_the_target(model, tmp_path):
    """export-c measured 11,312 B on the 64-bit host for the digits CNN where the M4F used
    9,108 B; with arena="target" the bundle declares the target's figure plus the margin."""
    require_firmware_tools()
    host = edgesdk.export_c(model, tmp_path / "host", TARGET, test_vectors=2)
    target = edgesdk.export_c(model, tmp_path / "target", TARGET, test_vectors=2, arena="target")
    assert host.arena_source == "host" and target.arena_source == "target"
    used = target.arena_measured_target
    assert used is not None and used < host.arena.total
    assert used < target.arena_declared < host.arena_declared
    header = (tmp_path / "target" / "digits_cnn_model.h").read_text()
    assert re.search(rf"kDigitsCnnTensorArenaSize\s*=\s*{target.arena_declared}\b", header)
    meta = json.loads((tmp_path / "target" / "export.json").read_text())
    assert meta["arena_source"] == "target" and meta["arena_measured_target"] == used
    run = edgesdk.emulate(tmp_path / "target")
    assert run.bit_exact and run.ram["arena_used"] == used


def test_a_bad_arena_choice_is_one_line_and_writes_nothing(model, tmp_path):
    with pytest.raises(ConfigError, match=r"^Invalid arena='cloud' \(must be one of: host, target"):
        edgesdk.export_c(model, tmp_path / "a", TARGET, arena="cloud")
    r = runner.invoke(app, ["export-c", str(model), "-o", str(tmp_path / "b"),
                            "-t", "linux-x86_64", "--arena", "target"])  # fmt: skip
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 1 and len(lines) == 1, r.output
    assert "--arena target" in lines[0] and "no [mcu] section" in lines[0]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.emulation
def test_tflm_layers_are_counted_and_reported_beside_the_standalone_engine(
    emulated, bundle, model, tmp_path
):
    cmsis, ref = emulated
    recorded = json.loads((bundle / "export.json").read_text())["layers"]
    assert [(i, op) for i, op, _ in cmsis.layer_instructions] == [
        (x["op_index"], x["op"]) for x in recorded
    ]
    assert all(n > 0 for *_, n in cmsis.layer_instructions)
    inside = sum(n for *_, n in cmsis.layer_instructions)
    assert 0.5 * min(cmsis.instructions) < inside < min(cmsis.instructions)

    def conv(r):
        return sum(n for _, op, n in r.layer_instructions if op == "CONV_2D")

    assert conv(ref) > 3 * conv(cmsis)  # where CMSIS-NN's SIMD kernels do the work
    sa = tmp_path / "standalone.json"
    r = runner.invoke(app, ["benchmark", str(model), "--emulate", "-t", TARGET,
                            "--engine", "standalone", "--save", str(sa)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(sa.read_text())["engine"] == "standalone"
    cmsis.save(tmp_path / "cmsis.json")
    r = runner.invoke(app, ["report", str(tmp_path), "-o", str(tmp_path / "report")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "report" / "report.md").read_text()
    section = text.split(f"Instructions per layer on {TARGET}", 1)[1]
    assert "standalone engine" in section and "TFLite Micro, CMSIS-NN" in section
    assert "CONV_2D" in section

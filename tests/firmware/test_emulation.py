"""TFLite Micro firmware on emulated Cortex-M cores: real arm-none-eabi-gcc, real qemu-system-arm,
the real TFLite Micro library built from the offline kit (once per core, cached)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import require_firmware_tools
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import FirmwareError

pytestmark = pytest.mark.emulation
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    require_firmware_tools()


@pytest.fixture(scope="module")
def digits_int8(tmp_path_factory, trained_cnn, digits_npz) -> Path:
    out = tmp_path_factory.mktemp("fw") / "digits_int8.tflite"
    edgesdk.quantize(trained_cnn, digits_npz, out, target="arduino-nano-33-ble")
    return out


@pytest.fixture(scope="module")
def kws_int8(tmp_path_factory) -> Path:
    """A keyword-spotting-shaped DS-CNN (Conv, DepthwiseConv, AveragePool, Dense, Softmax)."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((24, 10, 1))
    x = keras.layers.Conv2D(16, (5, 3), strides=2, padding="same", activation="relu")(inputs)
    for _ in range(2):
        x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = keras.layers.AveragePooling2D((12, 5))(x)
    x = keras.layers.Reshape((16,))(x)
    out = keras.layers.Dense(6, activation="softmax")(x)
    model = keras.Model(inputs, out)
    folder = tmp_path_factory.mktemp("kws")
    data = np.random.default_rng(0).normal(size=(64, 24, 10, 1)).astype(np.float32)
    np.save(folder / "cal.npy", data)
    path = folder / "kws_int8.tflite"
    edgesdk.quantize(model, str(folder / "cal.npy"), path, target="arduino-nano-33-ble")
    return path


def _bundle(model: Path, target: str, folder: Path) -> Path:
    edgesdk.export_c(model, folder, target=target, test_vectors=4)
    return folder


@pytest.mark.parametrize("target", ["arduino-nano-33-ble", "rp2040", "stm32f746-disco"])
def test_digits_cnn_is_bit_exact_on_m4f_m0plus_and_m7(digits_int8, tmp_path, target):
    bundle = _bundle(digits_int8, target, tmp_path / "bundle")
    first = edgesdk.emulate(bundle)
    assert first.target == target and first.bit_exact
    assert [v["passed"] for v in first.vectors] == [True] * 4
    assert len(first.instructions) == 4 and min(first.instructions) > 1_000_000
    second = edgesdk.emulate(bundle)
    assert second.instructions == first.instructions  # exact and deterministic
    assert second.library["reused"] and second.library["key"] == first.library["key"]
    f, r = first.flash, first.ram
    assert f["model"] == digits_int8.stat().st_size and f["tflm"] > 20_000
    assert f["total"] == f["model"] + f["tflm"] + f["rest"]
    assert 0 < r["arena_used"] <= r["arena"] and first.budget["fits"]
    assert first.estimated_latency_ms is not None and first.to_dict()["latency_is_estimate"]
    assert first.core == {"arduino-nano-33-ble": "cortex-m4f", "rp2040": "cortex-m0plus",
                          "stm32f746-disco": "cortex-m7"}[target]  # fmt: skip


@pytest.mark.parametrize("target", ["arduino-nano-33-ble", "rp2040"])
def test_a_second_model_with_other_ops_through_the_cli(kws_int8, tmp_path, target):
    saved = tmp_path / "emulate.json"
    r = runner.invoke(
        app,
        ["benchmark", str(kws_int8), "--emulate", "--target", target]
        + ["--json", "--save", str(saved)],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["bit_exact"] and result["kind"] == "emulate"
    assert json.loads(saved.read_text()) == result
    assert result["estimated_latency_ms"] > 0 and result["latency_is_estimate"] is True
    report = edgesdk.report(tmp_path)
    text = Path(report.markdown).read_text()
    assert "Firmware on emulated cores" in text and f"{max(result['instructions']):,}" in text
    assert any(p.endswith("emulation.png") for p in report.plots)


def _c_values(text: str, ident: str) -> tuple[int, int]:
    """(start, end) offsets of the initializer of array ``ident`` in C text."""
    start = text.index("{", text.index(ident)) + 1
    return start, text.index("};", start)


def test_a_changed_expected_output_is_reported_by_vector_and_output(digits_int8, tmp_path):
    bundle = _bundle(digits_int8, "arduino-nano-33-ble", tmp_path / "bundle")
    header = next(bundle.glob("*_test_vectors.h"))
    text = header.read_text()
    start, end = _c_values(text, "TestOutput0")
    body = text[start:end]
    values = [m for m in re.finditer(r"-?\d+", body)]
    tenth = values[10 + 2]  # vector 1 (10 classes per vector), element 2
    new = str(int(tenth.group()) + (1 if int(tenth.group()) < 127 else -1))
    body = body[: tenth.start()] + new + body[tenth.end() :]
    header.write_text(text[:start] + body + text[end:])
    r = runner.invoke(app, ["emulate", str(bundle)])
    assert r.exit_code == 1, r.output
    assert "test vector 1 output 0 differs at element 2" in r.stderr


def test_a_flipped_model_byte_is_caught(digits_int8, tmp_path):
    from edgesdk.tflite.micro import load_interpreter, run_micro

    bundle = _bundle(digits_int8, "arduino-nano-33-ble", tmp_path / "bundle")
    model = bytearray(digits_int8.read_bytes())
    interpreter, _ = load_interpreter(bytes(model))
    sample = [np.zeros(interpreter.get_input_details(0)["shape"], np.int8)]
    sample[0][..., :] = 50
    reference = run_micro(interpreter, sample, 1)[0]
    # flip bytes inside the largest weight buffer only (a broken flatbuffer is another issue)
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(bytes(model), 0)
    buffers = [root.Buffers(i).DataAsNumpy() for i in range(root.BuffersLength())]
    weights = max((b for b in buffers if not isinstance(b, int)), key=len).tobytes()
    base = bytes(model).find(weights)
    for offset in range(base + len(weights) // 2, base + len(weights)):
        flipped = bytearray(model)
        flipped[offset] ^= 0x40
        changed, _ = load_interpreter(bytes(flipped))
        if not np.array_equal(run_micro(changed, sample, 1)[0], reference):
            break
    else:
        pytest.fail("no weight byte changes the output")
    source = next(bundle.glob("*_model.cc"))
    text = source.read_text()
    start, end = _c_values(text, "_model_data")
    body = text[start:end]
    cells = list(re.finditer(r"0x[0-9a-f]{2}", body))
    cell = cells[offset]
    body = body[: cell.start()] + f"0x{flipped[offset]:02x}" + body[cell.end() :]
    source.write_text(text[:start] + body + text[end:])
    result = edgesdk.emulate(bundle)
    assert not result.bit_exact and result.first_mismatch() is not None


def test_a_model_over_the_targets_ram_is_reported_with_linked_numbers(digits_int8, tmp_path):
    profile = (
        Path(edgesdk.__file__).parent / "core" / "profile_data" / "arduino-nano-33-ble.toml"
    ).read_text()
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(
        profile.replace('name = "arduino-nano-33-ble"', 'name = "tiny-m4"')
        .replace("ram_bytes = 262144", "ram_bytes = 12288")
        .replace("ram_reserved_bytes = 65536", "ram_reserved_bytes = 0")
    )
    bundle = tmp_path / "bundle"
    edgesdk.export_c(digits_int8, bundle, target=str(tiny), test_vectors=2, force=True)
    with pytest.raises(
        FirmwareError,
        match=r"does not fit: RAM overflowed by \d+ bytes \(has 12288: the target's RAM\)",
    ):
        edgesdk.emulate(bundle, target=str(tiny))
    # room for the link but not within the budget left after the reserved RAM: a result, exit 1
    tight = tmp_path / "tight.toml"
    tight.write_text(
        profile.replace('name = "arduino-nano-33-ble"', 'name = "tight-m4"')
        .replace("ram_bytes = 262144", "ram_bytes = 32768")
        .replace("ram_reserved_bytes = 65536", "ram_reserved_bytes = 20480")
    )
    r = runner.invoke(app, ["emulate", str(bundle), "--target", str(tight)])
    assert r.exit_code == 1, r.output
    assert re.search(r"needs [\d,]+ B flash and [\d,]+ B RAM; tight-m4 has", r.stderr)


def test_a_hang_and_a_fault_are_errors_not_a_stuck_cli(digits_int8, tmp_path):
    from edgesdk.firmware.cores import core_for
    from edgesdk.firmware.emulator import run_firmware
    from edgesdk.firmware.toolchain import find_toolchain

    bundle = _bundle(digits_int8, "arduino-nano-33-ble", tmp_path / "bundle")
    edgesdk.emulate(bundle, work_dir=tmp_path / "project")
    core = core_for("cortex-m4", "fpv4-sp-d16", "mps2-an386", "cortex-m4")
    for name, body, match in (
        ("hang", 'int main() { for (;;) { __asm volatile(""); } }\n', "did not finish within 3 s"),
        ("fault", "int main() { return *(volatile int*)0xF0000000u; }\n", "faulted"),
    ):
        folder = tmp_path / name
        shutil.copytree(tmp_path / "project", folder, ignore=shutil.ignore_patterns("build"))
        (folder / "main.cc").write_text(
            'extern "C" char end, __HeapLimit, __StackLimit, __StackTop;\n'
            'extern "C" void edgesdk_icount_mark(void) {}\n' + body
        )
        subprocess.run(["make", "-s", "-C", str(folder)], check=True, capture_output=True)
        with pytest.raises(FirmwareError, match=match):
            run_firmware(folder / "build" / "firmware.elf", core, find_toolchain(), timeout=3)


def test_export_c_firmware_project_builds_with_the_users_tflm(digits_int8, tmp_path):
    from edgesdk.firmware.cores import core_for
    from edgesdk.firmware.emulator import run_firmware
    from edgesdk.firmware.linking import uart_make_vars
    from edgesdk.firmware.tflm.emulation import REPO_ROOT
    from edgesdk.firmware.tflm.library import (
        BuildType,
        KernelSet,
        build_library,
        locate_source,
        open_source,
    )
    from edgesdk.firmware.toolchain import find_toolchain

    r = runner.invoke(
        app,
        ["export-c", str(digits_int8), "-t", "arduino-nano-33-ble", "-o", str(tmp_path / "b")]
        + ["--firmware"],
    )
    assert r.exit_code == 0, r.output
    project = tmp_path / "b" / "firmware"
    assert {"Makefile", "main.cc", "startup.c", "linker.ld", "config.mk", "README.md"} <= {
        p.name for p in project.iterdir()
    }
    assert "ORIGIN = 0x00000000, LENGTH = 1048576" in (project / "linker.ld").read_text()
    # what a user does: point the Makefile at a TFLite Micro tree and its library
    tc = find_toolchain()
    core = core_for("cortex-m4", "fpv4-sp-d16", "mps2-an386", "cortex-m4")
    source = open_source(locate_source(REPO_ROOT))
    # the bundle is for CMSIS-NN (the default on Cortex-M): its config.mk has -DCMSIS_NN
    assert "-DCMSIS_NN" in (project / "config.mk").read_text()
    lib = build_library(source, core, tc, BuildType.RELEASE, kernels=KernelSet.CMSIS_NN)
    make = ["make", "-s", "-C", str(project), f"TFLM_SRC={source.root}", f"TFLM_LIB={lib.path}"]
    subprocess.run(make, check=True, capture_output=True)
    assert (project / "build" / "firmware.elf").is_file()  # semihosting: a board + debugger
    # emulate's qemu has no semihosting: the same files built for the emulated board's UART
    subprocess.run(
        [*make, "OUT=build-uart", *uart_make_vars(core)], check=True, capture_output=True
    )
    # the board's 1 MB / 256 KB map is not the emulator's, but the code runs from address 0
    run = run_firmware(project / "build-uart" / "firmware.elf", core, tc, timeout=60)
    assert run.passed and len(run.vectors) == 4

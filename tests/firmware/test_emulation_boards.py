"""Which qemu board runs a target's firmware: rp2040's Cortex-M0+ code on an MPS2 AN385
(Cortex-M3) with the Pico's memory, or on the micro:bit (Cortex-M0, 16 KB RAM) when asked for;
the ARMv6-M check of the linked ELF and the unaligned-access trap that make the stand-in honest.
Real arm-none-eabi-gcc, objdump, qemu-system-arm and TFLite Micro library (cached)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import require_firmware_tools
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import FirmwareError

pytestmark = pytest.mark.emulation
runner = CliRunner()
PICO_FLASH, PICO_RAM = 2 * 1024 * 1024, 264 * 1024
ENGINES = ("tflm", "standalone")


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    require_firmware_tools()


@pytest.fixture(scope="module")
def digits16_int8(tmp_path_factory, digits) -> Path:
    """The digits CNN (Conv2D, DepthwiseConv2D, BatchNorm, residual Add, GAP, Dense) on the
    8x8 digits scaled to 16x16, trained briefly, int8 for rp2040: its arena fits the Pico's
    264 KB, not the micro:bit's 16 KB."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1), name="digit")
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(64, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    x_train, _, y_train, _ = digits
    x16 = np.repeat(np.repeat(x_train, 2, axis=1), 2, axis=2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x16, y_train, epochs=5, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("digits16")
    np.savez(folder / "cal.npz", x=x16[:200], y=y_train[:200])
    out = folder / "digits16_int8.tflite"
    edgesdk.quantize(model, folder / "cal.npz", out, target="rp2040")
    return out


def _export(model: Path, folder: Path, engine: str, target: str = "rp2040") -> Path:
    edgesdk.export_c(model, folder, target=target, test_vectors=4, engine=engine)
    return folder


def _check_pico_board(board: dict) -> None:
    assert board["machine"] == "mps2-an385" and board["cpu"] == "cortex-m3"
    assert (board["arch"], board["code_arch"], board["chosen_by"]) == (
        "armv7-m", "armv6-m", "target profile")  # fmt: skip
    m = board["memory_map"]
    assert (m["flash"]["origin"], m["flash"]["bytes"], m["flash"]["limited_by"]) == (
        "0x00000000", PICO_FLASH, "target")  # fmt: skip
    assert (m["ram"]["origin"], m["ram"]["bytes"], m["ram"]["limited_by"]) == (
        "0x20000000", PICO_RAM, "target")  # fmt: skip
    isa = board["isa_check"]
    assert isa["arch"] == "armv6-m" and isa["outside_arch"] == 0 and isa["instructions"] > 4000


@pytest.mark.parametrize("engine", ENGINES)
def test_the_16x16_cnn_runs_bit_exact_on_rp2040s_stand_in_board(digits16_int8, tmp_path, engine):
    """Before: the micro:bit's 16 KB refused it ("RAM overflowed by 19368 bytes (has 16384)";
    the standalone engine's link failed by 3768 bytes, in a multi-line linker error)."""
    bundle = _export(digits16_int8, tmp_path / "bundle", engine)
    saved = tmp_path / "emulate.json"
    r = runner.invoke(app, ["emulate", str(bundle), "--json", "--save", str(saved)])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["bit_exact"] and result["machine"] == "mps2-an385"
    assert [v["passed"] for v in result["vectors"]] == [True] * 4
    _check_pico_board(result["board"])
    assert len(result["instructions"]) == 4 and min(result["instructions"]) > 5_000_000
    assert result["budget"]["fits"] and result["ram"]["arena"] > 16 * 1024
    assert any("mps2-an385's cortex-m3 (armv7-m) ran the armv6-m code" in w
               for w in result["warnings"])  # fmt: skip
    # the terminal says the same: board, architectures, check and memory map
    r = runner.invoke(app, ["emulate", str(bundle)])
    assert r.exit_code == 0, r.output
    text = " ".join(re.sub(r"[│┃]", " ", r.stdout).split())  # a table's wrapped cells, joined
    assert "mps2-an385: Arm MPS2 AN385 (Cortex-M3), armv7-m, running armv6-m code" in text
    assert "0 of " in text and "instructions outside armv6-m" in text
    assert "flash 0x00000000 + 2,097,152 B (the target's size)" in text
    assert "RAM 0x20000000 + 270,336 B (the target's size)" in text
    # and the report
    report = Path(edgesdk.report(tmp_path).markdown).read_text()
    assert "mps2-an385, Arm MPS2 AN385 (Cortex-M3): armv7-m running armv6-m code" in report
    assert "flash 0x00000000 + 2,097,152 B, RAM 0x20000000 + 270,336 B" in report


@pytest.mark.parametrize("engine", ENGINES)
def test_the_same_run_on_the_microbit_fails_with_the_ram_overflow_line(
    digits16_int8, tmp_path, engine
):
    bundle = _export(digits16_int8, tmp_path / "bundle", engine)
    r = runner.invoke(app, ["emulate", str(bundle), "--board", "microbit"])
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert re.fullmatch(
        r"error: Firmware for cortex-m0plus does not fit: RAM overflowed by \d+ bytes \(has "
        r"16384: microbit's RAM; the target has 270336\); stack 2048 B, heap 1536 B",
        lines[0],
    ), lines[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_model_both_boards_hold_counts_the_same_instructions_on_both(tmp_path, engine):
    """The Cortex-M3 executes the same ARMv6-M instructions as the micro:bit's Cortex-M0."""
    model = tmp_path / "digits_cnn.tflite"
    model.write_bytes(whole_model("digits_cnn"))  # 8x8: fits the micro:bit's 16 KB
    bundle = _export(model, tmp_path / "bundle", engine)
    stand_in = edgesdk.emulate(bundle)
    microbit = edgesdk.emulate(bundle, board="microbit")
    assert stand_in.bit_exact and microbit.bit_exact
    assert (stand_in.machine, microbit.machine) == ("mps2-an385", "microbit")
    assert stand_in.instructions == microbit.instructions
    assert microbit.board["chosen_by"] == "request" and microbit.board["isa_check"] is None
    ram = microbit.board["memory_map"]["ram"]
    assert (ram["bytes"], ram["limited_by"], ram["target_bytes"]) == (16384, "board", PICO_RAM)
    assert any("microbit has 16,384 B of RAM, rp2040 270,336 B" in w for w in microbit.warnings)
    assert not any("emulated: " in w for w in microbit.warnings)  # the profile's note: its board
    if engine == "tflm":  # benchmark --emulate takes the board too (a .tflite in)
        r = runner.invoke(app, ["benchmark", str(model), "--emulate", "-t", "rp2040", "--board",
                                "microbit", "--json"])  # fmt: skip
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["instructions"] == list(microbit.instructions)
        r = runner.invoke(app, ["benchmark", str(model), "--board", "microbit"])
        assert r.exit_code == 2 and "--board works with --emulate" in r.output


def test_the_armv6m_check_fails_on_code_built_for_the_cortex_m3(tmp_path, toolchain, monkeypatch):
    """The build flags decide; the check proves it for the ELF and refuses anything else."""
    from edgesdk.core.profiles import load_profile
    from edgesdk.firmware import cores
    from edgesdk.firmware.isa import check_elf
    from edgesdk.firmware.standalone.emulation import emulate_standalone
    from edgesdk.firmware.standalone.firmware import build, read_bundle
    from edgesdk.firmware.target_board import choose

    model = tmp_path / "ds_cnn.tflite"
    model.write_bytes(whole_model("ds_cnn"))
    bundle = _export(model, tmp_path / "bundle", "standalone")
    chosen = choose(load_profile("rp2040"))
    m3_flags = ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft", "-mlittle-endian")
    b = read_bundle(bundle)
    built = {}
    for name, core in (
        ("m0plus", chosen.core),
        ("m3", dataclasses.replace(chosen.core, cpu_flags=m3_flags)),
    ):
        built[name] = build(b, core, toolchain, tmp_path / name, chosen.memory).elf
    good = check_elf(built["m0plus"], "armv6-m", toolchain.objdump)
    assert good.passed and good.instructions > 3000
    bad = check_elf(built["m3"], "armv6-m", toolchain.objdump)
    assert not bad.passed and bad.outside_count > 50
    listed = " ".join(bad.outside)
    assert re.search(r"\b(it[te]*|cbn?z|[a-z]+\.w|[su]div|ldrd|strd)\b", listed), listed
    # the same flags through emulate: refused before qemu runs, naming the first instruction
    compiler = cores.COMPILERS[("cortex-m0plus", "none")]
    monkeypatch.setitem(
        cores.COMPILERS,
        ("cortex-m0plus", "none"),
        dataclasses.replace(compiler, cpu_flags=m3_flags),
    )
    with pytest.raises(FirmwareError, match=r"instructions armv6-m lacks \(first: 0x[0-9a-f]+ <"):
        emulate_standalone(bundle, "rp2040", per_layer=False)


def _unaligned_firmware(tmp_path: Path, core, defines: tuple[str, ...], toolchain) -> Path:
    from edgesdk.firmware.linking import UART_SPECS, linker_script, memory_map_for
    from edgesdk.firmware.toolchain import TEMPLATES

    main = tmp_path / "main.c"
    main.write_text(
        "#include <stdint.h>\n#include <stdio.h>\n"
        "static uint8_t buf[8] __attribute__((aligned(4))) = {1, 2, 3, 4, 5, 6, 7, 8};\n"
        "int main(void) {\n"
        "  static volatile uintptr_t address;  /* the compiler cannot see it is unaligned */\n"
        "  address = (uintptr_t)buf + 1;\n"
        '  printf("read %08lx\\n", (unsigned long)*(volatile uint32_t *)address);\n'
        "  return 0;\n}\n"
    )
    memory = memory_map_for(core, PICO_FLASH, PICO_RAM)
    linker = tmp_path / "linker.ld"
    linker.write_text(linker_script("none", memory))
    elf = tmp_path / "firmware.elf"
    subprocess.run(
        [str(toolchain.gcc), *core.cpu_flags, "-Os", *defines, str(main),
         str(TEMPLATES / "startup.c"), "-T", str(linker), "-nostartfiles", "--specs=nano.specs",
         UART_SPECS, "-o", str(elf)],
        check=True, capture_output=True,
    )  # fmt: skip
    return elf


@pytest.mark.parametrize("board", ["mps2-an385", "microbit"])
def test_an_unaligned_load_faults_on_the_stand_in_as_on_armv6m(tmp_path, toolchain, board):
    """ARMv6-M always faults on an unaligned LDR; the Cortex-M3 would run it, unless the
    start-up emulate builds for a stand-in board sets CCR.UNALIGN_TRP."""
    from edgesdk.firmware.cores import core_for
    from edgesdk.firmware.emulator import qemu_command

    core = core_for("cortex-m0plus", "none", board)
    assert core.stand_in == (board == "mps2-an385")
    outputs = {}
    for name, defines in (("uart only", core.uart.defines), ("emulate's", core.io_defines)):
        folder = tmp_path / name.replace(" ", "-").replace("'", "")
        folder.mkdir()
        elf = _unaligned_firmware(folder, core, defines, toolchain)
        proc = subprocess.run(qemu_command(core, elf, toolchain), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=60)  # fmt: skip
        outputs[name] = proc.stdout.decode()
    assert "unexpected exception 003" in outputs["emulate's"] and "edgesdk-exit 99" in outputs[
        "emulate's"]  # fmt: skip
    if board == "mps2-an385":  # without the trap the M3 reads the word: what the check is for
        assert "read 05040302" in outputs["uart only"], outputs


def test_a_board_that_cannot_run_the_targets_code_is_one_line(tmp_path):
    from edgesdk.firmware.cores import boards_for, compiler_for, core_for

    assert boards_for(compiler_for("cortex-m0plus", "none")) == (
        "microbit", "mps2-an385", "mps2-an386", "mps2-an500")  # fmt: skip
    assert boards_for(compiler_for("cortex-m4", "fpv4-sp-d16")) == ("mps2-an386",)
    assert boards_for(compiler_for("cortex-m7", "fpv5-d16")) == ("mps2-an500",)
    with pytest.raises(FirmwareError, match=r"must be 'cortex-m3'"):
        core_for("cortex-m0plus", "none", "mps2-an385", "cortex-m0")
    model = tmp_path / "digits_cnn.tflite"
    model.write_bytes(whole_model("digits_cnn"))
    bundle = _export(model, tmp_path / "bundle", "standalone", target="arduino-nano-33-ble")
    for board, match in (
        ("microbit", r"Board microbit \(BBC micro:bit \(nRF51, Cortex-M0\), armv6-m, fpu none\) "
                     r"cannot run code for cortex-m4f \(armv7e-m, fpu fpv4-sp-d16\) \(boards "
                     r"that can: mps2-an386\)"),
        ("stm32", r"Unknown qemu board 'stm32' \(verified boards: microbit, mps2-an385, "
                  r"mps2-an386, mps2-an500\)"),
    ):  # fmt: skip
        r = runner.invoke(app, ["emulate", str(bundle), "--board", board])
        assert r.exit_code == 1, r.output
        assert len(r.stderr.strip().splitlines()) == 1 and re.search(match, r.stderr), r.stderr


def test_every_emulated_profile_runs_on_a_board_with_its_memory():
    """Profile data: each MCU target with a qemu board builds for its own core and links in
    its own flash and RAM sizes (the board has at least as much); the rest say why not."""
    from edgesdk.core.profiles import list_profiles
    from edgesdk.firmware.target_board import choose

    emulated = {}
    for profile in list_profiles():
        if profile.mcu is None or not profile.mcu.qemu_machine:
            continue
        chosen = choose(profile)
        m = chosen.memory
        assert (m.ram.size, m.ram_limit) == (profile.memory.ram_bytes, "target"), profile.name
        assert (m.flash.size, m.flash_limit) == (profile.memory.flash_bytes, "target")
        emulated[profile.name] = (chosen.core.name, chosen.core.qemu_machine, chosen.core.stand_in)
    assert emulated == {
        "arduino-nano-33-ble": ("cortex-m4f", "mps2-an386", False),
        "rp2040": ("cortex-m0plus", "mps2-an385", True),
        "stm32f746-disco": ("cortex-m7", "mps2-an500", False),
    }

"""``export-c --engine standalone --firmware``: the written project builds with the real
arm-none-eabi-gcc (-Wall -Wextra -Werror) and runs bit-exact under the real qemu-system-arm."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.errors import ExportError

pytestmark = pytest.mark.emulation
runner = CliRunner()
FILES = {"Makefile", "main.c", "startup.c", "linker.ld", "README.md"}


def make(project: Path, toolchain, *variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-C", str(project), f"CC={toolchain.gcc}", *variables],
        capture_output=True,
        text=True,
    )


def test_the_written_project_builds_and_runs_bit_exact_under_qemu(tmp_path, toolchain):
    from edgesdk.firmware.cores import core_for
    from edgesdk.firmware.emulator import run_firmware
    from edgesdk.firmware.linking import uart_make_vars

    model = tmp_path / "ds_cnn.tflite"
    model.write_bytes(whole_model("ds_cnn"))
    out = tmp_path / "b"
    r = runner.invoke(app, ["export-c", str(model), "-t", "arduino-nano-33-ble", "-o", str(out),
                            "--engine", "standalone", "--firmware"])  # fmt: skip
    assert r.exit_code == 0, r.output
    project = out / "firmware"
    assert FILES <= {p.name for p in project.iterdir()}
    assert (out / "ds_cnn_test_vectors.h").is_file()  # --firmware implies 4 test vectors
    text = (project / "Makefile").read_text()
    assert "-Werror" in text and "-mcpu=cortex-m4" in text and "-mfpu=fpv4-sp-d16" in text
    assert "ORIGIN = 0x00000000, LENGTH = 1048576" in (project / "linker.ld").read_text()
    main = (project / "main.c").read_text()
    assert "ds_cnn_invoke_in_place();" in main and "ds_cnn_input0()" in main
    built = make(project, toolchain)
    assert built.returncode == 0, built.stderr  # semihosting: the user's board + debugger
    # the board's 1 MB / 256 KB map is not the emulator's, but the code runs from address 0
    core = core_for("cortex-m4", "fpv4-sp-d16", "mps2-an386", "cortex-m4")
    # emulate's qemu has no semihosting: the same files built for the emulated board's UART
    uart = ("OUT=build-uart", *uart_make_vars(core))
    built = make(project, toolchain, *uart)
    assert built.returncode == 0, built.stderr
    elf = project / "build-uart" / "firmware.elf"
    run = run_firmware(elf, core, toolchain, timeout=60)
    assert run.passed and len(run.vectors) == 4 and all(v.passed for v in run.vectors)
    # the check can fail: one expected byte changed, rebuilt, the firmware reports it
    vectors = out / "ds_cnn_test_vectors.h"
    src = vectors.read_text()
    m = re.search(r"kDsCnnTestOutput0\[4\]\[12\] = \{\s*\{\s*(-?\d+)", src)
    value = int(m.group(1))
    vectors.write_text(src[: m.start(1)] + str(value + 1 if value < 127 else value - 1)
                       + src[m.end(1) :])  # fmt: skip
    assert make(project, toolchain, *uart).returncode == 0
    bad = run_firmware(elf, core, toolchain, timeout=60)
    assert not bad.passed and not bad.vectors[0].passed and bad.vectors[1].passed


def test_a_warning_fails_the_build(tmp_path, toolchain):
    """-Werror is live: an unused variable in the driver stops the build."""
    model = tmp_path / "ae.tflite"
    model.write_bytes(whole_model("autoencoder"))
    out = tmp_path / "b"
    edgesdk.export_c(model, out, target="rp2040", engine="standalone", firmware=True)
    project = out / "firmware"
    assert "-mcpu=cortex-m0plus" in (project / "Makefile").read_text()
    assert make(project, toolchain).returncode == 0  # the M0+ build is clean
    main = project / "main.c"
    main.write_text(main.read_text().replace("int main(void) {", "int main(void) {\n  int x;"))
    broken = make(project, toolchain)
    assert broken.returncode != 0 and "unused variable" in broken.stderr


def test_a_target_without_mcu_is_refused_and_nothing_is_written(tmp_path):
    model = tmp_path / "ae.tflite"
    model.write_bytes(whole_model("autoencoder"))
    out = tmp_path / "b"
    with pytest.raises(ExportError) as e:
        edgesdk.export_c(model, out, target="linux-x86_64", engine="standalone", firmware=True)
    assert "[mcu]" in str(e.value) and "\n" not in str(e.value)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".b")]

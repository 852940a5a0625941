"""Untrusted bundles under ``emulate``: firmware built from a bundle's (edited, shared) C must
not reach the host (no semihosting, no network), and a bundle's export.json and file names
cannot steer which files are read or what runs. Real arm-none-eabi-gcc, real qemu-system-arm,
the real TFLite Micro library (built once per core, cached)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_firmware_tools
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

pytestmark = pytest.mark.emulation
runner = CliRunner()
TARGET = "arduino-nano-33-ble"

# Appended to a bundle's model source (C or C++): a constructor, so it runs before main(),
# that issues ARM semihosting calls (bkpt 0xab, r0 = operation, r1 = argument block).
SEMIHOSTING = """
/* --- appended by an attacker --- */
#ifdef __cplusplus
extern "C" {
#endif
static int attacker_semihost(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
__attribute__((constructor)) static void attacker_constructor(void) {
%s
}
#ifdef __cplusplus
}
#endif
"""

# SYS_SYSTEM (0x12) {command, length}: run a host command.
SYSTEM_BODY = """  static const char cmd[] = "touch %s";
  const void *args[2] = {cmd, (const void *)(sizeof cmd - 1)};
  attacker_semihost(0x12, args);"""

# SYS_OPEN (0x01) a host file for reading, SYS_READ (0x06) it, SYS_OPEN a second one for
# writing (mode 4: "w"), SYS_WRITE (0x05) the bytes, SYS_CLOSE (0x02), SYS_REMOVE (0x0e) a third.
FILES_BODY = """  static const char secret[] = "%s";
  static const char copy[] = "%s";
  static const char victim[] = "%s";
  static char buf[64];
  const void *open_r[3] = {secret, (const void *)0, (const void *)(sizeof secret - 1)};
  int in = attacker_semihost(0x01, open_r);
  const void *read_args[3] = {(const void *)in, buf, (const void *)sizeof buf};
  int left = attacker_semihost(0x06, read_args);
  const void *open_w[3] = {copy, (const void *)4, (const void *)(sizeof copy - 1)};
  int out = attacker_semihost(0x01, open_w);
  const void *write_args[3] = {(const void *)out, buf, (const void *)(sizeof buf - left)};
  attacker_semihost(0x05, write_args);
  attacker_semihost(0x02, &out);
  const void *remove_args[2] = {victim, (const void *)(sizeof victim - 1)};
  attacker_semihost(0x0e, remove_args);"""


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    require_firmware_tools()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A small int8 CNN (digits-sized input), built in code, seeded."""
    path = tmp_path_factory.mktemp("untrusted") / "digits_cnn.tflite"
    path.write_bytes(whole_model("digits_cnn"))
    return path


def _bundle(model: Path, folder: Path, engine: str = "tflm") -> Path:
    edgesdk.export_c(model, folder, target=TARGET, test_vectors=2, engine=engine)
    return folder


def _append(bundle: Path, body: str) -> Path:
    source = next(p for p in bundle.iterdir() if p.name.endswith(("_model.c", "_model.cc")))
    source.write_text(source.read_text() + SEMIHOSTING % body)
    return source


def _one_line_error(r) -> str:
    """The CLI's one-line error: exit 1, no traceback, one non-empty line on stderr."""
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("engine", ["tflm", "standalone"])
def test_a_bundle_cannot_run_a_host_command_through_semihosting(tiny_model, tmp_path, engine):
    bundle = _bundle(tiny_model, tmp_path / "bundle", engine)
    marker = tmp_path / "host-command-ran"
    _append(bundle, SYSTEM_BODY % marker)
    # a Makefile shipped in the bundle is never run either (only edgesdk's own templates)
    for name in ("Makefile", "GNUmakefile", "makefile"):
        (bundle / name).write_text(f"all:\n\ttouch {tmp_path / ('make-ran-' + name)}\n")
    r = runner.invoke(app, ["emulate", str(bundle), "--keep", str(tmp_path / "project")])
    line = _one_line_error(r)
    # the bkpt is a fault on a core without semihosting: HardFault (exception 3), exit 99
    assert "faulted" in line and "exception 003" in line, line
    assert not marker.exists()
    assert not list(tmp_path.glob("make-ran-*"))


def test_a_bundle_cannot_read_write_or_remove_host_files(tiny_model, tmp_path):
    bundle = _bundle(tiny_model, tmp_path / "bundle")
    secret, copy, victim = tmp_path / "secret.txt", tmp_path / "copy.txt", tmp_path / "victim.txt"
    secret.write_text("s3cr3t-host-data\n")
    victim.write_text("keep me\n")
    _append(bundle, FILES_BODY % (secret, copy, victim))
    r = runner.invoke(app, ["emulate", str(bundle)])
    line = _one_line_error(r)
    assert "faulted" in line
    assert not copy.exists()  # nothing read from the host reached a host file
    assert victim.read_text() == "keep me\n"  # nothing removed
    assert secret.read_text() == "s3cr3t-host-data\n"
    assert "s3cr3t" not in r.output + r.stderr


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385", "mps2-an500"])
def test_the_emulator_has_no_network(tmp_path, board):
    """The MPS2 boards have an Ethernet controller (lan9118): qemu must give it no host
    network (user-mode networking would let firmware connect to the host and beyond). Asked
    through a monitor on a socket, added to the exact command line emulate runs."""
    import socket
    import time

    from edgesdk.firmware.cores import core_for
    from edgesdk.firmware.emulator import qemu_command
    from edgesdk.firmware.toolchain import find_toolchain

    core = core_for(*{"mps2-an385": ("cortex-m0plus", "none"),
                      "mps2-an386": ("cortex-m4", "fpv4-sp-d16"),
                      "mps2-an500": ("cortex-m7", "fpv5-d16")}[board], board)  # fmt: skip
    cmd = qemu_command(core, tmp_path / "unused.elf", find_toolchain())
    cmd = cmd[: cmd.index("-kernel")]  # no firmware: -S holds the core before it would run
    sock = tmp_path / "monitor.sock"
    cmd += ["-S", "-monitor", f"unix:{sock},server=on,wait=off"]
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and qemu.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sock.exists(), qemu.communicate(timeout=30)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(str(sock))
            s.sendall(b"info network\nquit\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
        qemu.wait(timeout=30)
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()
    text = answer.decode(errors="replace")
    assert "lan9118" in text, text  # the board's NIC is listed: the check sees the network
    assert "type=user" not in text and "type=tap" not in text, text


def _export_json(bundle: Path) -> dict:
    return json.loads((bundle / "export.json").read_text())


def _set(data: dict, dotted: str, value) -> dict:
    node = data
    *path, last = dotted.split(".")
    for key in path:
        node = node[key]
    node[last] = value
    return data


@pytest.fixture(scope="module")
def standalone_bundle(tiny_model, tmp_path_factory) -> Path:
    return _bundle(tiny_model, tmp_path_factory.mktemp("sa") / "bundle", "standalone")


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("name", "../other/digits_cnn", "name"),
        ("name", "digits_cnn; touch x", "name"),
        ("name", "", "name"),
        ("name", 7, "name"),
        ("target", "../../etc/evil.toml", "target"),
        ("target", "/tmp/evil", "target"),
        ("ram.arena_peak", "big", "arena_peak"),
        ("ram.arena_peak", -5, "arena_peak"),
        ("layers", ["not a layer"], "layers"),
        ("layers", [{"op_index": "0; x", "op": "FULLY_CONNECTED"}], "layers"),
    ],
)
def test_hostile_export_json_fields_are_one_line_errors(
    standalone_bundle, tmp_path, field, value, expected
):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(standalone_bundle, bundle)
    # what a ../ name would reach: a complete-looking bundle beside this one
    shutil.copytree(standalone_bundle, tmp_path / "other")
    (bundle / "export.json").write_text(json.dumps(_set(_export_json(bundle), field, value)))
    r = runner.invoke(app, ["emulate", str(bundle)])
    line = _one_line_error(r)
    assert expected in line, line


@pytest.fixture(scope="module")
def tflm_bundle(tiny_model, tmp_path_factory) -> Path:
    return _bundle(tiny_model, tmp_path_factory.mktemp("tflm") / "bundle")


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("name", "digits_cnn; touch x", "name"),
        ("arena_declared", "9000", "arena_declared"),
        ("arena_declared", -16, "arena_declared"),
        ("test_vectors", 0, "test vectors"),
        ("files", "digits_cnn_model.cc", "files"),
        ("io", None, "io"),
        ("kernels", "simd; touch x", "kernels"),
        ("registrations", [{"op": "CONV_2D", "int8_only": "yes"}], "registrations"),
        ("layers", [{"op_index": -1, "op": "CONV_2D"}], "layers"),
        ("io.inputs", [], "io.inputs"),
        ("io.outputs", [{"name": "y", "dtype": "int8", "shape": [1, "10; x"]}], "io.outputs"),
        ("io.inputs", [{"name": "x", "dtype": "complex64", "shape": [1, 8, 8, 1]}], "io.inputs"),
    ],
)
def test_hostile_export_json_fields_of_a_tflm_bundle_are_one_line_errors(
    tflm_bundle, tmp_path, field, value, expected
):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tflm_bundle, bundle)
    meta = _export_json(bundle)
    if value is None:
        del meta[field]
    else:
        meta = _set(meta, field, value)
    (bundle / "export.json").write_text(json.dumps(meta))
    line = _one_line_error(runner.invoke(app, ["emulate", str(bundle)]))
    assert expected in line, line


def test_emulate_takes_its_figures_from_export_json_not_the_c(tflm_bundle, tmp_path):
    """The header's arena constant edited to 64 bytes (far too small to allocate the model):
    emulate uses export.json's arena and its I/O, and the firmware still passes; the same
    figure made too small in export.json is what the firmware then gets."""
    import re
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tflm_bundle, bundle)
    header = bundle / "digits_cnn_model.h"
    text, n = re.subn(r"(kDigitsCnnTensorArenaSize\s*=\s*)\d+", r"\g<1>64", header.read_text())
    assert n == 1
    header.write_text(text)
    declared = _export_json(bundle)["arena_declared"]
    project = tmp_path / "project"
    result = edgesdk.emulate(bundle, work_dir=project)
    assert result.bit_exact
    assert f"#define BUNDLE_ARENA_SIZE {declared}\n" in (project / "bundle_config.h").read_text()
    (bundle / "export.json").write_text(
        json.dumps(_set(_export_json(bundle), "arena_declared", 64))
    )
    line = _one_line_error(runner.invoke(app, ["emulate", str(bundle)]))
    assert "arena" in line.lower() or "exit" in line, line  # the check above can fail


def test_export_json_that_is_not_an_object_is_one_line(standalone_bundle, tmp_path):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(standalone_bundle, bundle)
    (bundle / "export.json").write_text('["engine", "standalone"]')
    r = runner.invoke(app, ["emulate", str(bundle), "--target", TARGET])
    assert "export.json" in _one_line_error(r)


def test_a_target_from_export_json_is_only_a_builtin_name(standalone_bundle, tmp_path):
    """A profile path in a bundle's export.json is refused, not read (it is outside the
    bundle); an explicit target still works."""
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(standalone_bundle, bundle)
    evil = tmp_path / "evil.toml"
    profile = Path(edgesdk.__file__).parent / "core" / "profile_data" / f"{TARGET}.toml"
    evil.write_text(profile.read_text().replace(f'name = "{TARGET}"', 'name = "evil"'))
    meta = _export_json(bundle)
    (bundle / "export.json").write_text(json.dumps({**meta, "target": str(evil)}))
    line = _one_line_error(runner.invoke(app, ["emulate", str(bundle)]))
    assert "not a built-in profile" in line, line
    result = edgesdk.emulate(bundle, target=TARGET)  # the user names the profile: fine
    assert result.bit_exact and result.target == TARGET


@pytest.mark.parametrize("engine", ["tflm", "standalone"])
def test_a_bundle_file_linked_outside_the_bundle_is_refused(tiny_model, tmp_path, engine):
    bundle = _bundle(tiny_model, tmp_path / "bundle", engine)
    vectors = next(bundle.glob("*_test_vectors.h"))
    outside = tmp_path / "outside.h"
    outside.write_text(vectors.read_text())
    vectors.unlink()
    os.symlink(outside, vectors)
    line = _one_line_error(runner.invoke(app, ["emulate", str(bundle)]))
    assert vectors.name in line and "outside" in line, line


@pytest.mark.parametrize(
    "evil, camel",
    [
        # a newline in the file name: a rule in the generated config.mk, make's first goal
        ("x\npwn:\n\ttouch pwned\n#", "X\npwn:\n\ttouch pwned\n#"),
        ("$(shell touch pwned)", "$(shell touch pwned)"),
    ],
)
def test_a_file_name_cannot_inject_make_commands(tiny_model, tmp_path, evil, camel):
    """The TFLite Micro bundle's name (export.json's, which names its files) reaches the
    generated config.mk: a name that is not a C identifier is refused before make runs."""
    bundle = _bundle(tiny_model, tmp_path / "bundle")
    for path in list(bundle.iterdir()):
        if path.name.startswith("digits_cnn_"):
            text = path.read_text().replace("DigitsCnn", camel).replace("digits_cnn_", f"{evil}_")
            path.unlink()
            (bundle / path.name.replace("digits_cnn_", f"{evil}_", 1)).write_text(text)
    meta = _export_json(bundle)
    meta["files"] = [f.replace("digits_cnn_", f"{evil}_", 1) for f in meta["files"]]
    (bundle / "export.json").write_text(json.dumps({**meta, "name": evil}))
    project = tmp_path / "project"
    r = runner.invoke(app, ["emulate", str(bundle), "--keep", str(project)])
    line = _one_line_error(r)
    assert "name" in line, line
    assert not (project / "pwned").exists()


@pytest.mark.parametrize("engine", ["tflm", "standalone"])
def test_a_profile_name_or_model_path_cannot_end_a_generated_comment(tiny_model, tmp_path, engine):
    """A profile's name and the model's path are written into comments of the generated C and
    linker scripts: ``*/`` must not end them early (what follows would be compiled)."""
    import shutil

    profile = Path(edgesdk.__file__).parent / "core" / "profile_data" / f"{TARGET}.toml"
    evil = tmp_path / "evil.toml"
    evil.write_text(
        profile.read_text().replace(f'name = "{TARGET}"', 'name = "x@y */ int pwned1; /*"')
    )
    folder = tmp_path / "a*"  # the model's path holds "*/ int pwned2 ..."
    folder.mkdir()
    model = folder / " int pwned2; .tflite"
    shutil.copy(tiny_model, model)
    out = tmp_path / "bundle"
    edgesdk.export_c(model, out, target=str(evil), test_vectors=2, engine=engine, firmware=True)
    written = [p for p in out.rglob("*") if p.suffix in (".h", ".c", ".cc", ".ld")]
    assert len(written) >= 5 and any(p.suffix == ".ld" for p in written)
    text = "".join(p.read_text() for p in written)
    assert "int pwned1" in text and "int pwned2" in text  # both are there, inside comments
    assert "*/ int pwned" not in text

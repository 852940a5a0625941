"""Target profiles: built-ins, user files, strict keys."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgesdk.cli import app
from edgesdk.core.options import QuantMode, TargetKind
from edgesdk.core.profiles import builtin_names, load_profile
from edgesdk.errors import ConfigError

REQUIRED = {
    "raspberry-pi-4",
    "raspberry-pi-zero-2w",
    "esp32-s3",
    "arduino-nano-33-ble",
    "stm32f746-disco",
    "rp2040",
    "coral-edgetpu",
    "linux-x86_64",
}


def test_builtins_load_with_real_figures():
    names = set(builtin_names())
    assert REQUIRED <= names
    for name in names:
        p = load_profile(name)
        assert p.name == name
        assert p.memory.ram_bytes > 0
        assert p.runtimes
        if p.kind is TargetKind.MCU:
            assert p.memory.flash_bytes and p.memory.flash_bytes >= 1 << 20
            assert all(m.integer_only for m in p.quantization.allowed_modes)
            assert p.header.runtime_flash_estimate_bytes > 0
    nano = load_profile("arduino-nano-33-ble")
    assert (nano.memory.ram_bytes, nano.memory.flash_bytes, nano.cpu) == (
        256 * 1024,
        1024 * 1024,
        "Cortex-M4F",
    )
    assert load_profile("rp2040").memory.ram_bytes == 264 * 1024


def _write_profile(tmp_path, text):
    path = tmp_path / "board.toml"
    path.write_text(text)
    return path


GOOD = """
schema_version = 1
name = "my-board"
description = "test board"
kind = "mcu"
arch = "armv7e-m"
cpu = "Cortex-M4F"
runtimes = ["tflite_micro"]
[quantization]
mode = "int8"
io = "int8"
allowed_modes = ["int8"]
float_ops_allowed = false
[memory]
ram_bytes = 131072
flash_bytes = 524288
"""


def test_user_profile_by_path(tmp_path):
    p = load_profile(_write_profile(tmp_path, GOOD))
    assert p.name == "my-board" and p.quantization.allowed_modes == (QuantMode.INT8,)
    assert p.source.endswith("board.toml")


def test_mistyped_key_is_rejected_with_valid_keys(tmp_path):
    path = _write_profile(tmp_path, GOOD.replace("ram_bytes", "ram_byts"))
    with pytest.raises(ConfigError) as e:
        load_profile(path)
    assert (
        "ram_byts" in str(e.value) and "ram_bytes" in str(e.value) and "valid keys" in str(e.value)
    )


def test_unknown_top_level_key(tmp_path):
    path = _write_profile(tmp_path, "foo = 1\n" + GOOD)
    with pytest.raises(ConfigError, match="Unknown key 'foo'.*valid keys: arch"):
        load_profile(path)


@pytest.mark.parametrize(
    "old,new,match",
    [
        ('kind = "mcu"', 'kind = "fpga"', "kind='fpga'.*linux, mcu, accelerator"),
        ("ram_bytes = 131072", 'ram_bytes = "lots"', "ram_bytes='lots'"),
        ("schema_version = 1", "schema_version = 9", "schema_version=9"),
        ('mode = "int8"', 'mode = "float16"', "not in allowed_modes"),
    ],
)
def test_bad_values(tmp_path, old, new, match):
    with pytest.raises(ConfigError, match=match):
        load_profile(_write_profile(tmp_path, GOOD.replace(old, new)))


def test_unknown_target_lists_builtins():
    with pytest.raises(ConfigError, match="Unknown target 'pi5'.*raspberry-pi-4"):
        load_profile("pi5")


def test_cli_targets_list_and_show():
    runner = CliRunner()
    r = runner.invoke(app, ["targets", "list", "--json"])
    assert r.exit_code == 0, r.output
    names = {p["name"] for p in json.loads(r.stdout)}
    assert REQUIRED <= names
    r = runner.invoke(app, ["targets", "show", "stm32f746-disco", "--json"])
    data = json.loads(r.stdout)
    assert data["memory"]["flash_bytes"] == 1024 * 1024 and data["cpu"] == "Cortex-M7"
    r = runner.invoke(app, ["targets", "show", "rp2040"])
    assert r.exit_code == 0 and "Cortex-M0+" in r.stdout
    r = runner.invoke(app, ["targets", "list"])
    assert r.exit_code == 0 and "coral-edgetpu" in r.stdout


def test_cli_show_unknown_target_is_one_line():
    r = CliRunner().invoke(app, ["targets", "show", "nope"])
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and "Unknown target 'nope'" in r.stderr


# [header] section / qualifiers reach the generated C verbatim: anything that could end the
# declaration (quotes, parentheses, semicolons, braces, newlines, comments) is refused
@pytest.mark.parametrize(
    "key, value",
    [
        ("section", '.text")))\nint pwned;\n//'),
        ("section", ".model data"),
        ("section", '.x"'),
        ("qualifiers", "= {0}; int pwned(void) { return 1; } //"),
        ("qualifiers", 'PROGMEM\n#include "/etc/passwd"'),
        ("qualifiers", "__attribute__((used)) /* comment */"),
        ("qualifiers", '__attribute__((section(".x\\")))'),
        ("qualifiers", "__attribute__((constructor)); void f(void)"),
    ],
)
def test_header_c_text_is_validated(tmp_path, key, value):
    text = GOOD + f"[header]\n{key} = {json.dumps(value)}\n"
    with pytest.raises(ConfigError) as e:
        load_profile(_write_profile(tmp_path, text))
    message = str(e.value)
    assert f"header.{key}" in message and "must be" in message and "\n" not in message
    assert e.value.what == f"header.{key}"


@pytest.mark.parametrize(
    "key, value",
    [
        ("section", ".rodata"),
        ("section", ".bss.model_x$1"),
        ("qualifiers", "PROGMEM"),
        ("qualifiers", "DRAM_ATTR volatile"),
        ("qualifiers", "__attribute__((used))"),
        ("qualifiers", '__attribute__((aligned(32), used)) __attribute__ ((section(".ext")))'),
    ],
)
def test_header_c_text_that_is_c_loads(tmp_path, key, value):
    text = GOOD + f"[header]\n{key} = {json.dumps(value)}\n"
    assert getattr(load_profile(_write_profile(tmp_path, text)).header, key) == value

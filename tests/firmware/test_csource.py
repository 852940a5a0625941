"""The C text writer: identifiers and the byte-array writer, checked against the C compiler."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from edgesdk.errors import ExportError
from edgesdk.firmware.csource import BYTES_PER_LINE, camel, sanitize_identifier, write_byte_array


@pytest.mark.parametrize(
    ("name", "ident"),
    [("My-Model v2", "my_model_v2"), ("2nd", "m2nd"), ("int", "int_model"), ("a__b", "a_b")],
)
def test_identifiers(name, ident):
    assert sanitize_identifier(name) == ident


@pytest.mark.parametrize("name", ["", "___", "123", "!!"])
def test_unusable_names_are_refused(name):
    with pytest.raises(ExportError, match="cannot become a C identifier"):
        sanitize_identifier(name)


def test_camel():
    assert camel("my_model_v2") == "MyModelV2"


@pytest.mark.parametrize("size", [0, 1, BYTES_PER_LINE - 1, BYTES_PER_LINE, 1000, 70_001])
def test_byte_array_round_trips_through_python_and_the_c_compiler(size, tmp_path):
    data = bytes((i * 37 + 11) % 256 for i in range(size))
    out = io.BytesIO()
    write_byte_array(out, data)
    text = out.getvalue().decode()
    assert all(len(line) <= 2 + 6 * BYTES_PER_LINE for line in text.splitlines())
    assert bytes(int(t, 16) for t in text.replace(",", " ").split()) == data
    if size and shutil.which("gcc"):
        src = tmp_path / "a.c"
        src.write_text(
            "#include <stdio.h>\nstatic const unsigned char d[] = {\n" + text + "};\n"
            "int main(void){unsigned long s=0;for(unsigned i=0;i<sizeof d;i++)s=s*31+d[i];"
            'printf("%lu %u\\n", s, (unsigned)sizeof d);return 0;}\n'
        )
        subprocess.run(["gcc", "-Wall", "-Werror", "-o", tmp_path / "a", src], check=True)
        got = subprocess.run([tmp_path / "a"], capture_output=True, text=True, check=True).stdout
        expected = 0
        for b in data:
            expected = (expected * 31 + b) % (1 << 64)
        assert got.split() == [str(expected), str(size)]

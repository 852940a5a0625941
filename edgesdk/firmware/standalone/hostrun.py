"""Compile generated C with the host's gcc and run it on raw inputs (tests and export checks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgesdk.errors import ExportError
from edgesdk.firmware.standalone.graph import Graph

STRICT_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def _driver(name: str, g: Graph) -> str:
    """A main() that reads every input (raw bytes) from stdin per vector, invokes the model and
    writes every output to stdout, until stdin ends. With an argument (``in-place``) it reads
    the inputs straight into the model's buffer and runs ``<name>_invoke_in_place()``;
    without, it uses buffers of its own and the copying ``<name>_invoke()``."""
    ins = [g.tensors[t] for t in g.inputs]
    outs = [g.tensors[t] for t in g.outputs]
    ct = lambda t: "float" if t.dtype == "float32" else "int8_t"  # noqa: E731
    decl = [f"static {ct(t)} in{i}[{t.size}];" for i, t in enumerate(ins)]
    decl += [f"static {ct(t)} out{i}[{t.size}];" for i, t in enumerate(outs)]
    reads = " && ".join(f"fread(in{i}, sizeof in{i}, 1, stdin) == 1" for i in range(len(ins)))
    writes = "\n".join(f"    fwrite(out{i}, sizeof out{i}, 1, stdout);" for i in range(len(outs)))
    args = ", ".join([f"in{i}" for i in range(len(ins))] + [f"out{i}" for i in range(len(outs))])
    reads_ip = " && ".join(
        f"fread({name}_input{i}(), {t.nbytes}, 1, stdin) == 1" for i, t in enumerate(ins)
    )
    writes_ip = "\n".join(
        f"      fwrite({name}_output{i}(), {t.nbytes}, 1, stdout);" for i, t in enumerate(outs)
    )
    return (
        f'#include <stdio.h>\n#include "{name}_model.h"\n' + "\n".join(decl) + "\n"
        "int main(int argc, char **argv) {\n  (void)argv;\n"
        f"  if (argc > 1) {{\n    while ({reads_ip}) {{\n"
        f"      if ({name}_invoke_in_place() != 0) return 2;\n{writes_ip}\n    }}\n"
        "    return 0;\n  }\n"
        f"  while ({reads}) {{\n    if ({name}_invoke({args}) != 0) return 2;\n"
        f"{writes}\n  }}\n  return 0;\n}}\n"
    )


def build_host(folder: Path, name: str, g: Graph, sanitize: bool = True, cc: str = "gcc") -> Path:
    """Compile ``folder/<name>_model.c`` with a test driver; returns the executable.

    Raises:
        ExportError: no compiler, or the code does not compile cleanly.
    """
    compiler = shutil.which(cc)
    if compiler is None:
        raise ExportError(f"No C compiler {cc!r} on PATH (apt-get install gcc)")
    (folder / "host_main.c").write_text(_driver(name, g))
    exe = folder / "host_model"
    flags = [*STRICT_FLAGS, *(SANITIZE_FLAGS if sanitize else ())]
    cmd = [compiler, *flags, "-I", str(folder), str(folder / f"{name}_model.c"),
           str(folder / "host_main.c"), "-o", str(exe)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExportError(f"The generated C does not compile cleanly: {proc.stderr[:2000]}")
    return exe


def run_host(
    exe: Path, g: Graph, vectors: list[list[np.ndarray]], in_place: bool = False
) -> list[list[np.ndarray]]:
    """Run the host executable on input vectors; returns the outputs per vector.

    ``in_place``: through ``<name>_invoke_in_place()`` and the I/O pointers into its buffer.
    """
    data = b"".join(
        np.ascontiguousarray(x, dtype=g.tensors[t].dtype).tobytes()
        for v in vectors
        for t, x in zip(g.inputs, v, strict=True)
    )
    args = [str(exe), "in-place"] if in_place else [str(exe)]
    proc = subprocess.run(args, input=data, capture_output=True, timeout=300)
    if proc.returncode != 0:
        raise ExportError(
            f"The generated C failed on the host (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace')[:2000]}"
        )
    outs = [g.tensors[t] for t in g.outputs]
    per_vector = sum(t.nbytes for t in outs)
    if len(proc.stdout) != per_vector * len(vectors):
        raise ExportError(
            f"The generated C wrote {len(proc.stdout)} bytes, expected {per_vector * len(vectors)}"
        )
    result, pos = [], 0
    for _ in vectors:
        row = []
        for t in outs:
            row.append(
                np.frombuffer(proc.stdout[pos : pos + t.nbytes], dtype=t.dtype).reshape(t.shape)
            )
            pos += t.nbytes
        result.append(row)
    return result

"""C/C++ text for firmware: identifiers, a fast streaming byte-array writer, header pieces."""

from __future__ import annotations

import re
from typing import BinaryIO

import numpy as np

from edgesdk.errors import ExportError

BYTES_PER_LINE = 12
C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "float32": "float",
}
_CHUNK_LINES = 1 << 16  # 786,432 bytes of model per write: memory stays bounded
_TABLE = np.array([f"0x{i:02x}, ".encode() for i in range(256)], dtype="S6")
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while class namespace template new delete this".split()
)


def sanitize_identifier(name: str) -> str:
    """A C identifier from a file or model name: ``"My-Model v2"`` → ``"my_model_v2"``.

    Raises:
        ExportError: nothing usable is left after sanitising.
    """
    ident = re.sub(r"[^0-9a-zA-Z_]+", "_", name.strip()).strip("_").lower()
    ident = re.sub(r"_+", "_", ident)
    if not ident or not re.search(r"[a-z]", ident):
        raise ExportError(
            f"Invalid name {name!r}: it cannot become a C identifier (expected letters, digits, "
            "'_'; give `name`)",
            what="name",
            value=name,
        )
    if ident[0].isdigit():
        ident = f"m{ident}"
    if ident in _C_KEYWORDS:
        ident = f"{ident}_model"
    return ident


def comment_text(text: str) -> str:
    """``text`` (a profile name, a file path) for inside a C or linker-script block comment:
    ``*/`` cannot close the comment early, nor ``/*`` nest one (gcc -Wcomment), and control
    characters (newlines too) become ``?``."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text).replace("*/", "* /").replace("/*", "/ *")


def camel(ident: str) -> str:
    """``my_model`` → ``MyModel`` (for k<Name>TensorArenaSize)."""
    return "".join(p[:1].upper() + p[1:] for p in ident.split("_"))


def write_byte_array(out: BinaryIO, data: bytes | memoryview) -> None:
    """Write ``data`` as C initializer lines (``  0x1c, 0x00, ...``), 12 bytes a line.

    Vectorised with numpy in bounded chunks: a 50 MB model streams in about a second.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    chunk = BYTES_PER_LINE * _CHUNK_LINES
    for start in range(0, len(view), chunk):
        part = view[start : start + chunk]
        full = len(part) // BYTES_PER_LINE * BYTES_PER_LINE
        if full:
            cells = _TABLE[part[:full]].view(np.uint8).reshape(-1, BYTES_PER_LINE * 6)
            lines = np.empty((cells.shape[0], 2 + BYTES_PER_LINE * 6), dtype=np.uint8)
            lines[:, 0:2] = ord(" ")
            lines[:, 2:] = cells
            lines[:, -1] = ord("\n")  # the last cell's trailing space becomes the newline
            out.write(lines.tobytes())
        if full < len(part):
            out.write(b"  " + _TABLE[part[full:]].tobytes().rstrip(b" ") + b"\n")

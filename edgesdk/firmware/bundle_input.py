"""Reading a bundle someone else wrote: names, files and export.json fields are checked before
they become paths, make variables or C, and every refusal is one FirmwareError line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.errors import FirmwareError

C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
EXPORT_JSON = "export.json"


def shown(value: Any) -> str:
    """A value from a bundle as one line of text (repr escapes newlines and control bytes)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_name(name: Any, where: str) -> str:
    """The bundle's name (it prefixes file names, C symbols and make variables).

    Raises:
        FirmwareError: not a C identifier.
    """
    if not isinstance(name, str) or not C_IDENTIFIER.fullmatch(name):
        raise FirmwareError(
            f"Invalid bundle name {shown(name)} in {where} (must be a C identifier: letters, "
            "digits and '_', not starting with a digit, at most 128 characters)",
            what="name",
            value=str(name)[:128],
        )
    return name


def bundle_file(folder: Path, file_name: str) -> Path:
    """``folder/file_name``, checked to be a regular file inside the bundle (``folder`` must be
    resolved).

    Raises:
        FirmwareError: missing, not a regular file, or a link that leads outside the bundle.
    """
    path = folder / file_name
    resolved = path.resolve()
    if not resolved.is_relative_to(folder):
        raise FirmwareError(
            f"{file_name} in {folder} points outside the bundle (to {resolved}); a bundle's "
            "files must be inside its folder",
            what="bundle",
            value=str(path),
        )
    if not resolved.is_file():
        raise FirmwareError(f"{folder} has no file {file_name}", what="bundle", value=str(path))
    return path


def read_text(path: Path) -> str:
    """A bundle file's text.

    Raises:
        FirmwareError: unreadable or not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise FirmwareError(f"Cannot read {path}: {e}", what="bundle", value=str(path)) from e


def read_export_json(folder: Path, required: bool = False) -> dict[str, Any] | None:
    """The bundle's export.json as a JSON object (None when there is none and it is optional).

    Raises:
        FirmwareError: required and missing, unreadable, not JSON, or not a JSON object.
    """
    path = folder / EXPORT_JSON
    if not path.exists() and not path.is_symlink() and not required:
        return None
    text = read_text(bundle_file(folder, EXPORT_JSON))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise FirmwareError(f"{path} is not JSON: {e}", what=EXPORT_JSON, value=str(path)) from e
    if not isinstance(data, dict):
        raise FirmwareError(
            f"{path} is not an edgesdk export.json (must be a JSON object, got "
            f"{type(data).__name__})",
            what=EXPORT_JSON,
            value=str(path),
        )
    return data


def field(data: dict[str, Any], dotted: str, kind: str, where: Path) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``, checked against ``kind``: "int" (non-negative),
    "int?" (or null), "str", "str?" (or missing / null), "list".

    Raises:
        FirmwareError: missing or of another type (the message names the field and the type).
    """
    node: Any = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            if kind.endswith("?"):
                return None
            raise FirmwareError(f"{where} lacks {dotted}", what=dotted)
        node = node[key]
    if node is None and kind.endswith("?"):
        return None
    base = kind.rstrip("?")
    ok = {
        "int": isinstance(node, int) and not isinstance(node, bool) and node >= 0,
        "str": isinstance(node, str),
        "list": isinstance(node, list),
    }[base]
    if not ok:
        expected = {"int": "a non-negative integer", "str": "a string", "list": "a list"}[base]
        raise FirmwareError(
            f"Invalid {dotted}={shown(node)} in {where} (must be {expected})",
            what=dotted,
            value=shown(node),
        )
    return node


IO_DTYPES = ("int8", "uint8", "int16", "int32", "float32")
MAX_IO_TENSORS = 64


@dataclass(frozen=True)
class IoTensor:
    """One model input or output as export.json records it."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def io_record(inputs: Any, outputs: Any) -> dict[str, list[dict[str, Any]]]:
    """export.json's ``io``: name, dtype and shape of every input and output (anything with
    those three attributes), so a bundle is read without parsing its C."""

    def one(t: Any) -> dict[str, Any]:
        return IoTensor(str(t.name), str(t.dtype), tuple(int(d) for d in t.shape)).to_dict()

    return {"inputs": [one(t) for t in inputs], "outputs": [one(t) for t in outputs]}


def read_io(data: dict[str, Any], where: Path) -> tuple[tuple[IoTensor, ...], tuple[IoTensor, ...]]:
    """export.json's ``io``, every entry type-checked.

    Raises:
        FirmwareError: missing (a bundle from an older edgesdk: export it again) or malformed.
    """
    if "io" not in data:
        raise FirmwareError(
            f"{where} lacks io (the model's inputs and outputs; written by an older edgesdk?): "
            "export the bundle again",
            what="io",
        )
    found: list[tuple[IoTensor, ...]] = []
    for kind in ("inputs", "outputs"):
        entries = field(data, f"io.{kind}", "list", where)
        if not 1 <= len(entries) <= MAX_IO_TENSORS:
            raise FirmwareError(
                f"Invalid io.{kind} in {where} (must list 1 to {MAX_IO_TENSORS} tensors, got "
                f"{len(entries)})",
                what=f"io.{kind}",
            )
        tensors = []
        for i, e in enumerate(entries):
            shape = e.get("shape") if isinstance(e, dict) else None
            ok = (
                isinstance(e, dict)
                and isinstance(e.get("name"), str)
                and e.get("dtype") in IO_DTYPES
                and isinstance(shape, list)
                and len(shape) <= 8
                and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2**24
                        for d in shape)
            )  # fmt: skip
            if not ok:
                raise FirmwareError(
                    f"Invalid io.{kind}[{i}]={shown(e)} in {where} (must be an object with a "
                    f"name, a dtype ({', '.join(IO_DTYPES)}) and a shape of positive integers)",
                    what=f"io.{kind}",
                    value=shown(e),
                )
            tensors.append(IoTensor(e["name"], e["dtype"], tuple(shape)))
        found.append(tuple(tensors))
    return found[0], found[1]


_OP_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def read_layers(meta: dict[str, Any], where: Path) -> tuple[tuple[int, str], ...]:
    """export.json's ``layers``: (op index, op name) in the order the firmware runs them
    (empty when the bundle records none).

    Raises:
        FirmwareError: an entry that is not an object with op_index and op.
    """
    layers = []
    for i, layer in enumerate(field(meta, "layers", "list", where) if "layers" in meta else []):
        index = layer.get("op_index") if isinstance(layer, dict) else None
        op = layer.get("op") if isinstance(layer, dict) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or index < 0
            or not isinstance(op, str)
            or not _OP_NAME.fullmatch(op)
        ):
            raise FirmwareError(
                f"Invalid layers[{i}]={shown(layer)} in {where} (must be an object with "
                "op_index, a non-negative integer, and op, an op name such as CONV_2D)",
                what="layers",
            )
        layers.append((index, op))
    return tuple(layers)


def builtin_target(target: str, where: Path) -> Any:
    """The built-in profile a bundle's export.json names (never a path: a file outside the
    bundle is not read on a bundle's word).

    Raises:
        FirmwareError: not the name of a built-in profile.
    """
    from edgesdk.core.profiles import builtin_names, load_builtin_profile

    names = builtin_names()
    if target not in names:
        raise FirmwareError(
            f"{where} names target {shown(target)}, which is not a built-in profile "
            f"(built-in: {', '.join(names)}); give the target profile",
            what="target",
            value=shown(target),
            allowed=names,
        )
    return load_builtin_profile(target)

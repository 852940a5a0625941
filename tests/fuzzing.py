"""Seeded mutations of real files and the entry points they go through; shared by the fuzz test
and ``scripts/fuzz.py`` (the long run). Every outcome must be success or an EdgeSdkError."""

from __future__ import annotations

import collections
import io
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgesdk.errors import EdgeSdkError

KINDS = ("flip", "truncate", "extend", "swap")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Damage ``data`` as copies and downloads do: flipped bytes, a cut, junk after the end,
    two 4-byte words (e.g. flatbuffer offsets) swapped."""
    b = bytearray(data)
    kind = rng.choice(KINDS)
    if kind == "flip" and b:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == "truncate":
        b = b[: rng.randrange(len(b) + 1)]
    elif kind == "extend":
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif len(b) >= 8:
        i, j = (rng.randrange(0, len(b) - 4) & ~3 for _ in range(2))
        b[i : i + 4], b[j : j + 4] = b[j : j + 4], b[i : i + 4]
    return bytes(b)


# Where a .tflite keeps what runtimes can read differently, found with LiteRT's schema (never by
# guessing offsets). Field slots are the schema's field ids: vtable offset 4 + 2 * id.
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_BUFFER, _TENSOR_NAME, _TENSOR_QUANT = 4, 6, 8, 10, 12
_SG_TENSORS, _SG_INPUTS, _SG_OUTPUTS, _SG_OPERATORS = 4, 6, 8, 10
_OP_INPUTS, _OP_OUTPUTS, _OP_OPTIONS = 6, 8, 12
_Q_SCALE, _Q_ZERO_POINT = 8, 10
_MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS = 6, 8, 12
_BUFFER_DATA = 4
REGIONS = (
    "tensor shape",  # the dims of every tensor (LiteRT recomputes them, TFLite Micro trusts them)
    "tensor type",
    "tensor buffer",  # which buffer holds a tensor's constant data
    "graph io",  # the subgraph's input and output tensor indices
    "op tensors",  # each operator's input and output tensor indices
    "quantization",  # scales and zero points
    "buffer data",  # weights and biases
    "offset",  # uoffset fields: where tables, vectors and strings start
)


def _slot(tab: object, slot: int) -> int | None:
    o = tab.Offset(slot)  # type: ignore[attr-defined]
    return tab.Pos + o if o else None  # type: ignore[attr-defined]


def _vector(tab: object, slot: int, size: int) -> list[tuple[int, int]]:
    o = tab.Offset(slot)  # type: ignore[attr-defined]
    if not o:
        return []
    start, n = tab.Vector(o), tab.VectorLen(o)  # type: ignore[attr-defined]
    return [(start + size * i, size) for i in range(n)]


def regions(model: bytes) -> dict[str, list[tuple[int, int]]]:
    """(position, size) of every field of each kind in :data:`REGIONS`, from the schema."""
    from ai_edge_litert import schema_py_generated as schema

    found: dict[str, list[tuple[int, int]]] = {name: [] for name in REGIONS}
    m = schema.Model.GetRootAs(model, 0)

    def offsets(tab: object, *slots: int) -> None:
        found["offset"].extend((p, 4) for p in (_slot(tab, s) for s in slots) if p is not None)

    offsets(m._tab, _MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS)
    found["offset"] += _vector(m._tab, _MODEL_SUBGRAPHS, 4) + _vector(m._tab, _MODEL_BUFFERS, 4)
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        offsets(sg._tab, _SG_TENSORS, _SG_INPUTS, _SG_OUTPUTS, _SG_OPERATORS)
        found["offset"] += _vector(sg._tab, _SG_TENSORS, 4) + _vector(sg._tab, _SG_OPERATORS, 4)
        found["graph io"] += _vector(sg._tab, _SG_INPUTS, 4) + _vector(sg._tab, _SG_OUTPUTS, 4)
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            offsets(tensor._tab, _TENSOR_SHAPE, _TENSOR_NAME, _TENSOR_QUANT)
            found["tensor shape"] += _vector(tensor._tab, _TENSOR_SHAPE, 4)
            for slot, kind, size in ((_TENSOR_TYPE, "tensor type", 1), (_TENSOR_BUFFER, "tensor buffer", 4)):  # fmt: skip
                if (p := _slot(tensor._tab, slot)) is not None:
                    found[kind].append((p, size))
            q = tensor.Quantization()
            if q is not None:
                found["quantization"] += _vector(q._tab, _Q_SCALE, 4) + _vector(
                    q._tab, _Q_ZERO_POINT, 8
                )
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            offsets(op._tab, _OP_INPUTS, _OP_OUTPUTS, _OP_OPTIONS)
            found["op tensors"] += _vector(op._tab, _OP_INPUTS, 4) + _vector(
                op._tab, _OP_OUTPUTS, 4
            )
    for b in range(m.BuffersLength()):
        found["buffer data"] += [(p, n) for p, n in [_data_span(m.Buffers(b)._tab)] if n]
    return found


def _data_span(tab: object) -> tuple[int, int]:
    o = tab.Offset(_BUFFER_DATA)  # type: ignore[attr-defined]
    return (tab.Vector(o), tab.VectorLen(o)) if o else (0, 0)  # type: ignore[attr-defined]


def mutate_structure(
    data: bytes, rng: random.Random, where: dict[str, list[tuple[int, int]]]
) -> tuple[bytes, str]:
    """Damage one field of a kind from :func:`regions` (a dim off by one, a small or huge
    value, a flipped bit, an index moved); returns the bytes and what was done."""
    kind = rng.choice([k for k in REGIONS if where[k]])
    pos, size = rng.choice(where[kind])
    b = bytearray(data)
    if size == 4:
        old = struct.unpack_from("<i", b, pos)[0]
        new = rng.choice(
            [old + 1, old - 1, rng.randrange(0, 300), rng.randrange(-(2**31), 2**31),
             old ^ (1 << rng.randrange(32))]
        )  # fmt: skip
        new = (new + 2**31) % 2**32 - 2**31  # as an int32
        struct.pack_into("<i", b, pos, new)
        return bytes(b), f"{kind} at {pos}: {old} -> {new}"
    at = pos + rng.randrange(size)
    old, b[at] = b[at], b[at] ^ (1 << rng.randrange(8))
    return bytes(b), f"{kind} at {at}: byte {old} -> {b[at]}"


def output_dim_plus_one(data: bytes) -> bytes:
    """The regression case of issue 23 item 12: output 0's last dimension one larger ([1, 10]
    -> [1, 11] for the digits CNN). LiteRT derives [1, 10] from the FULLY_CONNECTED op and
    TFLite Micro takes [1, 11] from the file: export-c ended in ``ValueError: operands could
    not be broadcast together with shapes (1,10) (1,11)`` in compare_with_litert."""
    from ai_edge_litert import schema_py_generated as schema

    sg = schema.Model.GetRootAs(data, 0).Subgraphs(0)
    pos, _ = _vector(sg.Tensors(sg.Outputs(0))._tab, _TENSOR_SHAPE, 4)[-1]
    b = bytearray(data)
    struct.pack_into("<i", b, pos, struct.unpack_from("<i", b, pos)[0] + 1)
    return bytes(b)


class Tally:
    """Outcomes per entry point: ok, clean (EdgeSdkError), and anything else (a defect)."""

    def __init__(self) -> None:
        self.counts: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.defects: list[str] = []

    def run(self, entry: str, func: Callable[[], object], case: str = "") -> None:
        try:
            func()
            self.counts[entry]["ok"] += 1
        except EdgeSdkError as e:
            self.counts[entry]["clean error"] += 1
            if "\n" in str(e):
                self.counts[entry]["multi-line error"] += 1
                self.defects.append(f"{entry} [{case}]: a multi-line error: {e}")
        except Exception as e:  # noqa: BLE001 - exactly what the fuzzing looks for
            self.counts[entry][type(e).__name__] += 1
            self.defects.append(
                f"{entry} [{case}]: {type(e).__name__}: {e}\n{traceback.format_exc()}"
            )


def tflite_entries(model: bytes, tmp: Path) -> dict[str, Callable[[bytes], object]]:
    """The library entry points that read a .tflite."""
    import edgesdk
    from edgesdk.tflite.model_info import inspect_bytes

    def inspect(b: bytes) -> object:
        info = inspect_bytes(b, "fuzzed.tflite")
        info.to_dict(), info.op_counts(), info.float_ops(), info.io_tensors(), info.dtype_table()
        return info

    def export(engine: str) -> Callable[[bytes], object]:
        def run(b: bytes) -> object:
            path = tmp / "fuzzed.tflite"
            path.write_bytes(b)
            out = tmp / "bundle"
            try:
                return edgesdk.export_c(
                    path, out, target="arduino-nano-33-ble", test_vectors=2, engine=engine
                )
            finally:
                shutil.rmtree(out, ignore_errors=True)

        return run

    return {
        "inspect": inspect,
        "export-c": export("tflm"),
        "export-c standalone": export("standalone"),
    }


def evaluate_entry(float_model: Path, data: Path, tmp: Path) -> Callable[[bytes], object]:
    """``evaluate`` of a damaged .tflite against its float model, on LiteRT and TFLite Micro
    (each case starts the float model's worker: seconds, not milliseconds)."""
    import edgesdk

    def run(b: bytes) -> object:
        path = tmp / "fuzzed-eval.tflite"
        path.write_bytes(b)
        return edgesdk.evaluate(float_model, [path], str(data), tflm=True, limit=20)

    return run


def cli_outcome(args: list[str]) -> tuple[int, str, str]:
    """The CLI in its own process (a native crash would end it, not the test): exit code,
    stdout, stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", "from edgesdk.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout, proc.stderr


def clean_cli_failure(code: int, stderr: str) -> str | None:
    """Why a CLI outcome is not success or one ``error:`` line with exit code 1, or None."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    if code == 0:
        return None
    if code != 1:
        return f"exit code {code}: {stderr[-2000:]}"
    errors = [ln for ln in lines if ln.startswith("error: ")]
    if len(errors) != 1 or "Traceback" in stderr:
        return f"not one error line: {stderr[-2000:]}"
    return None


def data_entries(tmp: Path) -> dict[str, tuple[bytes, Callable[[bytes], object]]]:
    """The other parsers users feed, each with a valid file to damage."""
    from PIL import Image

    from edgesdk.core.options import Normalization, TensorSpec
    from edgesdk.core.profiles import load_profile
    from edgesdk.devices.ansible import read_inventory
    from edgesdk.inputs.samples import load_samples

    specs = [TensorSpec("x", (None, 8, 8, 1))]
    rng = np.random.default_rng(0)
    npy, npz, png = io.BytesIO(), io.BytesIO(), io.BytesIO()
    np.save(npy, rng.random((20, 8, 8, 1), dtype=np.float32))
    np.savez(npz, x=rng.random((20, 8, 8, 1), dtype=np.float32), y=np.arange(20) % 3)
    Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(png, "PNG")
    profile = (Path(__file__).parent.parent / "edgesdk/core/profile_data/rp2040.toml").read_bytes()
    ini = (
        b"[lab]\npi-[01:03] ansible_host=127.0.0.2 ansible_user=root\n[lab:vars]\nansible_port=2\n"
    )
    yaml = b"all:\n  children:\n    lab:\n      hosts:\n        pi1:\n          ansible_host: 127.0.0.3\n"

    def samples(name: str) -> Callable[[bytes], object]:
        def load(b: bytes) -> object:
            if name == "images":
                folder = tmp / "images"
                folder.mkdir(exist_ok=True)
                (folder / "a.png").write_bytes(b)
                return load_samples(str(folder), specs, Normalization(), False)
            path = tmp / f"data.{name}"
            path.write_bytes(b)
            return load_samples(str(path), specs, Normalization(), False)

        return load

    def written(name: str, reader: Callable[[Path], object]) -> Callable[[bytes], object]:
        def load(b: bytes) -> object:
            path = tmp / name
            path.write_bytes(b)
            return reader(path)

        return load

    def devices(b: bytes) -> object:
        from edgesdk.devices.inventory import Inventory, config_home

        config_home().mkdir(parents=True, exist_ok=True)
        (config_home() / "devices.json").write_bytes(b)
        return Inventory().list()

    inventory = (
        b'{"devices": [{"name": "pi", "host": "127.0.0.2", "port": 22, "user": "root", '
        b'"python": "python3", "workdir": "w", "groups": ["lab"]}]}'
    )
    return {
        "npy": (npy.getvalue(), samples("npy")),
        "npz": (npz.getvalue(), samples("npz")),
        "images": (png.getvalue(), samples("images")),
        "profile toml": (profile, written("p.toml", lambda p: load_profile(str(p)))),
        "device inventory": (inventory, devices),
        "ansible ini": (ini, written("hosts.ini", read_inventory)),
        "ansible yaml": (yaml, written("hosts.yml", read_inventory)),
    }


def bundle_entry(bundle: Path, tmp: Path, rng: random.Random) -> Callable[[], object]:
    """read_bundle (what emulate starts with) on a copy of ``bundle`` with one file damaged."""
    from edgesdk.firmware.tflm.project import read_bundle

    copy = tmp / "bundle-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(bundle, copy)
    victim = rng.choice(sorted(p for p in copy.iterdir() if p.is_file()))
    victim.write_bytes(mutate(victim.read_bytes(), rng))
    return lambda: read_bundle(copy)


def fresh_tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="edgesdk-fuzz-"))

"""Seeded mutations of real files and the entry points they go through; shared by the fuzz test
and ``scripts/fuzz.py`` (the long run). Every outcome must be success or an EdgeSdkError."""

from __future__ import annotations

import collections
import io
import random
import shutil
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


class Tally:
    """Outcomes per entry point: ok, clean (EdgeSdkError), and anything else (a defect)."""

    def __init__(self) -> None:
        self.counts: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.defects: list[str] = []

    def run(self, entry: str, func: Callable[[], object]) -> None:
        try:
            func()
            self.counts[entry]["ok"] += 1
        except EdgeSdkError:
            self.counts[entry]["clean error"] += 1
        except Exception as e:  # noqa: BLE001 - exactly what the fuzzing looks for
            self.counts[entry][type(e).__name__] += 1
            self.defects.append(f"{entry}: {type(e).__name__}: {e}\n{traceback.format_exc()}")


def tflite_entries(model: bytes, tmp: Path) -> dict[str, Callable[[bytes], object]]:
    """The library entry points that read a .tflite."""
    import edgesdk
    from edgesdk.tflite.model_info import inspect_bytes

    def inspect(b: bytes) -> object:
        info = inspect_bytes(b, "fuzzed.tflite")
        info.to_dict(), info.op_counts(), info.float_ops(), info.io_tensors(), info.dtype_table()
        return info

    def export(b: bytes) -> object:
        path = tmp / "fuzzed.tflite"
        path.write_bytes(b)
        out = tmp / "bundle"
        try:
            return edgesdk.export_c(path, out, target="arduino-nano-33-ble", test_vectors=2)
        finally:
            shutil.rmtree(out, ignore_errors=True)

    return {"inspect": inspect, "export-c": export}


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
    from edgesdk.firmware.project import read_bundle

    copy = tmp / "bundle-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(bundle, copy)
    victim = rng.choice(sorted(p for p in copy.iterdir() if p.is_file()))
    victim.write_bytes(mutate(victim.read_bytes(), rng))
    return lambda: read_bundle(copy)


def fresh_tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="edgesdk-fuzz-"))

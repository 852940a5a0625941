"""The input layout a converter changed, recorded inside the .tflite (a ``metadata`` entry named
``edgesdk_layout`` holding JSON), so that whatever reads the model later (export-c, package)
can say so: a PyTorch model takes NCHW, its .tflite NHWC."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LAYOUT_FIELD = "edgesdk_layout"
SCHEMA_VERSION = 1
_FRAMEWORKS = {"pytorch": "PyTorch"}  # how a source is named in lines for people


@dataclass(frozen=True)
class LayoutRecord:
    """What the model's input layout was and what the .tflite takes.

    Attributes:
        source: the framework the model came from ("pytorch").
        from_layout: the model's own input layout ("NCHW").
        to_layout: the .tflite's input layout ("NHWC").
        model_shape: one input's shape as the model took it (batch first).
        tflite_shape: the same input's shape in the .tflite.
    """

    source: str
    from_layout: str
    to_layout: str
    model_shape: tuple[int, ...]
    tflite_shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "from": self.from_layout,
            "to": self.to_layout,
            "model_input_shape": list(self.model_shape),
            "tflite_input_shape": list(self.tflite_shape),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayoutRecord:
        return cls(
            source=str(data["source"]),
            from_layout=str(data["from"]),
            to_layout=str(data["to"]),
            model_shape=tuple(int(d) for d in data["model_input_shape"]),
            tflite_shape=tuple(int(d) for d in data["tflite_input_shape"]),
        )

    def line(self) -> str:
        """One line for people (a C comment, a note)."""
        source = _FRAMEWORKS.get(self.source, self.source)
        return (
            f"input layout {self.to_layout} {list(self.tflite_shape)}: converted from the "
            f"{source} model's {self.from_layout} {list(self.model_shape)}; transpose "
            f"{self.from_layout} data to {self.to_layout}"
        )


def _sfb() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _name(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def add_layout(model: bytes, record: LayoutRecord) -> bytes:
    """``model`` with ``record`` in its ``edgesdk_layout`` metadata entry (replacing any)."""
    import flatbuffers
    import numpy as np

    s = _sfb()
    tree = s.ModelT.InitFromPackedBuf(model, 0)
    buffer = s.BufferT()
    buffer.data = np.frombuffer(json.dumps(record.to_dict()).encode(), dtype=np.uint8)
    entry = next((e for e in tree.metadata or [] if _name(e.name) == LAYOUT_FIELD), None)
    if entry is None:
        tree.buffers = (tree.buffers or []) + [buffer]
        entry = s.MetadataT()
        entry.name = LAYOUT_FIELD
        entry.buffer = len(tree.buffers) - 1
        tree.metadata = (tree.metadata or []) + [entry]
    else:
        tree.buffers[entry.buffer] = buffer
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def read_layout(model: bytes) -> LayoutRecord | None:
    """The model's layout record, or None (no entry, or one that does not parse)."""
    s = _sfb()
    try:
        root = s.Model.GetRootAs(model, 0)
        for i in range(root.MetadataLength()):
            entry = root.Metadata(i)
            if _name(entry.Name()) != LAYOUT_FIELD:
                continue
            buf = root.Buffers(entry.Buffer())
            if buf.Offset() > 1:  # a buffer stored after the flatbuffer (models > 2 GB)
                raw = model[buf.Offset() : buf.Offset() + buf.Size()]
            else:
                raw = buf.DataAsNumpy().tobytes() if buf.DataLength() else b""
            return LayoutRecord.from_dict(json.loads(raw.decode("utf-8")))
    except (IndexError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return None

"""TFLite model metadata (the schema MediaPipe Tasks and the Task Library read): build, attach
with packed associated files, and read back."""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Any

from edgesdk.errors import InspectionError

METADATA_FIELD = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # only fields of the first metadata schema are written
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same inputs give the same bytes


def _mfb() -> Any:
    from edgesdk.mobile.deps import require

    return require(
        "mediapipe.tasks.metadata.metadata_schema_py_generated", "TFLite metadata (mobile)"
    )


def _sfb() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@dataclass(frozen=True)
class ClassifierMetadata:
    """What is written into an image classifier's metadata.

    Attributes:
        name, description, version, author, license: shown by the model's users and tools.
        labels: one name per class, packed into the model as ``labels_file``.
        mean, std: input normalization ``(pixel - mean) / std`` (one value or one per channel).
        color_space: ``RGB`` or ``GRAYSCALE``.
        score_type: ``probability`` (softmax output, in [0, 1]) or ``logit`` (raw scores).
        labels_file: the name of the packed labels file.
    """

    name: str
    labels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""
    version: str = "1"
    author: str = ""
    license: str = ""
    color_space: str = "RGB"
    score_type: str = "probability"
    labels_file: str = "labels.txt"
    input_note: str = ""  # appended to the input's description (e.g. a converted layout)


@dataclass(frozen=True)
class MobileMetadata:
    """Metadata read back from a .tflite file."""

    name: str
    description: str
    version: str
    author: str
    license: str
    min_parser_version: str
    input_kind: str  # image, feature, unknown
    color_space: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    output_name: str
    labels_file: str
    labels: tuple[str, ...] = ()
    packed_files: tuple[str, ...] = field(default_factory=tuple)
    input_description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "author": self.author,
            "license": self.license,
            "min_parser_version": self.min_parser_version,
            "input_kind": self.input_kind,
            "input_description": self.input_description,
            "color_space": self.color_space,
            "normalization": {"mean": list(self.mean), "std": list(self.std)}
            if self.mean
            else None,
            "output": self.output_name,
            "labels_file": self.labels_file or None,
            "labels_count": len(self.labels),
            "packed_files": list(self.packed_files),
        }


def build_classifier_metadata(meta: ClassifierMetadata) -> bytes:
    """The metadata flatbuffer (identifier ``M001``) of a one-input image classifier."""
    import flatbuffers

    m = _mfb()
    model = m.ModelMetadataT()
    model.name, model.description, model.version = meta.name, meta.description, meta.version
    model.author, model.license = meta.author, meta.license
    model.minParserVersion = MIN_PARSER_VERSION

    image = m.TensorMetadataT()
    image.name = "image"
    image.description = "Input image, normalized as (pixel - mean) / std." + (
        f" {meta.input_note}." if meta.input_note else ""
    )
    content = m.ContentT()
    content.contentPropertiesType = m.ContentProperties.ImageProperties
    props = m.ImagePropertiesT()
    props.colorSpace = getattr(m.ColorSpaceType, meta.color_space)
    content.contentProperties = props
    image.content = content
    unit = m.ProcessUnitT()
    unit.optionsType = m.ProcessUnitOptions.NormalizationOptions
    norm = m.NormalizationOptionsT()
    norm.mean, norm.std = list(meta.mean), list(meta.std)
    unit.options = norm
    image.processUnits = [unit]
    stats = m.StatsT()
    stats.min = [(0.0 - a) / s for a, s in zip(meta.mean, meta.std, strict=True)]
    stats.max = [(255.0 - a) / s for a, s in zip(meta.mean, meta.std, strict=True)]
    image.stats = stats

    scores = m.TensorMetadataT()
    scores.name = meta.score_type
    scores.description = (
        "Probability of each class (softmax)."
        if meta.score_type == "probability"
        else "Raw score (logit) of each class."
    )
    out_content = m.ContentT()
    out_content.contentPropertiesType = m.ContentProperties.FeatureProperties
    out_content.contentProperties = m.FeaturePropertiesT()
    scores.content = out_content
    if meta.score_type == "probability":
        out_stats = m.StatsT()
        out_stats.min, out_stats.max = [0.0], [1.0]
        scores.stats = out_stats
    labels = m.AssociatedFileT()
    labels.name = meta.labels_file
    labels.description = "Class names, one per line, in output order."
    labels.type = m.AssociatedFileType.TENSOR_AXIS_LABELS
    scores.associatedFiles = [labels]

    subgraph = m.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [scores]
    model.subgraphMetadata = [subgraph]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), METADATA_IDENTIFIER)
    return bytes(builder.Output())


def attach_metadata(model: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """The model with ``metadata`` in its ``TFLITE_METADATA`` buffer (replacing any) and
    ``files`` packed after it as a zip (previously packed files are dropped)."""
    import flatbuffers
    import numpy as np

    s = _sfb()
    tree = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    buffer = s.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    entry = next((e for e in tree.metadata or [] if _text(e.name) == METADATA_FIELD), None)
    if entry is None:
        tree.buffers = (tree.buffers or []) + [buffer]
        entry = s.MetadataT()
        entry.name = METADATA_FIELD
        entry.buffer = len(tree.buffers) - 1
        tree.metadata = (tree.metadata or []) + [entry]
    else:
        tree.buffers[entry.buffer] = buffer
    builder = flatbuffers.Builder(len(model) + len(metadata) + 1024)
    builder.Finish(tree.Pack(builder), b"TFL3")
    out = io.BytesIO()
    out.write(bytes(builder.Output()))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as packed:
        for name in sorted(files):
            packed.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIME), files[name])
    return out.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def metadata_buffer(model: bytes) -> bytes | None:
    """The raw ``TFLITE_METADATA`` flatbuffer of a model, or None."""
    s = _sfb()
    root = s.Model.GetRootAs(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if _text(entry.Name()) == METADATA_FIELD:
            buf = root.Buffers(entry.Buffer())
            if buf.Offset() > 1:
                return model[buf.Offset() : buf.Offset() + buf.Size()]
            return buf.DataAsNumpy().tobytes() if buf.DataLength() else None
    return None


def packed_files(model: bytes) -> dict[str, bytes]:
    """Files packed after the flatbuffer as a zip (empty when there are none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as packed:
            return {n: packed.read(n) for n in packed.namelist()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        return {}


def read_metadata(model: bytes, source: str = "<bytes>") -> MobileMetadata | None:
    """The metadata of a .tflite model (None when it has none).

    Raises:
        InspectionError: the metadata buffer is not a TFLite metadata flatbuffer.
    """
    try:
        return _read_metadata(model, source)
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, struct.error) as e:
        raise InspectionError(f"Corrupt metadata in {source}: {e}") from e


def _read_metadata(model: bytes, source: str) -> MobileMetadata | None:
    raw = metadata_buffer(model)
    if raw is None:
        return None
    if len(raw) < 8 or raw[4:8] != METADATA_IDENTIFIER:
        raise InspectionError(
            f"Invalid metadata in {source} (expected the flatbuffer identifier 'M001')"
        )
    m = _mfb()
    meta = m.ModelMetadataT.InitFromObj(m.ModelMetadata.GetRootAs(raw, 0))
    sub = (meta.subgraphMetadata or [None])[0]
    inputs = (sub.inputTensorMetadata or []) if sub else []
    outputs = (sub.outputTensorMetadata or []) if sub else []
    kind, color, mean, std, described = "unknown", "", (), (), ""
    if inputs:
        first = inputs[0]
        described = _text(first.description)
        content = first.content
        if (
            content is not None
            and content.contentPropertiesType == m.ContentProperties.ImageProperties
        ):
            kind = "image"
            names = {v: k for k, v in vars(m.ColorSpaceType).items() if not k.startswith("_")}
            color = names.get(content.contentProperties.colorSpace, "")
        elif content is not None:
            kind = "feature"
        for unit in first.processUnits or []:
            if unit.optionsType == m.ProcessUnitOptions.NormalizationOptions:
                mean = tuple(float(v) for v in unit.options.mean)
                std = tuple(float(v) for v in unit.options.std)
    labels_file = ""
    output_name = ""
    if outputs:
        output_name = _text(outputs[0].name)
        for f in outputs[0].associatedFiles or []:
            if f.type == m.AssociatedFileType.TENSOR_AXIS_LABELS:
                labels_file = _text(f.name)
    files = packed_files(model)
    labels: tuple[str, ...] = ()
    if labels_file in files:
        labels = tuple(files[labels_file].decode("utf-8", "replace").splitlines())
    return MobileMetadata(
        name=_text(meta.name),
        description=_text(meta.description),
        version=_text(meta.version),
        author=_text(meta.author),
        license=_text(meta.license),
        min_parser_version=_text(meta.minParserVersion),
        input_kind=kind,
        color_space=color,
        mean=mean,
        std=std,
        output_name=output_name,
        labels_file=labels_file,
        labels=labels,
        packed_files=tuple(sorted(files)),
        input_description=described,
    )

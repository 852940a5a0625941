"""Exception hierarchy: one EdgeSdkError subclass per stage."""

from __future__ import annotations


class EdgeSdkError(Exception):
    """Base of every error edgesdk raises on purpose; the CLI prints it as one line."""

    exit_code = 1
    data: dict | None = None  # structured detail for the caller (e.g. the candidates tried)


class ConfigError(EdgeSdkError):
    """Invalid options, target profile or model file."""


class ModelError(EdgeSdkError):
    """A model file is missing, unreadable or not a model."""


class DatasetError(EdgeSdkError):
    """Representative or evaluation data is missing, malformed or unusable."""


class ConversionError(EdgeSdkError):
    """The TFLite converter failed, crashed, or produced a model that breaks a rule."""


class InspectionError(EdgeSdkError):
    """A .tflite file cannot be parsed."""


class OutputError(EdgeSdkError):
    """An output file or folder cannot be written."""


class ExportError(EdgeSdkError):
    """C export failed or a model cannot run on the target."""


class DeviceError(EdgeSdkError):
    """A device cannot be reached, trusted or used."""


class BenchmarkError(EdgeSdkError):
    """A benchmark could not run."""


ERROR_TYPES: dict[str, type[EdgeSdkError]] = {
    cls.__name__: cls
    for cls in (
        EdgeSdkError,
        ConfigError,
        ModelError,
        DatasetError,
        ConversionError,
        InspectionError,
        OutputError,
        ExportError,
        DeviceError,
        BenchmarkError,
    )
}
"""Name → class, used to re-raise errors that come back from a worker process."""

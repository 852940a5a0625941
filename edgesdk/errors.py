"""The error contract: EdgeSdkError with declared fields, one subclass per stage."""

from __future__ import annotations

from typing import Any


class EdgeSdkError(Exception):
    """Base of every error edgesdk raises on purpose; the CLI prints it as one line.

    Attributes:
        what: what failed or was refused (an option, a file, a layer, a device).
        value: the offending value, when there is one.
        allowed: what would have been accepted.
        retryable: whether the same call may succeed if tried again (network, not input).
        details: structured data for the caller (the candidates tried, the work done before
            the failure, a longer log); never needed to understand the message.
    """

    exit_code = 1
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        what: str | None = None,
        value: Any = None,
        allowed: Any = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.what = what
        self.value = value
        self.allowed = allowed
        if retryable is not None:
            self.retryable = retryable
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-able data (how a worker process hands it back)."""
        return {
            "type": type(self).__name__,
            "message": str(self),
            "what": self.what,
            "value": _plain(self.value),
            "allowed": _plain(self.allowed),
            "retryable": self.retryable,
            "details": self.details,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> EdgeSdkError:
        """Rebuild an error from :meth:`to_dict` (unknown types become EdgeSdkError)."""
        cls = ERROR_TYPES.get(d.get("type", ""), EdgeSdkError)
        return cls(
            d["message"],
            what=d.get("what"),
            value=d.get("value"),
            allowed=d.get("allowed"),
            retryable=d.get("retryable"),
            details=d.get("details"),
        )


def _plain(value: Any) -> Any:
    return (
        value if value is None or isinstance(value, (str, int, float, bool, list)) else str(value)
    )


class ConfigError(EdgeSdkError):
    """Invalid options, target profile or model file."""


class ModelError(EdgeSdkError):
    """A model file is missing, unreadable or not a model."""


class DatasetError(EdgeSdkError):
    """Representative or evaluation data is missing, malformed or unusable."""


class ConversionError(EdgeSdkError):
    """The TFLite converter failed, or produced a model that breaks a rule."""


class BudgetNotMetError(ConversionError):
    """No quantization candidate stayed within the accuracy budget (details: the candidates)."""


class CompressionError(EdgeSdkError):
    """Pruning, clustering, QAT or distillation failed or missed its target."""


class WorkerCrashedError(EdgeSdkError):
    """The child process that ran a heavy job died (a signal, or no result).

    Attributes:
        signal: the signal's name when a signal ended the child (``"SIGSEGV"``), else None.
        exit_code: the child's exit status (negative for a signal), None when unknown.
    """

    def __init__(
        self, message: str, *, signal: str | None = None, exit_code: int | None = None, **kw: Any
    ):
        super().__init__(message, **kw)
        self.signal = signal
        self.exit_code = exit_code


class FirmwareError(EdgeSdkError):
    """Building, running or measuring firmware on an emulated core failed."""


class InspectionError(EdgeSdkError):
    """A .tflite file cannot be parsed."""


class InconsistentModelError(InspectionError):
    """Two readers of one .tflite file (its flatbuffer, LiteRT, TFLite Micro, a device's
    runtime, the generated C) disagree on its inputs, outputs or tensor shapes: the file is
    damaged or inconsistent. ``what``: the tensor; ``value``: each reader's view of it."""


class OutputError(EdgeSdkError):
    """An output file or folder cannot be written."""


class ExportError(EdgeSdkError):
    """C export failed or a model cannot run on the target."""


class PackagingError(EdgeSdkError):
    """A model cannot be packaged for a mobile client (input type, labels, normalization)."""


class DeviceError(EdgeSdkError):
    """A device cannot be reached, trusted or used.

    Retryable unless raised with ``retryable=False``: trust, keys, authentication, an unknown
    device or a broken model do not change by trying again; the network may.
    """

    retryable = True


class UnknownHostKeyError(DeviceError):
    """The device presented a host key that no known_hosts file lists (``value``: its
    fingerprint); never retried: trusting a key is the user's decision."""

    def __init__(self, host: str, key_type: str, fingerprint: str):
        super().__init__(
            f"Unknown host key for {host}: {key_type} {fingerprint}; refusing to connect until "
            "this fingerprint is verified and trusted",
            what=host,
            value=fingerprint,
            allowed="a host key listed in known_hosts",
            retryable=False,
        )


class BenchmarkError(EdgeSdkError):
    """A benchmark could not run."""


class PipelineError(EdgeSdkError):
    """A pipeline run could not start or finish (another run holds its folder)."""


ERROR_TYPES: dict[str, type[EdgeSdkError]] = {
    cls.__name__: cls
    for cls in (
        EdgeSdkError,
        ConfigError,
        ModelError,
        DatasetError,
        ConversionError,
        BudgetNotMetError,
        CompressionError,
        WorkerCrashedError,
        InspectionError,
        InconsistentModelError,
        OutputError,
        ExportError,
        FirmwareError,
        PackagingError,
        DeviceError,
        BenchmarkError,
        PipelineError,
    )
}
"""Name → class, used to re-raise errors that come back from a worker process."""

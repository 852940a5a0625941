"""edgesdk: compress, quantize, export and deploy Keras / TensorFlow models to edge devices."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = (
    "quantize",
    "export_c",
    "emulate",
    "emulate_model",
    "inspect",
    "targets",
    "target",
    "demo",
    "deploy",
    "rollback",
    "benchmark",
    "benchmark_sweep",
    "device_check",
    "device_trust",
    "deploy_group",
    "benchmark_group",
    "fleet_status",
    "device_add",
    "list_devices",
    "device_remove",
    "trust_group",
    "import_inventory",
    "ansible_project",
    "evaluate",
    "compress",
    "report",
    "package",
    "export_coreml",
    "run",
    "init_pipeline",
)
_TYPES = {
    "QuantizeOptions": "edgesdk.core.options",
    "CompressOptions": "edgesdk.core.options",
    "CompressionResult": "edgesdk.compression.result",
    "Normalization": "edgesdk.core.options",
    "QuantMode": "edgesdk.core.options",
    "IoType": "edgesdk.core.options",
    "TargetProfile": "edgesdk.core.profiles",
    "QuantizationResult": "edgesdk.quantization.result",
    "EdgeSdkError": "edgesdk.errors",
    "PackageOptions": "edgesdk.mobile.package",
    "PipelineResult": "edgesdk.pipeline.runner",
    "PipelineSpec": "edgesdk.pipeline.spec",
}

__all__ = [*_API, *_TYPES, "__version__"]


def __getattr__(name: str) -> Any:
    """Lazy re-exports, so that ``import edgesdk`` stays light (no TensorFlow)."""
    import importlib

    if name in _API:
        return getattr(importlib.import_module("edgesdk.api"), name)
    if name in _TYPES:
        return getattr(importlib.import_module(_TYPES[name]), name)
    raise AttributeError(f"module 'edgesdk' has no attribute {name!r}")

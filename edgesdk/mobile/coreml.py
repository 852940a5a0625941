"""Core ML export for iOS: a Keras image classifier becomes an ``.mlpackage`` (ML Program) with
an image input and float16 compute; the written spec is validated (Core ML cannot run on
Linux, so numerical checks need macOS)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.core.profiles import TargetProfile
from edgesdk.core.results import JsonResult
from edgesdk.errors import ConfigError, ExportError, ModelError
from edgesdk.mobile.deps import require

log = logging.getLogger(__name__)

NUMERICS_NOTE = (
    "Core ML predicts only on macOS/iOS: the spec was validated here (inputs, outputs, ops, "
    "weight precision); numerical checks against the Keras model need macOS"
)


@dataclass(frozen=True)
class CoreMLResult(JsonResult):
    """What was exported and what its spec says."""

    model: str
    output: str
    target: str
    deployment_target: str
    precision: str
    spec_version: int
    input: dict[str, Any]
    outputs: tuple[str, ...]
    op_counts: dict[str, int]
    weights: dict[str, int]  # element type of const tensors -> count
    labels_count: int
    notes: tuple[str, ...] = (NUMERICS_NOTE,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "output": self.output,
            "target": self.target,
            "deployment_target": self.deployment_target,
            "precision": self.precision,
            "spec_version": self.spec_version,
            "input": self.input,
            "outputs": list(self.outputs),
            "op_counts": self.op_counts,
            "weights": self.weights,
            "labels_count": self.labels_count,
            "notes": list(self.notes),
        }


def _keras_model(model: Any) -> tuple[Any, str]:
    if not isinstance(model, (str, Path)):
        return model, f"in-memory model {getattr(model, 'name', '')}".strip()
    from edgesdk.inputs.models import load_keras_model, model_kind

    if model_kind(model) == "saved_model":
        raise ModelError(
            f"{model} is a SavedModel: coremltools 9 converts a Keras model or a concrete "
            "function, not a model.export() SavedModel (give the .keras file)"
        )
    return load_keras_model(model), str(model)


def _one(values: float | tuple[float, ...], what: str) -> float:
    vals = tuple(values) if isinstance(values, (tuple, list)) else (float(values),)
    if len(set(vals)) != 1:
        raise ConfigError(
            f"Invalid {what}={list(vals)} for Core ML (its image input takes one scale and one "
            "bias per image: give a single value)"
        )
    return float(vals[0])


def _convert(keras_model: Any, height: int, width: int, channels: int, profile: TargetProfile,
             labels: list[str] | None, mean: float, std: float) -> Any:  # fmt: skip
    import tensorflow as tf

    ct = require("coremltools", "Core ML export")

    mobile = profile.mobile
    spec = tf.TensorSpec((1, height, width, channels), tf.float32, name="image")
    function = tf.function(lambda image: keras_model(image, training=False))
    concrete = function.get_concrete_function(spec)
    layout = ct.colorlayout.RGB if channels == 3 else ct.colorlayout.GRAYSCALE
    bias: Any = [-mean / std] * 3 if channels == 3 else -mean / std
    image = ct.ImageType(
        name="image", shape=(1, height, width, channels), scale=1.0 / std, bias=bias,
        color_layout=layout,
    )  # fmt: skip
    precision = (
        ct.precision.FLOAT16 if mobile.coreml_precision != "float32" else ct.precision.FLOAT32
    )
    kwargs: dict[str, Any] = {}
    if labels:
        kwargs["classifier_config"] = ct.ClassifierConfig(labels)
    mlmodel = ct.convert(
        [concrete],
        source="tensorflow",
        inputs=[image],
        convert_to="mlprogram",
        compute_precision=precision,
        minimum_deployment_target=getattr(ct.target, mobile.coreml_deployment_target or "iOS15"),
        **kwargs,
    )
    if labels:  # a classifier: classLabel and classLabel_probs, named by coremltools
        return mlmodel
    spec = mlmodel.get_spec()  # the traced output is called "Identity": name it
    ct.utils.rename_feature(spec, spec.description.output[0].name, "scores")
    return ct.models.MLModel(spec, weights_dir=mlmodel.weights_dir, skip_model_load=True)


def inspect_spec(path: str | Path) -> dict[str, Any]:
    """Read an ``.mlpackage``'s spec without running it: input, outputs, ops, weight types."""
    ct = require("coremltools", "Reading a Core ML package")
    from coremltools.proto import MIL_pb2

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise ExportError(f"{path} is not an ML Program (got {spec.WhichOneof('Type')})")
    first = spec.description.input[0]
    kind = first.type.WhichOneof("Type")
    input_info: dict[str, Any] = {"name": first.name, "type": kind}
    if kind == "imageType":
        color = ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(
            first.type.imageType.colorSpace
        )
        input_info.update(
            width=first.type.imageType.width, height=first.type.imageType.height, color=color
        )
    ops: Counter[str] = Counter()
    weights: Counter[str] = Counter()
    dtype_name = MIL_pb2.DataType.Name
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                if op.type == "const" and "val" in op.attributes:
                    t = op.attributes["val"].type
                    if t.WhichOneof("type") == "tensorType" and list(t.tensorType.dimensions):
                        weights[dtype_name(t.tensorType.dataType).lower()] += 1
    return {
        "spec_version": spec.specificationVersion,
        "input": input_info,
        "outputs": [o.name for o in spec.description.output],
        "op_counts": dict(sorted(ops.items())),
        "weights": dict(sorted(weights.items())),
    }


def export_coreml(
    model: Any,
    output: str | Path,
    profile: TargetProfile,
    labels: str | Path | None = None,
    mean: float | tuple[float, ...] = 0.0,
    std: float | tuple[float, ...] = 255.0,
) -> CoreMLResult:
    """See :func:`edgesdk.export_coreml`."""
    from edgesdk.core.fileio import check_out_dir, publish_dir

    if profile.mobile is None or profile.mobile.model_format != "mlpackage":
        raise ConfigError(
            f"Invalid target {profile.name} for Core ML export (must be a Core ML profile such "
            "as ios-coreml)",
            what="target",
            value=profile.name,
        )
    out = Path(output).expanduser().absolute()
    if out.suffix != ".mlpackage":
        raise ConfigError(f"Invalid output {out.name} (a Core ML package ends in .mlpackage)")
    check_out_dir(out, force=False)
    mean_v, std_v = _one(mean, "mean"), _one(std, "std")
    if std_v == 0:
        raise ConfigError("Invalid std=0 (must be non-zero)")
    keras_model, what = _keras_model(model)
    shape = tuple(keras_model.inputs[0].shape)
    out_shape = tuple(keras_model.outputs[0].shape)
    if (
        len(keras_model.inputs) != 1
        or len(shape) != 4
        or shape[3] not in (1, 3)
        or None in shape[1:]
    ):
        raise ExportError(
            f"Not an image classifier: {what} has input shape {list(shape)} (expected one "
            "[batch, height, width, 1 or 3] input; only image classifiers are exported so far)"
        )
    if len(keras_model.outputs) != 1 or len(out_shape) != 2:
        raise ExportError(
            f"Not an image classifier: {what} has output shape {list(out_shape)} (expected "
            "[batch, classes])"
        )
    label_list = None
    if labels is not None:
        from edgesdk.mobile.rules import read_labels

        label_list = list(read_labels(labels, int(out_shape[1])))
    try:
        mlmodel = _convert(keras_model, shape[1], shape[2], shape[3], profile, label_list,
                           mean_v, std_v)  # fmt: skip
    except Exception as e:  # noqa: BLE001 - coremltools raises many types; wrapped once here
        raise ExportError(f"Core ML conversion of {what} failed: {type(e).__name__}: {e}") from e
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        mlmodel.save(str(tmp / out.name))
        spec = inspect_spec(tmp / out.name)
        publish_dir(tmp / out.name, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CoreMLResult(
        model=what,
        output=str(out),
        target=profile.name,
        deployment_target=profile.mobile.coreml_deployment_target or "iOS15",
        precision=profile.mobile.coreml_precision or "float16",
        spec_version=spec["spec_version"],
        input=spec["input"],
        outputs=tuple(spec["outputs"]),
        op_counts=spec["op_counts"],
        weights=spec["weights"],
        labels_count=len(label_list or ()),
    )

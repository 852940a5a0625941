"""Moves models between Keras 3 and tf_keras (which tfmot needs) by rebuilding and copying.

Only for use in a worker started with ``TF_USE_LEGACY_KERAS=1``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np

from edgesdk.errors import ModelError

log = logging.getLogger(__name__)

_BASE_KEYS = {"name", "trainable", "dtype"}
_DROPPED = ("_initializer",)  # weights are copied, so initializers never matter


def _plain(value: Any, layer: str, key: str) -> Any:
    """A Keras 3 config value as tf_keras accepts it."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] in ("DTypePolicy", "FloatDTypePolicy"):
            return value["config"]["name"]
        return {"class_name": value["class_name"], "config": value["config"]}
    if isinstance(value, list):
        return [_plain(v, layer, key) for v in value]
    return value


def _tf_keras_layer(layer: Any) -> Any:
    import tf_keras

    cls_name = type(layer).__name__
    cls = getattr(tf_keras.layers, cls_name, None)
    if cls is None:
        raise ModelError(
            f"Layer {layer.name!r} ({cls_name}) has no tf_keras equivalent, so tfmot cannot "
            "work on this model (expected built-in Keras layers)"
        )
    accepted = set(inspect.signature(cls.__init__).parameters) | _BASE_KEYS
    config = {}
    for key, value in layer.get_config().items():
        if key.endswith(_DROPPED) or key not in accepted:
            if key not in accepted and value not in (None, False, 0, {}, []):
                log.debug("dropping %s=%r of layer %s for tf_keras", key, value, layer.name)
            continue
        config[key] = _plain(value, layer.name, key)
    try:
        return cls.from_config(config)
    except (TypeError, ValueError) as e:
        raise ModelError(
            f"Layer {layer.name!r} ({cls_name}) cannot be rebuilt in tf_keras: {e}"
        ) from e


def to_tf_keras(model: Any) -> Any:
    """Rebuild a Keras 3 functional or Sequential model in tf_keras with the same weights (a
    model already in tf_keras, loaded from a legacy file, is cloned)."""
    import keras
    import tensorflow as tf
    import tf_keras

    if isinstance(model, tf_keras.Model):
        clone = tf_keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        return clone

    tensors: dict[int, Any] = {}
    inputs = []
    for t in model.inputs:
        new = tf_keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=t.name.split(":")[0])
        tensors[id(t)] = new
        inputs.append(new)

    def mapped(x: Any) -> Any:
        if isinstance(x, keras.KerasTensor):
            if id(x) not in tensors:
                raise KeyError(x.name)
            return tensors[id(x)]
        return x

    built = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        new_layer = _tf_keras_layer(layer)
        built[layer.name] = (layer, new_layer)
        for node in layer._inbound_nodes:
            try:
                args = keras.tree.map_structure(mapped, node.arguments.args)
                kwargs = keras.tree.map_structure(mapped, node.arguments.kwargs)
            except KeyError:
                continue  # a node of another model sharing this layer
            outs = new_layer(*args, **kwargs)
            flat_new = tf.nest.flatten(outs)
            for old, new in zip(node.output_tensors, flat_new, strict=True):
                tensors[id(old)] = new
    outputs = [tensors[id(t)] for t in model.outputs]
    rebuilt = tf_keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for layer, new_layer in built.values():
        new_layer.set_weights(layer.get_weights())
    return rebuilt


def copy_weights_by_name(source: Any, target: Any) -> None:
    """Copy weights layer by layer (matched by name) from ``source`` into ``target``.

    Raises:
        ModelError: a layer of ``target`` with weights has no counterpart of the same shapes.
    """
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        other = by_name.get(layer.name)
        theirs = other.get_weights() if other is not None else None
        if theirs is None or [w.shape for w in theirs] != [w.shape for w in weights]:
            raise ModelError(
                f"Layer {layer.name!r} changed shape during compression; cannot copy it back"
            )
        layer.set_weights(theirs)


def max_output_difference(a: Any, b: Any, sample: list[np.ndarray]) -> float:
    """Largest absolute difference between two models' outputs on the same inputs."""
    feed = sample if len(sample) > 1 else sample[0]
    out_a = a(feed, training=False)
    out_b = b(feed, training=False)
    flat_a = out_a if isinstance(out_a, (list, tuple)) else [out_a]
    flat_b = out_b if isinstance(out_b, (list, tuple)) else [out_b]
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
        for x, y in zip(flat_a, flat_b, strict=True)
    )

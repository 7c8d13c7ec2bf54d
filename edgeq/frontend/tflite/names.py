"""What the converter's tensor names say about the Keras model: the layer an op came from.

The TFLite converter names an op's output tensor after the TensorFlow name scopes it was traced in:
``<model scope>/<layer scope>/.../<TF op>``, e.g. ``functional_6_1/maximum_1/Maximum``; an op that fused
several (a convolution with its BatchNorm and ReLU) joins their names with ``;``, the last one traced (the
activation) first. Keras 3 enters every scope with a ``_1`` suffix when it exports (the model's own
``functional_6`` becomes ``functional_6_1``), so the scope of a layer named ``maximum`` is ``maximum_1``;
:func:`keras_layer` undoes that when it is given the model's layer names. A model output is named after
the serving signature instead (``StatefulPartitionedCall_1:0``): its layer is known only from the Keras
model (:class:`KerasNames`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import NamedTuple

_EXPORT_SUFFIX = re.compile(r"_\d+$")


class KerasNames(NamedTuple):
    """What a Keras model says about its layers: their names, and the layer making each output (in order)."""

    layers: frozenset[str] = frozenset()
    outputs: tuple[str, ...] = ()


def keras_names(model) -> KerasNames:
    """The :class:`KerasNames` of a Keras model."""
    return KerasNames(frozenset(layer.name for layer in model.layers),
                      tuple(t._keras_history.operation.name for t in model.outputs))


def keras_layer(tensor_name: str, layer_names: Collection[str] = (), output_layer: str | None = None) -> str | None:
    """The Keras layer scope of an op's output ``tensor_name`` (the scope under the model's, or the first
    scope of a two-part name), None when the name has no scope (a converter-made tensor such as
    ``tfl.dequantize``, a model input). With ``layer_names`` (the Keras model's), the scope is mapped to
    the layer it names: the first scope that is one of them, as it is or without its export suffix (the
    scope under the model's when none is). ``output_layer``: the layer making this tensor when it is a model
    output (whose name has no scope)."""
    parts = tensor_name.split(";")[0].split("/")
    if len(parts) < 2 or not all(parts):
        return output_layer
    for scope in parts[:-1] if layer_names else ():
        for name in (scope, _EXPORT_SUFFIX.sub("", scope)):
            if name in layer_names:
                return name
    return parts[1] if len(parts) >= 3 else parts[0]

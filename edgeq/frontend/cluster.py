"""k-means clustered weights (``--clusters K``, issue 12 §2): non-uniform quantization with a small codebook.

:func:`cluster_model` returns a copy of a Keras model whose Conv2D, DepthwiseConv2D and Dense kernels hold at
most K distinct float values per layer (or per output channel with ``per_channel``): scikit-learn's KMeans
(seeded, k-means++ with several restarts) on the kernel's values, each value replaced by its centroid.
The copy is then quantized as usual (int8 or int16x8, per-channel int8 weights): a per-channel scale maps a
channel's at most K floats to at most K int8 values, so LiteRT's reference on that model is the ground truth.

The quantized model is marked (:func:`mark_clustered`: a metadata entry "edgeq_clusters" holding K, which
LiteRT ignores): the int8 lowerings store a filter with at most 16 values per output channel as 2- to 4-bit
indices into int8 codebooks wherever that takes fewer bytes, and in a marked model also one with up to 128
(5- to 7-bit indices; edgeq.passes.lower.int8.conv.cb_most); the int16 lowering (edgeq.passes.lower.int16.conv)
likewise for its ``_cb`` kernels. K > 128 stays int8.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.runtime import import_keras
from edgeq.frontend.tflite.reader import CLUSTERS_METADATA

if TYPE_CHECKING:  # qat.py (which load.py imports) clusters its layers with this module
    from edgeq.frontend.load import LoadedModel

K_MIN, K_MAX = 2, 256
CLUSTERED_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense", "Conv1D")


def check_clusters(k: int) -> int:
    """``k`` if it is a valid ``--clusters`` value, else an EdgeqError."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not K_MIN <= int(k) <= K_MAX:
        raise EdgeqError(f"--clusters {k!r} is out of range", detail=[f"K is the number of weight values per layer "
                                                                      f"(or channel), from {K_MIN} to {K_MAX}"],
                         hint="16 gives 4-bit indices (half the flash of int8); 256 is plain int8")
    return int(k)


FIT_SAMPLE = 1 << 17  # k-means is fitted on at most this many of a layer's values (seeded), then applied to all


def kmeans_codebook(values: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k-means of ``values``: the centroids (at most ``k``, float32; fewer distinct inputs are their own
    centroids) and each value's index into them (int32, the shape of ``values``). Large layers are fitted on a
    seeded sample of FIT_SAMPLE values, then every value is assigned to its nearest centroid."""
    from sklearn.cluster import KMeans

    flat = np.asarray(values, np.float64).reshape(-1, 1)
    distinct, inverse = np.unique(flat, return_inverse=True)
    if distinct.size <= k:
        return distinct.astype(np.float32), inverse.reshape(np.shape(values)).astype(np.int32)
    fit = flat
    if flat.shape[0] > FIT_SAMPLE:
        fit = flat[np.random.default_rng(seed).choice(flat.shape[0], FIT_SAMPLE, replace=False)]
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(fit)
    labels = km.labels_ if fit is flat else km.predict(flat)
    return km.cluster_centers_[:, 0].astype(np.float32), labels.reshape(np.shape(values)).astype(np.int32)


def kmeans_values(values: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """``values`` with each replaced by its nearest k-means centroid (:func:`kmeans_codebook`; at most ``k``
    distinct values, fewer distinct inputs kept as they are)."""
    if np.unique(values).size <= k:
        return np.asarray(values).copy()
    centers, labels = kmeans_codebook(values, k, seed)
    return centers.astype(np.float64)[labels].astype(np.asarray(values).dtype)


def cluster_kernel(kernel: np.ndarray, k: int, *, per_channel: bool = False, seed: int = 0) -> np.ndarray:
    """A layer's kernel with at most ``k`` values in all (or in each output channel: the last axis, the last
    two for a DepthwiseConv2D's [kh, kw, in, multiplier] kernel flattened by the caller)."""
    if not per_channel:
        return kmeans_values(kernel, k, seed)
    out = np.empty_like(kernel)
    for c in range(kernel.shape[-1]):
        out[..., c] = kmeans_values(kernel[..., c], k, seed)
    return out


def cluster_model(model: Any, k: int, *, per_channel: bool = False, seed: int = 0) -> Any:
    """A copy of the Keras ``model`` with every Conv2D / DepthwiseConv2D / Dense / Conv1D kernel clustered to
    at most ``k`` values per layer (per output channel with ``per_channel``); biases and other weights as
    they are. An EdgeqError for ``k`` out of range or a model without such layers."""
    k = check_clusters(k)
    keras = import_keras()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    done = 0
    for layer in clone._flatten_layers(include_self=False) if hasattr(clone, "_flatten_layers") else clone.layers:
        if type(layer).__name__ not in CLUSTERED_LAYERS or not hasattr(layer, "kernel"):
            continue
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel))
        if type(layer).__name__ == "DepthwiseConv2D" and per_channel:
            shape = kernel.shape
            kernel = cluster_kernel(kernel.reshape(*shape[:2], -1), k, per_channel=True, seed=seed).reshape(shape)
        else:
            kernel = cluster_kernel(kernel, k, per_channel=per_channel, seed=seed)
        layer.kernel.assign(kernel)
        done += 1
    if not done:
        raise EdgeqError(f"{getattr(model, 'name', 'the model')} has no layer to cluster",
                         detail=[f"--clusters clusters the kernels of {', '.join(CLUSTERED_LAYERS)}"],
                         hint="leave out --clusters")
    return clone


def cluster_loaded(loaded: LoadedModel, k: int, *, per_channel: bool = False, seed: int = 0) -> LoadedModel:
    """``loaded`` with its Keras model clustered (:func:`cluster_model`), to quantize as usual; an EdgeqError
    for a model that is not a Keras model (clustering changes the float weights)."""
    check_clusters(k)
    if loaded.keras_model is None:
        raise EdgeqError(f"--clusters needs the Keras model; {loaded.path} is a {loaded.kind} model",
                         hint="pass the .keras / .h5 model it came from")
    return dataclasses.replace(loaded, keras_model=cluster_model(loaded.keras_model, k, per_channel=per_channel,
                                                                 seed=seed))


def mark_clustered(model: bytes, k: int, per_channel: bool) -> bytes:
    """The .tflite ``model`` with the metadata entry that says edgeq clustered it to at most ``k`` values per
    layer (per output channel with ``per_channel``): edgeq.frontend.tflite.reader.CLUSTERS_METADATA, the JSON
    ``{"clusters": k, "per_channel": per_channel}`` in a buffer of its own; an earlier such entry is replaced.
    Tensors, ops and every other metadata entry are kept; LiteRT ignores metadata it does not know."""
    import json

    import flatbuffers  # the flatbuffer writer and the schema come with TensorFlow
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps({"clusters": int(k), "per_channel": bool(per_channel)}).encode(), np.uint8)
    m.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name, entry.buffer = CLUSTERS_METADATA, len(m.buffers) - 1
    m.metadata = [md for md in (m.metadata or []) if md.name not in (CLUSTERS_METADATA, CLUSTERS_METADATA.encode())]
    m.metadata.append(entry)
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())

"""Checks on a loaded Keras model's weights before anything converts them.

A NaN or infinite weight (a diverged training run, a broken export) otherwise reaches the TFLite converter,
which leaves the layer in float (NaN) or writes an infinite quantization scale (Inf): the user then read "the
converter did not fully quantize" or "a corrupt or truncated TFLite file", about a file that is neither.
"""

from __future__ import annotations

import numpy as np

from edgeq.errors import EdgeqError


def check_finite_weights(keras_model, source: str) -> None:
    """Raise one EdgeqError naming every layer whose weights hold NaN or Inf (with the first position)."""
    bad = []
    for layer in keras_model.layers:
        for var in layer.weights:
            w = np.asarray(var.numpy() if hasattr(var, "numpy") else var)
            if not np.issubdtype(w.dtype, np.floating):
                continue
            nonfinite = ~np.isfinite(w)
            if nonfinite.any():
                where = tuple(int(i) for i in np.argwhere(nonfinite)[0])
                kinds = "/".join(k for k, f in (("NaN", np.isnan), ("Inf", np.isinf)) if f(w).any())
                bad.append(f"layer '{layer.name}' weight '{var.path if hasattr(var, 'path') else var.name}': "
                           f"{int(nonfinite.sum())} {kinds} value(s) of {w.size}, the first at {list(where)}")
    if bad:
        raise EdgeqError(f"{source} has non-finite weights: {bad[0]}", detail=[f"also {b}" for b in bad[1:]],
                         hint="the training diverged or the export is broken: retrain (lower learning rate, "
                              "gradient clipping) or re-export the model; NaN and Inf cannot be quantized")

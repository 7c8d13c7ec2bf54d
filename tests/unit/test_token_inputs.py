"""int32 token-id inputs (Embedding models, issue 14): `--calib random` and `validate` with random inputs draw
valid ids (0 .. vocabulary-1, from the Embedding layer or the .tflite's GATHER table), not floats or the
whole int32 range."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from paths import REPO
from edgeq.frontend.data import load_calibration, loaded_inputs, tflite_inputs
from edgeq.frontend.load import load_model

VOCAB, VOCAB2, LENGTH = 37, 11, 9


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    """Two token inputs (vocabularies 37 and 11) and a float input; Embeddings, pooling, dense."""
    import keras

    keras.utils.set_random_seed(0)
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    tags = keras.Input((4,), dtype="int32", name="tags")
    feat = keras.Input((3,), name="feat")
    a = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCAB, 8)(ids))
    b = keras.layers.GlobalMaxPooling1D()(keras.layers.Embedding(VOCAB2, 4)(tags))
    out = keras.layers.Dense(3)(keras.layers.Concatenate()([a, b, feat]))
    path = tmp_path_factory.mktemp("tokens") / "text.keras"
    keras.Model([ids, tags, feat], out).save(path)
    return path


def test_keras_embedding_inputs_get_their_vocabulary(text_model):
    specs = loaded_inputs(load_model(text_model))
    assert [(s.name, s.vocab) for s in specs] == [("ids", VOCAB), ("tags", VOCAB2), ("feat", None)]


def test_random_calibration_draws_valid_ids(text_model):
    cal = load_calibration("random", loaded_inputs(load_model(text_model)), random_range=(-5.0, 5.0),
                           random_count=200)
    ids, tags, feat = cal.inputs
    assert ids.dtype == np.int32 and ids.min() == 0 and ids.max() == VOCAB - 1
    assert tags.dtype == np.int32 and tags.min() == 0 and tags.max() == VOCAB2 - 1
    assert feat.dtype == np.float32 and feat.min() < -4 and feat.max() > 4  # the range still applies to floats
    assert "'ids' token ids in 0..36" in cal.warning


@pytest.fixture(scope="module")
def text_tflite(text_model):
    from edgeq.flows.quantize import quantize_model

    return quantize_model(text_model, "random", random_count=16).tflite


def test_tflite_gather_gives_the_vocabulary(text_tflite):
    """The converter wraps negative ids (LESS / ADD / SELECT) before the GATHER: the table is found through them."""
    from edgeq.frontend.tflite.reader import read_tflite

    kinds = {op.kind for op in read_tflite(text_tflite).ops}
    assert {"GATHER", "LESS", "SELECT"} <= kinds or {"GATHER", "LESS", "SELECT_V2"} <= kinds
    vocab = {s.name.split("_")[-1].split(":")[0]: s.vocab for s in tflite_inputs(text_tflite)}
    assert vocab == {"ids": VOCAB, "tags": VOCAB2, "feat": None}


def test_validate_random_inputs_are_valid_ids_and_bit_exact(text_tflite):
    from edgeq.quality.validate import model_inputs, validate

    specs = tflite_inputs(text_tflite)
    samples = model_inputs(text_tflite, None, 50)
    for i, s in enumerate(specs):
        x = np.concatenate([sample[i] for sample in samples])
        if s.vocab is not None:
            assert x.dtype == np.int32 and x.min() == 0 and x.max() == s.vocab - 1, (s.name, x.min(), x.max())
    # LiteRT runs the model on them (an id out of range would stop its GATHER), and the generated C on the
    # host gives the same bytes (TFLM registers no SELECT: LiteRT only)
    assert validate(text_tflite, name="text", samples=5).samples == 5
    sys.path.insert(0, str(REPO / "tests" / "kernels"))
    from harness import compare

    cmp = compare(text_tflite, samples[:8], "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)


def test_analyze_feeds_token_ids_as_values(text_model):
    """The per-layer analysis runs the models as float models (FloatLiteRT): an int32 token input has no
    quantization (scale 0), so the ids go in as they are, not divided by a zero scale (which ended in
    "internal error: ... gather index out of bounds", found by the command sweep)."""
    from edgeq.quality.sensitivity import analyze

    res = analyze(text_model, "random", samples=4, random_count=16)
    assert res.samples == 4 and res.ranking and {r["kind"] for r in res.layers} >= {"GATHER", "FULLY_CONNECTED"}

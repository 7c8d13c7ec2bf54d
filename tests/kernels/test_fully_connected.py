import keras
import pytest

from harness import assert_bit_exact


@pytest.mark.parametrize("units,in_f,act,bias", [
    (10, 16, None, True), (7, 33, "relu", True), (64, 40, "relu6", False), (1, 5, None, True),
    (100, 16, "tanh", True),
])
def test_dense(units, in_f, act, bias):
    inp = keras.Input((in_f,), batch_size=1)
    out = keras.layers.Dense(units, activation=act if act != "tanh" else None, use_bias=bias)(inp)
    m = keras.Model(inp, out)
    assert_bit_exact(m, expect_ops={"FULLY_CONNECTED"})


@pytest.mark.parametrize("per_channel", [True, False])
def test_dense_on_rank3_input(per_channel):
    inp = keras.Input((4, 12), batch_size=1)
    m = keras.Model(inp, keras.layers.Dense(9, activation="relu")(inp))
    assert_bit_exact(m, expect_ops={"FULLY_CONNECTED"}, per_channel=per_channel)


# --- the row-pair kernel's edges: input tails, rows not a multiple of four, chunking, -128 weights --------

@pytest.mark.parametrize("units,in_f", [(5, 1030), (3, 3), (6, 517), (2, 4), (9, 7)])
def test_dense_odd_shapes_and_long_rows(units, in_f):
    inp = keras.Input((in_f,), batch_size=1)
    m = keras.Model(inp, keras.layers.Dense(units, activation="relu")(inp))
    assert_bit_exact(m, expect_ops={"FULLY_CONNECTED"}, n=8)


def _fc_model(w, x_zp, out_scale, bias=None, w_scale=0.01, x_scale=0.05, act=0):
    """A one-op FULLY_CONNECTED model; ``act``: the fused ActivationFunctionType (1 RELU, 3 RELU6)."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as s

    from harness import build_tflite

    out_f, in_f = w.shape
    opts = s.FullyConnectedOptionsT()
    opts.fusedActivationFunction = act
    tensors = [
        {"shape": [1, in_f], "dtype": "int8", "scale": x_scale, "zero_point": x_zp},
        {"shape": [out_f, in_f], "dtype": "int8", "scale": w_scale, "zero_point": 0, "data": w},
        {"shape": [out_f], "dtype": "int32", "scale": x_scale * w_scale, "zero_point": 0,
         "data": np.zeros(out_f, np.int32) if bias is None else bias},
        {"shape": [1, out_f], "dtype": "int8", "scale": out_scale, "zero_point": 3},
    ]
    return build_tflite(tensors, [("FULLY_CONNECTED", [0, 1, 2], [3], opts)], [0], [3])


def _check(tfl, inputs):
    from harness import compare

    for r in ("litert", "tflm"):
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact, f"[{r}] {cmp.mismatched_bytes}/{cmp.total_bytes} bytes differ"


@pytest.mark.parametrize("out_f,in_f", [(7, 1030), (4, 13), (1, 600)])
def test_weights_with_minus_128(out_f, in_f):
    """Full int8 range weights (not TFLite's symmetric [-127, 127]): the sparse row-pairing path."""
    import numpy as np

    from harness import random_inputs

    rng = np.random.default_rng(out_f * 1000 + in_f)
    w = rng.integers(-128, 128, (out_f, in_f), dtype=np.int8)
    w[0, :3] = -128
    tfl = _fc_model(w, x_zp=-5, out_scale=0.05 * 0.01 * 30 * np.sqrt(in_f),
                    bias=rng.integers(-5000, 5000, out_f).astype(np.int32))
    _check(tfl, random_inputs(tfl, 8))


@pytest.mark.parametrize("in_f", [515, 516, 1030, 2051])
def test_extreme_accumulators(in_f):
    """|x * w| at its maximum on every input, over row pairs and chunk boundaries."""
    import numpy as np

    out_f = 6
    w = np.full((out_f, in_f), 127, np.int8)
    w[1::2] = -127
    w[2, ::3] = -127
    w[5, :] = 127
    big = 128 * 127 * in_f * 0.05 * 0.01
    tfl = _fc_model(w, x_zp=0, out_scale=big / 100)
    xs = [np.full((1, in_f), v, np.int8) for v in (-128, 127)]
    alt = np.full((1, in_f), -128, np.int8)
    alt[0, 1::2] = 127
    xs.append(alt)
    _check(tfl, [[x] for x in xs])


def _bound_rows(in_f: int):
    """Eight rows of +-127 (high rows, 0, 2, ..., negative) but for 17 small values each (more than 16
    distinct values: not clustered, so the row-pair kernel runs, not the codebook one)."""
    import numpy as np

    w = np.full((8, in_f), 127, np.int8)
    w[:, :17] = np.arange(1, 18)
    w[0::2] = -w[0::2]
    return w


def test_one_chunk_up_to_the_overflow_bound():
    """fc_chunk: the pair sums are separated once per row when 128 * sum|w_r| of every high row (rows 0, 2,
    ...) stays below 2^23, else every 128 steps; near the bound (sum|w| = 64,034 of 65,536, inputs of
    -128) 256 * A_r is 2^31 - 2^27 or so, still exact."""
    import numpy as np

    from edgeq.passes.lower.int8.fully_connected import FC_CHUNK, fc_chunk

    for in_f, chunk in ((520, 130), (540, FC_CHUNK)):
        w = _bound_rows(in_f)
        assert fc_chunk(w) == chunk
        tfl = _fc_model(w, x_zp=0, out_scale=128 * 127 * in_f * 0.05 * 0.01 / 100)
        _check(tfl, [[np.full((1, in_f), v, np.int8)] for v in (-128, 127, -1)])
    w = np.zeros((8, 516), np.int8)
    w[1::2] = -127  # low rows do not limit the chunk
    assert fc_chunk(np.concatenate([w, w], axis=1)) == 258

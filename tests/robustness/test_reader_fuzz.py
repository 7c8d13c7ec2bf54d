"""Fuzz the TFLite reader (and the passes behind it) with mutations of real model bytes.

Seeds: the MLPerf Tiny int8 models from ../shared (ResNet-8, DS-CNN KWS, the anomaly-detection autoencoder)
and two small models made here (a converted Keras conv net, a hand-built flatbuffer). Mutations: bit flips,
byte overwrites, truncations, splices (a run of bytes copied from another offset or another model),
insertions / deletions, and rewrites of 32-bit offsets (set to a random value or moved by a small multiple
of 4). On the big models, mutations land in the flatbuffer tables and vectors, not inside weight buffers
(where nearly every flip is harmless). A mutated file may parse or be refused, but the reader may raise
nothing except :class:`EdgeqError`; a graph that parses goes through the passes (lower, schedule, memory
plan), which may raise nothing else either.

The run is derandomized (same examples every time) and bounded: ``EDGEQ_FUZZ_EXAMPLES`` (default 2000);
``EDGEQ_FUZZ_SEED=N`` runs a different, seeded sequence.
The number of examples run is checked at the end (docs/reliability.md quotes it).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from paths import MLPERF
from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import _Buf, _Table, read_tflite
from edgeq.passes.pipeline import compile_graph
from edgeq.passes.lower.registry import LowerCtx
from edgeq.files import cache_dir

EXAMPLES = int(os.environ.get("EDGEQ_FUZZ_EXAMPLES", "2000"))
SEED = os.environ.get("EDGEQ_FUZZ_SEED")  # set for a longer, different run; unset: derandomized (CI)
STATS = {"examples": 0, "parsed": 0, "lowered": 0, "refused_by_reader": 0, "refused_by_passes": 0}


def _weight_regions(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every weight buffer's bytes, found with the reader's own table decoder."""
    b = _Buf(data)
    model = _Table(b, b.u32(0))
    regions = []
    for buf in model.tables(4):
        p = buf._indirect(0)
        if p is not None:
            n = b.u32(p)
            if n > 64:
                regions.append((p + 4, p + 4 + n))
    return regions


def _structural_positions(data: bytes) -> np.ndarray:
    mask = np.ones(len(data), bool)
    for s, e in _weight_regions(data):
        mask[s:e] = False
    return np.flatnonzero(mask)


def _small_models() -> dict[str, bytes]:
    import keras

    from kernels.harness import build_tflite, int8_tflite

    inp = keras.Input((8, 8, 2), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3)(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    q = {"scale": 0.05, "zero_point": -3}
    hand = build_tflite(
        [dict(shape=[1, 8], dtype="int8", name="x", **q), dict(shape=[4, 8], dtype="int8", name="w", scale=0.02,
                                                                data=np.arange(32, dtype=np.int8)),
         dict(shape=[4], dtype="int32", name="b", scale=0.001, data=np.arange(4, dtype=np.int32)),
         dict(shape=[1, 4], dtype="int8", name="y", **q), dict(shape=[1, 4], dtype="int8", name="z", **q)],
        [("FULLY_CONNECTED", [0, 1, 2], [3], None), ("RELU", [3], [4], None)], inputs=[0], outputs=[4])
    cached = cache_dir() / "fuzz" / "small_cnn_v1.tflite"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(int8_tflite(keras.Model(inp, out)))
        tmp.replace(cached)
    return {"small_cnn": cached.read_bytes(), "hand_fc": hand}


@pytest.fixture(scope="module")
def seeds():
    models = {p.stem: p.read_bytes() for p in sorted(MLPERF.glob("*_int8.tflite"))}
    models.update(_small_models())
    for name, data in models.items():  # every seed is a valid model the passes accept
        compile_graph(read_tflite(data, name=name), LowerCtx())
    return {name: (data, _structural_positions(data)) for name, data in models.items()}


MUTATION = st.tuples(
    st.sampled_from(["flip", "byte", "truncate", "splice", "insert", "delete", "offset", "offset_delta"]),
    st.integers(0, 2**31 - 1),  # position (index into the structural positions)
    st.integers(0, 2**32 - 1),  # value
    st.integers(1, 64),  # length
)


def mutate(data: bytes, positions: np.ndarray, other: bytes, muts) -> bytes:
    buf = bytearray(data)
    for kind, pos, value, length in muts:
        if not buf:
            break
        p = int(positions[pos % len(positions)]) if len(positions) and len(buf) == len(data) else pos % len(buf)
        p = min(p, len(buf) - 1)
        if kind == "flip":
            buf[p] ^= 1 << (value % 8)
        elif kind == "byte":
            buf[p] = value & 0xFF
        elif kind == "truncate":
            del buf[p:]
        elif kind == "splice":
            src = value % max(1, len(other) - length)
            buf[p : p + length] = other[src : src + length]
        elif kind == "insert":
            buf[p:p] = value.to_bytes(4, "little") * (length // 4 + 1)
        elif kind == "delete":
            del buf[p : p + length]
        else:  # a 32-bit little-endian word, read as an offset, rewritten
            p -= p % 4
            if p + 4 > len(buf):
                continue
            old = int.from_bytes(buf[p : p + 4], "little")
            new = value if kind == "offset" else old + 4 * ((value % 33) - 16)
            buf[p : p + 4] = (new % 2**32).to_bytes(4, "little")
    return bytes(buf)


def test_reader_and_passes_raise_only_edgeq_errors(seeds):
    names = sorted(seeds)

    @settings(max_examples=EXAMPLES, derandomize=SEED is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @seed(int(SEED or 0))
    @given(st.sampled_from(names), st.sampled_from(names), st.lists(MUTATION, min_size=1, max_size=4))
    def one(name, other, muts):
        STATS["examples"] += 1
        data, positions = seeds[name]
        fuzzed = mutate(data, positions, seeds[other][0], muts)
        try:
            g = read_tflite(fuzzed, name="fuzzed")
        except EdgeqError:
            STATS["refused_by_reader"] += 1
            return
        STATS["parsed"] += 1
        try:
            compile_graph(g, LowerCtx())
        except EdgeqError:
            STATS["refused_by_passes"] += 1
            return
        STATS["lowered"] += 1

    one()
    print("reader fuzz:", STATS)
    assert STATS["examples"] >= EXAMPLES * 0.95  # hypothesis ran the whole budget
    assert STATS["refused_by_reader"] > EXAMPLES // 10 and STATS["parsed"] > EXAMPLES // 10  # both paths exercised


def test_mutations_are_not_no_ops(seeds):
    """The mutator changes the bytes (else the fuzz test would pass vacuously)."""
    data, positions = seeds["ad01_int8"]
    assert mutate(data, positions, data, [("flip", 5, 3, 1)]) != data
    assert len(mutate(data, positions, data, [("truncate", 7, 0, 1)])) < len(data)
    assert all(not (s <= int(p) < e) for p in positions[::97] for s, e in _weight_regions(data))

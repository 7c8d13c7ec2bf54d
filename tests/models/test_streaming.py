"""Models with state kept across invokes (issue 13): a streaming keyword spotter with explicit state (two
Conv1D ring buffers), Keras ``stateful=True`` LSTM / GRU / SimpleRNN, and a hand-built ring buffer whose new
state is quantized differently from the state input. Each runs 50 frames as one sequence, every frame's
outputs compared byte for byte with LiteRT (and TFLM) run over the same frames with the state fed back:
on the host (generated C in-process), through the bench protocol (the host bench over a pty, with
retries, PROFILE / DUMP inside the sequence and a faulty link) and on the emulated Cortex-M4 (mps2-an386).
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import streaming as S
from edgeq.api import lower_tflite
from edgeq.codegen.emit import generate
from edgeq.errors import EdgeqError
from edgeq.frontend.state import pair_state, parse_state_specs
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.references import LiteRT
from edgeq.quality.validate import SequenceReference, model_inputs, validate
from edgeq.targets import protocol as P
from edgeq.targets.host import HostModel

FRAMES = S.FRAMES
HAVE_QEMU = bool(shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc"))


@pytest.fixture(scope="module")
def kws() -> bytes:
    return S.streaming_kws()


@pytest.fixture(scope="module")
def ring() -> bytes:
    return S.ring_tflite()


def _host(model: bytes, d: Path, state=None) -> HostModel:
    return HostModel(generate(lower_tflite(model, state=state), d))


# --- pairing, memory plan, generated header -------------------------------------------------------------

def test_state_pairs_by_name_by_spec_and_errors(ring, kws):
    g = read_tflite(ring)
    by_name = pair_state(g)
    assert [(p.name, g.tensor(p.input).name, g.tensor(p.output).name) for p in by_name.state] == \
        [("state_0", "state_0", "new_state_0")]
    assert pair_state(g, ("state_0:new_state_0",)).state == by_name.state
    assert pair_state(g, ("1:1",)).state == by_name.state  # positions in the model's inputs / outputs
    assert pair_state(g, parse_state_specs(["none"])).state == ()
    k = pair_state(read_tflite(kws))  # the signature names (Keras input names, dict output keys)
    assert [p.name for p in k.state] == ["state_0", "state_1"]
    for specs, words in [(("nope:new_state_0",), "does not have"), (("state_0:window",), "cannot be fed back"),
                         (("state_0:new_state_0", "state_0:new_state_0"), "already paired")]:
        with pytest.raises(EdgeqError) as e:
            pair_state(g, specs)
        assert words in e.value.what, e.value.what
    with pytest.raises(EdgeqError):
        parse_state_specs(["state_0"])
    # an input named as a state with no output of its shape to feed it
    lonely = dataclasses.replace(g, outputs=(2,))
    with pytest.raises(EdgeqError) as e:
        pair_state(lonely)
    assert "--state state_0:OUTPUT" in e.value.hint


def test_state_lives_outside_the_arena(ring, kws, tmp_path):
    g = lower_tflite(ring)
    assert g.inputs == (0,) and g.outputs == (2,)  # the state pair is no user input or output
    assert g.plan.state == {1: 0} and g.plan.state_size == 16  # 8 bytes, aligned
    assert 1 not in g.plan.offsets  # not in the arena
    feedback = g.ops[-1]
    assert feedback.kind == "QUANTIZE" and feedback.inputs == (7,) and feedback.outputs == (1,)
    table = dict(feedback.lowered.fields)["table"].values
    assert not np.array_equal(table, np.arange(256, dtype=np.uint8))  # 0.07/-5 -> 0.05/3: requantized
    lib = generate(g, tmp_path / "ring")
    h = (lib.dir / "model.h").read_text()
    assert "#define MODEL_STATE_BYTES 16" in h and "#define MODEL_NUM_STATES 1" in h
    assert "void model_reset_state(void);" in h and "#define MODEL_NUM_INPUTS 1" in h
    c = (lib.dir / "model.c").read_text()
    assert "memset(model_state_block + 0, 3, 8);" in c  # reset: the zero point, the real value 0
    k = lower_tflite(kws)
    assert k.plan.state_size == 32 + 32 and len(k.state) == 2


# --- host: generated C vs the references over 50 frames --------------------------------------------------

def _assert_sequence_bit_exact(model: bytes, data=None) -> dict:
    rep = validate(model, c_host=True, samples=FRAMES, data=data)
    assert rep.samples == FRAMES and rep.states
    for mode in ("litert", "tflm"):
        c = rep.c_host[mode]
        assert c.ok and c.bit_exact and c.exact_samples == FRAMES and c.mismatched_bytes == 0, (mode, c.to_json())
    return rep


def _state_matters(model: bytes, d: Path) -> None:
    """The outputs of the sequence are not those of each frame run from the reset state: the comparison
    above would catch state that is not fed back."""
    g = pair_state(read_tflite(model))
    frames = model_inputs(model, None, FRAMES)
    ref = SequenceReference(LiteRT(model), g)
    host = _host(model, d)
    host.reset_state()
    seq = [np.concatenate([o.view(np.uint8) for o in host.run(x)]) for x in frames]
    want = [np.concatenate([o.view(np.uint8) for o in ref.run(x)]) for x in frames]
    assert all(np.array_equal(a, b) for a, b in zip(seq, want))
    alone = []
    for x in frames:
        host.reset_state()
        alone.append(np.concatenate([o.view(np.uint8) for o in host.run(x)]))
    assert sum(not np.array_equal(a, b) for a, b in zip(alone, want)) > FRAMES // 2


def test_streaming_kws_bit_exact_on_host(kws, tmp_path):
    rep = _assert_sequence_bit_exact(kws)
    assert rep.states == ["state_0", "state_1"]
    assert rep.arena["edgeq"]["state"] == 64
    _state_matters(kws, tmp_path)


def test_requantized_ring_bit_exact_on_host(ring, tmp_path):
    _assert_sequence_bit_exact(ring)
    _state_matters(ring, tmp_path)
    # model_reset_state() mid-sequence starts it over: the same outputs as the first frames
    host = _host(ring, tmp_path / "again")
    frames = model_inputs(ring, None, 6)
    first = [host.run(x)[0].tobytes() for x in frames]
    host.reset_state()
    assert [host.run(x)[0].tobytes() for x in frames] == first


def test_first_bad_op_inside_a_sequence(ring, tmp_path):
    """A library whose reset state is wrong (one more than the zero point) is caught in frame 0 and the search
    names the first op reading the state; the intact library has no such op in any frame."""
    from edgeq.quality.validate import sequence_first_mismatch

    g = lower_tflite(ring)
    frames = model_inputs(ring, None, 5)
    good = HostModel(generate(g, tmp_path / "good"))
    assert all(sequence_first_mismatch(g, good, ring, frames, k) is None for k in range(5))
    lib = generate(g, tmp_path / "bad")
    src = (lib.dir / "model.c").read_text()
    assert "memset(model_state_block + 0, 3, 8);" in src
    (lib.dir / "model.c").write_text(src.replace("memset(model_state_block + 0, 3, 8);",
                                                 "memset(model_state_block + 0, 4, 8);"))
    bad = sequence_first_mismatch(g, HostModel(lib), ring, frames, 0)
    assert bad is not None and bad["kind"] == "CONCATENATION" and bad["op"] == 0, bad


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_stateful_rnn_bit_exact_on_host(kind, tmp_path):
    from edgeq.frontend.data import Samples

    model = S.stateful_rnn(kind)
    g = pair_state(read_tflite(model))
    assert [p.name for p in g.state] == (["state_rnn_h", "state_rnn_c"] if kind == "LSTM" else ["state_rnn"])
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in {op.kind for op in g.ops}  # unrolled: its state explicit
    _assert_sequence_bit_exact(model, Samples("frames", [S.rnn_frames()]))
    _state_matters(model, tmp_path)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_explicit_state_rebuild_computes_the_stateful_layer(kind):
    from edgeq.frontend.rnn import rebuild_rnn_model
    from edgeq.frontend.state import keras_state_pairs, sequence_state_samples

    model = S.stateful_keras_model(kind)
    frames = S.rnn_frames(12)
    want = np.concatenate([np.asarray(model(frames[k : k + 1])) for k in range(len(frames))])
    explicit = rebuild_rnn_model(model)
    pairs = keras_state_pairs(explicit)
    assert pairs == [(1, "new_state_rnn_h"), (2, "new_state_rnn_c")] if kind == "LSTM" else [(1, "new_state_rnn")]
    xs = sequence_state_samples(explicit, [frames], pairs)  # the frames, and the states each one read
    got = np.concatenate([np.asarray(explicit([x[k : k + 1] for x in xs])["output_0"]) for k in range(len(frames))])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.array_equal(xs[0], frames) and np.allclose(xs[1][0], 0) and not np.allclose(xs[1][1:], 0)


# --- the bench protocol over a pty: sequences, retries, PROFILE / DUMP inside, a faulty link -------------

@pytest.fixture(scope="module")
def kws_bench(tmp_path_factory, kws):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from test_protocol import BenchProcess, build_host_bench

    exe = build_host_bench(tmp_path_factory.mktemp("kws_bench"), kws)
    b = BenchProcess(exe)
    yield b
    b.close()


def _frames_and_expected(model: bytes, n: int = FRAMES):
    frames = model_inputs(model, None, n)
    ref = SequenceReference(LiteRT(model), pair_state(read_tflite(model)))
    return ([[np.ascontiguousarray(a).tobytes() for a in x] for x in frames],
            [[np.ascontiguousarray(o).tobytes() for o in ref.run(x)] for x in frames])


def test_bench_protocol_runs_a_sequence(kws_bench, kws):
    dev = P.Device(kws_bench.port, timeout=2.0, invoke_timeout=10.0)
    info = dev.hello()
    assert info.state_bytes == 64 and info.input_bytes == (10,) and info.output_bytes == (12,)
    frames, want = _frames_and_expected(kws)
    assert [o for o, _ in dev.run_sequence(frames)] == want
    # again, with retries of frames, PROFILE and DUMP inside the sequence: the same outputs
    g = lower_tflite(kws)
    dev.reset_state()
    for k, x in enumerate(frames):
        outs, _ = dev.infer(x, frame=k)
        assert outs == want[k], k
        if k % 7 == 3:
            assert dev.infer(x, frame=k)[0] == want[k]  # a retried INVOKE runs the frame again, same state
            assert dev.invoke() > 0  # INVOKE without a frame: the current one again
            assert len(dev.profile()) == len(g.ops)
            dev.dump(g.ops[-1].id)  # the feedback call: DUMP of the current frame
    # out of sequence: refused, the sequence unharmed
    with pytest.raises(P.DeviceError) as e:
        dev.link.request(P.Type.INVOKE, struct.pack("<I", len(frames) + 1))
    assert e.value.code == P.ErrorCode.BAD_FRAME
    dev.reset_state()
    assert dev.infer(frames[0], frame=0)[0] == want[0]


def test_bench_sequence_through_a_faulty_link(kws_bench, kws):
    """1% of the bytes hit (flip, drop, duplicate) both ways: every frame's outputs are the reference's
    or the request is refused; a refused frame is run again (INVOKE of the current frame is repeatable),
    so the sequence goes on and is never wrong."""
    from tests.tools.faultproxy import FaultProxy

    frames, want = _frames_and_expected(kws, 20)
    refused = 0
    with FaultProxy(kws_bench.path, to_device=0.01, to_host=0.01, seed=13) as proxy:
        with P.open_device(proxy.port, timeout=0.3, invoke_timeout=1.0, retries=6) as dev:
            for _ in range(5):
                try:
                    dev.hello()
                    dev.reset_state()
                    break
                except EdgeqError:
                    refused += 1
            for k, x in enumerate(frames):
                for _ in range(8):
                    try:
                        outs, _ = dev.infer(x, frame=k)
                    except EdgeqError:
                        refused += 1
                        continue
                    assert outs == want[k], f"WRONG output at frame {k} through a faulty link"
                    break
                else:
                    pytest.fail(f"frame {k} never got through")
            retries = dev.link.stats["retries"]
        faults = proxy.stats["to_device"]["faults"] + proxy.stats["to_host"]["faults"]
    assert faults > 0 and retries > 0  # requests (INVOKEs of frames among them) were really sent again
    print(f"\n20 frames through a 1% faulty link: {faults} faults, {retries} retried requests, {refused} refusals, "
          "none wrong")


# --- mps2-an386 (emulated Cortex-M4): 50 frames on the device vs LiteRT ----------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not HAVE_QEMU, reason="needs qemu-system-arm and arm-none-eabi-gcc")
@pytest.mark.parametrize("which", ["streaming_kws", "stateful_LSTM", "stateful_GRU", "stateful_SimpleRNN"])
def test_sequence_bit_exact_on_mps2_an386(which, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    model = S.streaming_kws() if which == "streaming_kws" else S.stateful_rnn(which.partition("_")[2])
    path = tmp_path / f"{which}.tflite"
    path.write_bytes(model)
    r = convert_and_flash(path, board_name="mps2-an386", runs=3, samples=FRAMES, out_dir=tmp_path / "out")
    rep = r.report
    v, m = rep["validation"], rep["memory"]
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] == FRAMES, v
    assert m["state_bytes"] == lower_tflite(model).plan.state_size > 0
    print(f"\n{which} on mps2-an386: {FRAMES} frames bit-exact, {rep['latency']['median']:.0f} "
          f"{rep['latency']['unit']} per frame, arena {m['arena_bytes']} B, state {m['state_bytes']} B, "
          f"flash {m['flash_bytes']} B, weights {m['weights_bytes']} B, code {m['code_bytes']} B, "
          f"stack {m['stack_bytes']} B")

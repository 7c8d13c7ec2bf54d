"""The range computations of edgeq.frontend.calibrate on hand-computable cases (pure numpy, no TF)."""

import math

import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.frontend import calibrate as K

# --- methods --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [("minmax", "minmax"), ("MSE", "mse"), ("entropy", "entropy"),
                                        ("percentile", "percentile:99.99"), ("percentile:99.9", "percentile:99.9"),
                                        ("percentile:100", "percentile:100")])
def test_parse_method(text, name):
    assert K.parse_method(text).name == name


@pytest.mark.parametrize("text", ["kl", "percentile:0", "percentile:101", "percentile:abc", "mse:3", ""])
def test_parse_method_rejects(text):
    with pytest.raises(EdgeqError) as e:
        K.parse_method(text)
    assert e.value.hint and "percentile:99.9" in e.value.hint


# --- TFLite's int8 activation quantization ----------------------------------------------------------

@pytest.mark.parametrize("lo, hi, scale, zp", [
    (0.0, 1.0, 1 / 255, -128),          # non-negative: zero at QMIN
    (-1.0, 3.0, 4 / 255, -64),          # -128 + 63.75 -> -64.25 -> -64
    (-2.0, -0.5, 2 / 255, 127),         # widened to [-2, 0]: zero at QMAX
    (0.5, 2.0, 2 / 255, -128),          # widened to [0, 2]
    (-1.0, 1.0, 2 / 255, -1),           # -0.5 rounds away from zero (as the converter does)
    (-5.123, 5.123, 10.246 / 255, 0),   # ... but with the float32 scale, -128 + 5.123 / scale is above -0.5
])
def test_asymmetric_params(lo, hi, scale, zp):
    s, z = K.asymmetric_params(lo, hi)
    assert s == pytest.approx(scale, rel=1e-7) and z == zp


def test_asymmetric_params_zero_width():
    with pytest.raises(ValueError):
        K.asymmetric_params(0.0, 0.0)


def test_fake_quant():
    s, z = K.asymmetric_params(0.0, 1.0)
    assert (s, z) == (float(np.float32(1 / 255)), -128)
    x = np.array([-1.0, 0.0, 0.31, 1.0, 2.0, s * 10.5])
    y = K.fake_quant(x, 0.0, 1.0)
    # below the range saturates at 0, above at 255 steps; 10.5 steps rounds half away from zero to 11
    np.testing.assert_allclose(y, [0.0, 0.0, 79 * s, 255 * s, 255 * s, 11 * s], rtol=1e-12)


def test_clipped_range():
    assert K.clipped_range(-3.0, 10.0, 5.0) == (-3.0, 5.0)
    assert K.clipped_range(-30.0, 10.0, 5.0) == (-5.0, 5.0)
    assert K.clipped_range(-3.0, 10.0, 20.0) == (-3.0, 10.0)
    assert K.clipped_range(2.0, 10.0, 1.0) == (1.0, 1.0)  # an all-positive tensor clipped below its minimum


# --- percentile -----------------------------------------------------------------------------------

def test_percentile_clip_exact():
    mags = np.arange(1, 101, dtype=np.float64)  # 1..100
    np.random.default_rng(0).shuffle(mags)
    assert K.percentile_clip(mags, 100, 99.0) == 99.0   # the 99th smallest
    assert K.percentile_clip(mags, 100, 50.0) == 50.0
    assert K.percentile_clip(mags, 100, 99.5) == 100.0  # ceil(99.5) = 100th
    assert K.percentile_clip(mags, 100, 100.0) == 100.0


def test_percentile_clip_from_the_largest_only():
    mags = np.random.default_rng(1).random(10_000)
    keep = K.top_count(10_000, 99.9)
    assert keep == 11
    top = np.sort(mags)[-keep:]
    assert K.percentile_clip(top, 10_000, 99.9) == np.sort(mags)[math.ceil(0.999 * 10_000) - 1]
    with pytest.raises(ValueError):
        K.percentile_clip(top[1:], 10_000, 99.9)


def test_tensor_stats_over_calls():
    rng = np.random.default_rng(2)
    chunks = [rng.standard_normal(1000).astype(np.float32) for _ in range(20)]
    every = np.concatenate(chunks)
    # the converter recorded a wider range than the values (see TensorStats): minmax keeps it
    s = K.TensorStats("t", -10.0, 12.0, keep_top=K.top_count(every.size, 99.0), sample_per_call=10)
    for c in chunks:
        s.add(c, rng)
    assert (s.obs_lo, s.obs_hi, s.count) == (every.min(), every.max(), every.size)
    assert s.amax == np.abs(every).max()
    expected = np.sort(np.abs(every))[math.ceil(0.99 * every.size) - 1]
    assert s.clip(K.Method("percentile", 99.0)) == pytest.approx(expected)
    assert s.range(K.Method("percentile", 99.0)) == pytest.approx((-expected, expected))
    assert s.range(K.Method("minmax")) == (-10.0, 12.0)
    assert s.narrowed(K.Method("percentile", 99.0)) and not s.narrowed(K.Method("minmax"))
    assert sum(len(x) for x in s.samples) == 200
    with pytest.raises(ValueError):
        s.clip(K.Method("entropy"))  # needs the histogram pass
    for c in chunks:
        s.add_to_histogram(c)
    assert s.hist.sum() == every.size and s.hist[-1] >= 1  # amax falls in the last bin
    assert 0 < s.clip(K.Method("entropy")) <= s.amax


def test_percentile_of_a_mostly_zero_tensor_keeps_the_range():
    s = K.TensorStats("relu", 0.0, 5.0, keep_top=K.top_count(100_000, 99.0), sample_per_call=0)
    x = np.zeros(100_000, np.float32)
    x[:10] = 5.0
    s.add(x, np.random.default_rng(0))
    assert s.range(K.Method("percentile", 99.0)) == (0.0, 5.0)  # the 99th percentile is 0: not a range


# --- MSE ------------------------------------------------------------------------------------------

def _mse(x, lo, hi, c):
    return float(np.mean((x - K.fake_quant(x, *K.clipped_range(lo, hi, c))) ** 2))


def test_mse_clip_no_outliers_keeps_the_range():
    x = np.linspace(-1.0, 1.0, 2001)
    c = K.mse_clip(x, -1.0, 1.0)
    assert 0.99 < c <= 1.0  # (the grid may align a hair better just below 1)
    assert _mse(x, -1.0, 1.0, c) <= _mse(x, -1.0, 1.0, 1.0)


def test_mse_clip_minimises_on_a_long_tail():
    x = np.random.default_rng(5).laplace(size=100_000)  # a long two-sided tail
    lo, hi = float(x.min()), float(x.max())
    c = K.mse_clip(x, lo, hi)
    amax = max(-lo, hi)
    assert c < 0.8 * amax  # (measured 0.74)
    best = _mse(x, lo, hi, c)
    assert best < _mse(x, lo, hi, amax)
    for other in np.linspace(amax / 20, amax, 37):
        assert best <= _mse(x, lo, hi, other) + 1e-15


def test_mse_clip_single_huge_outlier_is_kept():
    # one value 100x the rest: clipping it costs more squared error than the coarser grid
    x = np.concatenate([np.linspace(0, 1, 1000), [100.0]])
    assert K.mse_clip(x, 0.0, 100.0) > 99.0


# --- entropy --------------------------------------------------------------------------------------

def test_kl_divergence():
    assert K.kl_divergence([1, 1], [1, 1]) == 0.0
    assert K.kl_divergence([1, 1], [1, 3]) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))


def _entropy_reference(hist, amax, qbins):
    """A literal, loop-by-loop implementation of entropy_clip's docstring (independent of its vector code)."""
    hist = [float(v) for v in hist]
    hist[0] = hist[1]
    n = len(hist)
    best, best_kl = n, math.inf
    for i in range(qbins, n + 1):
        p = hist[:i]
        p[i - 1] += sum(hist[i:])
        size = i // qbins
        q = [0.0] * i
        for g in range(qbins):
            start, stop = g * size, (i if g == qbins - 1 else (g + 1) * size)
            nonzero = [k for k in range(start, stop) if hist[k] != 0]
            total = sum(hist[start:stop])
            for k in nonzero:
                q[k] = total / len(nonzero)

        def smooth(d):
            zeros = sum(1 for v in d if v == 0)
            eps1 = 1e-4 * zeros / (len(d) - zeros)
            return [v + 1e-4 if v == 0 else v - eps1 for v in d]

        if all(v == 0 for v in q):
            continue
        ps, qs = smooth(p), smooth(q)
        sp, sq = sum(ps), sum(qs)
        kl = sum(a / sp * math.log((a / sp) / (b / sq)) for a, b in zip(ps, qs) if a > 0)
        if kl <= best_kl:
            best, best_kl = i, kl
    return best * amax / n


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("relu", [False, True])
def test_entropy_clip_matches_literal_reference(seed, relu):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(5000) * (1 + 4 * (rng.random(5000) < 0.01))
    mags = np.maximum(x, 0) if relu else np.abs(x)  # relu: half the values exactly 0
    hist, _ = np.histogram(mags, bins=64, range=(0, mags.max()))
    assert K.entropy_clip(hist, mags.max(), 8) == pytest.approx(_entropy_reference(hist, mags.max(), 8))


def test_entropy_clip_ignores_the_zero_spike():
    rng = np.random.default_rng(4)
    hist, _ = np.histogram(np.abs(rng.standard_normal(20_000)) ** 3, bins=256, range=(0, 30))
    spiked = hist.copy()
    spiked[0] += 10**6  # a ReLU's exact zeros
    assert K.entropy_clip(spiked, 30.0, 32) == K.entropy_clip(hist, 30.0, 32)
    hist[0] = 0  # only bin 1's count matters for bin 0
    assert K.entropy_clip(spiked, 30.0, 32) == K.entropy_clip(hist, 30.0, 32)


def test_entropy_clip_cuts_a_far_outlier():
    hist = np.zeros(K.HISTOGRAM_BINS, np.int64)
    hist[:100] = (1e6 * np.exp(-np.arange(100) / 20)).astype(np.int64)
    hist[-1] = 1  # one value at amax
    c = K.entropy_clip(hist, 100.0)
    assert 100 * 100 / K.HISTOGRAM_BINS <= c < 100.0 / 4  # at least the bulk, far below the outlier


def test_entropy_clip_degenerate():
    assert K.entropy_clip(np.zeros(K.HISTOGRAM_BINS), 3.0) == 3.0
    assert K.entropy_clip(np.ones(K.HISTOGRAM_BINS), 0.0) == 0.0


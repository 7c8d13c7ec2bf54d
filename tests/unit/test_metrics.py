"""edgeq.quality.metrics: hand-computed values and every zero guard of the documented policy."""

import math

import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.quality.metrics import (
    ErrorStats,
    accuracy,
    class_labels,
    cosine_similarity,
    finite_or_none,
    max_abs_error,
    predicted_classes,
    rmse,
    sqnr_db,
    top1_agreement,
)


def test_sqnr_hand_computed():
    # signal 3^2 + 4^2 = 25, noise 0.5^2 = 0.25: ratio 100 = 20 dB
    assert sqnr_db([3.0, 4.0], [3.0, 4.5]) == pytest.approx(20.0, abs=1e-12)
    # signal 1 + 4 + 9 + 16 = 30, noise 4 * 0.1^2 = 0.04: 10 log10(750) = 28.7506...
    assert sqnr_db([1, 2, 3, 4], [1.1, 1.9, 3.1, 3.9]) == pytest.approx(28.750612633917, abs=1e-9)
    # any shape: all elements count
    assert sqnr_db(np.array([[3.0], [4.0]]), np.array([[3.0], [4.5]])) == pytest.approx(20.0)


def test_sqnr_zero_guards():
    assert sqnr_db([1.0, -2.0], [1.0, -2.0]) == math.inf  # no noise: exact
    assert sqnr_db([0.0, 0.0], [0.0, 0.0]) == math.inf  # nothing at all, and identical: exact
    assert sqnr_db([0.0, 0.0], [0.0, 1e-3]) == -math.inf  # noise and no signal: all noise
    # integers are compared as numbers, not wrapped
    assert sqnr_db(np.array([-128], np.int8), np.array([127], np.int8)) == pytest.approx(
        10 * math.log10(128**2 / 255**2))


def test_nsr_rmse_and_max_abs_error():
    e = ErrorStats.of([3.0, 4.0], [3.0, 4.5])
    assert e.nsr == pytest.approx(0.01) and e.signal == 25.0 and e.noise == 0.25 and e.count == 2
    assert e.rmse == pytest.approx(math.sqrt(0.25 / 2)) and e.max_abs_err == 0.5
    assert ErrorStats.of([1.0], [1.0]).nsr == 0.0
    assert ErrorStats.of([0.0], [2.0]).nsr == math.inf
    assert rmse([0, 0, 0, 0], [1, -1, 1, -1]) == 1.0
    assert max_abs_error([1.0, 2.0, 3.0], [1.0, 2.5, 1.0]) == 2.0
    empty = ErrorStats()
    assert empty.rmse == 0.0 and empty.max_abs_err == 0.0 and empty.sqnr_db == math.inf and empty.nsr == 0.0


def test_error_stats_accumulate_like_one_batch():
    rng = np.random.default_rng(0)
    ref, test = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    running = ErrorStats()
    for r, t in zip(ref, test):
        running.add(r, t)
    whole = ErrorStats.of(ref, test)
    assert running.sqnr_db == pytest.approx(whole.sqnr_db) and running.rmse == pytest.approx(whole.rmse)
    assert running.max_abs_err == whole.max_abs_err and running.count == whole.count == 35
    with pytest.raises(ValueError, match="3 elements"):
        ErrorStats.of([1, 2, 3], [1, 2])


def test_cosine_hand_computed_and_zero_guards():
    assert cosine_similarity([[3.0, 4.0]], [[4.0, 3.0]]) == pytest.approx(24 / 25)
    # per sample, then the mean: orthogonal (0) and parallel (1)
    assert cosine_similarity([[1, 0], [1, 1]], [[0, 1], [2, 2]]) == pytest.approx(0.5)
    assert cosine_similarity([[0.0, 0.0]], [[0.0, 0.0]]) == 1.0  # both zero: identical
    assert cosine_similarity([[0.0, 0.0]], [[0.0, 1.0]]) == 0.0  # one zero vector: nothing in common
    assert cosine_similarity([[1.0, 0.0]], [[0.0, 0.0]]) == 0.0
    assert cosine_similarity([[1.0, 2.0]], [[-1.0, -2.0]]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cosine_similarity(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError):
        cosine_similarity([[1.0, 2.0]], [[1.0, 2.0, 3.0]])


def test_class_labels_int_one_hot_and_column():
    np.testing.assert_array_equal(class_labels([2, 0, 1]), [2, 0, 1])
    np.testing.assert_array_equal(class_labels(np.eye(3)[[2, 0]]), [2, 0])
    np.testing.assert_array_equal(class_labels(np.array([[1.0], [2.0]])), [1, 2])
    np.testing.assert_array_equal(class_labels(np.array([1, 0], np.uint8)), [1, 0])
    assert class_labels([3]).dtype == np.int64


@pytest.mark.parametrize("bad, message", [
    ([0.0, 1.5], "1.5"),
    ([1, -1], "-1"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.float32(3.0), "shape ()"),
])
def test_class_labels_rejects_what_is_not_a_class(bad, message):
    with pytest.raises(EdgeqError, match="not") as excinfo:
        class_labels(bad)
    assert message in excinfo.value.what


def test_accuracy_and_top1_agreement():
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    np.testing.assert_array_equal(predicted_classes(out), [1, 0, 1, 0])
    assert accuracy(out, [1, 0, 0, 0]) == 0.75
    assert accuracy(out, np.eye(2)[[1, 0, 0, 0]]) == 0.75  # one-hot labels, same answer
    assert accuracy(out.reshape(4, 1, 2), [1, 0, 1, 0]) == 1.0  # outputs flattened per sample
    assert top1_agreement([[1, 0], [0, 1]], [[1, 0], [1, 0]]) == 0.5
    with pytest.raises(ValueError):
        accuracy(out, [1, 0])
    with pytest.raises(ValueError):
        top1_agreement(out, out[:2])


def test_finite_or_none():
    assert finite_or_none(math.inf) is None and finite_or_none(-math.inf) is None
    assert finite_or_none(float("nan")) is None
    assert finite_or_none(1.5) == 1.5 and finite_or_none(3) == 3 and finite_or_none("x") == "x"

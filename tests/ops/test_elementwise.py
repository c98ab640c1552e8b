"""Elementwise ops: values against NumPy, gradients against finite differences."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match, gradcheck

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((2, 3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((3, 4), ()),
    ((1, 4), (3, 1)),
]


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


@pytest.mark.parametrize(("shape_a", "shape_b"), BROADCAST_SHAPES)
@pytest.mark.parametrize(
    ("op", "reference"),
    [
        (F.add, np.add),
        (F.sub, np.subtract),
        (F.mul, np.multiply),
        (F.div, np.divide),
        (F.pow, np.power),
        (F.maximum, np.maximum),
    ],
    ids=["add", "sub", "mul", "div", "pow", "maximum"],
)
def test_binary_op_values_and_gradients_with_broadcasting(rng, op, reference, shape_a, shape_b):
    a = positive(rng, shape_a)
    b = positive(rng, shape_b)
    np.testing.assert_allclose(op(cm.Tensor(a), cm.Tensor(b)).data, reference(a, b))
    assert_gradients_match(op, [a, b], rng=rng)


@pytest.mark.parametrize(
    ("op", "reference"),
    [(F.neg, np.negative), (F.exp, np.exp), (F.log, np.log), (F.sqrt, np.sqrt)],
    ids=["neg", "exp", "log", "sqrt"],
)
def test_unary_op_values_and_gradients(rng, op, reference):
    a = positive(rng, (3, 5))
    np.testing.assert_allclose(op(cm.Tensor(a)).data, reference(a))
    assert_gradients_match(op, [a], rng=rng)


def test_scalar_exponent_and_scalar_base(rng):
    a = positive(rng, (4,))
    assert_gradients_match(lambda x: x**3, [a], rng=rng)
    assert_gradients_match(lambda x: 2.0**x, [a], rng=rng)
    assert_gradients_match(lambda x: 1 / x - 3, [a], rng=rng)


def test_maximum_shares_the_gradient_on_ties():
    a = cm.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = cm.Tensor([1.0, 5.0, 0.0], requires_grad=True)
    F.maximum(a, b).backward(np.array([2.0, 2.0, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 0.0])


def test_gradcheck_catches_a_wrong_gradient(rng):
    class WrongSquare(cm.Function):
        def forward(self, a):
            self.a = a
            return a * a

        def backward(self, grad):
            return grad * self.a  # should be 2 * grad * a

    report = gradcheck(WrongSquare.apply, [positive(rng, (3,))], rng=rng)
    assert not report.passed
    assert "FAIL" in report.table()
    with pytest.raises(AssertionError, match="disagrees"):
        assert_gradients_match(WrongSquare.apply, [positive(rng, (3,))], rng=rng)


def test_gradcheck_uses_random_directions_for_large_inputs(rng):
    report = assert_gradients_match(F.exp, [rng.standard_normal((40, 40))], rng=rng)
    assert report.comparisons[0].method == "12 directions"


def test_gradcheck_catches_a_wrong_small_gradient_next_to_large_ones(rng):
    scales = np.array([1000.0, 1.0, 1e-3])

    class ScaleWithBadLast(cm.Function):
        def forward(self, a):
            return a * scales

        def backward(self, grad):
            wrong = grad * scales
            wrong[-1] *= 2  # 100% wrong on the smallest entry
            return wrong

    report = gradcheck(ScaleWithBadLast.apply, [positive(rng, (3,))], rng=rng)
    assert not report.passed

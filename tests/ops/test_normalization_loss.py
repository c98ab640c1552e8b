"""batch_norm, dropout and softmax_cross_entropy."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match


@pytest.mark.parametrize("shape", [(4, 3, 3, 2), (6, 5)])
def test_batch_norm_training_values_and_gradients(rng, shape):
    a = rng.standard_normal(shape) * 3 + 1
    gamma = rng.uniform(0.5, 1.5, shape[-1])
    beta = rng.standard_normal(shape[-1])
    z = F.batch_norm(cm.Tensor(a), cm.Tensor(gamma), cm.Tensor(beta))
    axes = tuple(range(len(shape) - 1))
    a_hat = (a - a.mean(axis=axes)) / np.sqrt(a.var(axis=axes) + 1e-5)
    np.testing.assert_allclose(z.data, gamma * a_hat + beta, rtol=1e-12)
    assert_gradients_match(F.batch_norm, [a, gamma, beta], rng=rng)
    assert_gradients_match(F.batch_norm, [a], rng=rng)


def test_batch_norm_updates_running_statistics_in_place(rng):
    a = rng.standard_normal((8, 2, 2, 3)) * 2 + 5
    mean, var = np.zeros(3), np.ones(3)
    F.batch_norm(cm.Tensor(a), running_mean=mean, running_var=var, momentum=0.1)
    n = 8 * 2 * 2
    np.testing.assert_allclose(mean, 0.1 * a.mean(axis=(0, 1, 2)))
    np.testing.assert_allclose(var, 0.9 + 0.1 * a.var(axis=(0, 1, 2)) * n / (n - 1))


def test_batch_norm_inference_uses_running_statistics(rng):
    a = rng.standard_normal((5, 4))
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)

    def infer(x, g, b):
        return F.batch_norm(x, g, b, mean, var, training=False)

    expected = gamma * (a - mean) / np.sqrt(var + 1e-5) + beta
    np.testing.assert_allclose(
        infer(cm.Tensor(a), cm.Tensor(gamma), cm.Tensor(beta)).data, expected
    )
    assert_gradients_match(infer, [a, gamma, beta], rng=rng)


def test_batch_norm_errors():
    a = cm.Tensor(np.ones((4, 3)))
    with pytest.raises(cm.InvalidArgumentError, match="needs running_mean and running_var"):
        F.batch_norm(a, training=False)
    with pytest.raises(cm.ShapeError, match=r"gamma must have shape \(3,\)"):
        F.batch_norm(a, cm.Tensor(np.ones(2)))
    with pytest.raises(cm.ShapeError, match="more than one value per channel"):
        F.batch_norm(cm.Tensor(np.ones((1, 3))))


def test_dropout_is_seeded_inverted_and_differentiable():
    a = np.ones((200, 50))
    out1 = F.dropout(cm.Tensor(a), 0.3, np.random.default_rng(7))
    out2 = F.dropout(cm.Tensor(a), 0.3, np.random.default_rng(7))
    np.testing.assert_array_equal(out1.data, out2.data)
    kept = out1.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out1.data[kept], 1 / 0.7)
    x = cm.Tensor(a, requires_grad=True)
    F.dropout(x, 0.3, np.random.default_rng(7)).backward(np.full(a.shape, 2.0))
    np.testing.assert_allclose(x.grad, 2 * out1.data)


def test_dropout_edge_rates_and_errors():
    a = cm.Tensor(np.ones((3, 3)))
    rng = np.random.default_rng(0)
    assert F.dropout(a, 0.5, rng, training=False) is a
    assert F.dropout(a, 0.0, rng) is a
    np.testing.assert_array_equal(F.dropout(a, 1.0, rng).data, 0)
    with pytest.raises(cm.InvalidArgumentError, match=r"in \[0, 1\], got 1.5"):
        F.dropout(a, 1.5, rng)
    with pytest.raises(cm.InvalidArgumentError, match=r"numpy\.random\.Generator"):
        F.dropout(a, 0.5, 42)


def _cross_entropy(z, y, eps=0.0):
    k = z.shape[1]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    q = np.full(z.shape, eps / k)
    q[np.arange(len(y)), y] += 1 - eps
    return -(q * log_p).sum() / len(y)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_cross_entropy(rng, smoothing):
    z = rng.standard_normal((6, 5))
    y = rng.integers(0, 5, 6)
    loss = F.softmax_cross_entropy(cm.Tensor(z), y, label_smoothing=smoothing)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), _cross_entropy(z, y, smoothing), rtol=1e-12)
    assert_gradients_match(
        lambda t: F.softmax_cross_entropy(t, y, label_smoothing=smoothing), [z], rng=rng
    )


def test_softmax_cross_entropy_gradient_is_softmax_minus_one_hot_over_m(rng):
    z = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    logits = cm.Tensor(z, requires_grad=True)
    F.softmax_cross_entropy(logits, y).backward()
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(logits.grad, (softmax - np.eye(3)[y]) / 4, rtol=1e-12)


def test_softmax_cross_entropy_is_finite_for_huge_logits():
    z = cm.Tensor(
        np.array([[1e4, -1e4, 0.0], [3e4, 3e4, 3e4]], dtype=np.float32), requires_grad=True
    )
    loss = F.softmax_cross_entropy(z, np.array([1, 0]))
    np.testing.assert_allclose(loss.item(), (2e4 + np.log(3)) / 2, rtol=1e-6)
    loss.backward()
    assert np.isfinite(z.grad).all()


def test_a_confidently_right_prediction_keeps_its_loss_in_float32():
    # z_y - logsumexp(z) = -log(1 + e^-13 + e^-20): about 2.26e-6, which float32 keeps only if
    # the log-sum-exp is not rounded at the scale of z before the subtraction.
    z = np.array([[20.0, 7.0, 0.0]], dtype=np.float32)
    exact = np.log1p(np.exp(-13.0) + np.exp(-20.0))
    loss = F.softmax_cross_entropy(cm.Tensor(z), np.array([0])).item()
    assert loss == pytest.approx(exact, rel=1e-6)
    log_p = F.log_softmax(cm.Tensor(z)).data
    assert log_p[0, 0] == pytest.approx(-exact, rel=1e-6)
    assert log_p[0, 0] < 0  # never -0.0


def test_softmax_cross_entropy_on_logits_scaled_by_30_is_exact_to_float32(rng):
    z = (rng.standard_normal((256, 10)) * 30).astype(np.float32)
    y = z.argmax(axis=1)  # confident and right: J is small
    z64 = z.astype(np.float64)
    shifted = z64 - z64.max(axis=1, keepdims=True)
    exact = -(shifted[np.arange(256), y] - np.log(np.exp(shifted).sum(axis=1))).mean()
    loss = F.softmax_cross_entropy(cm.Tensor(z), y).item()
    assert loss == pytest.approx(exact, rel=1e-6)


def test_softmax_cross_entropy_errors():
    z = cm.Tensor(np.zeros((2, 3)))
    with pytest.raises(cm.InvalidArgumentError, match=r"labels must be in 0..2.*\[3\]"):
        F.softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(cm.InvalidArgumentError, match=r"\[-1\]"):
        F.softmax_cross_entropy(z, np.array([-1, 0]))
    with pytest.raises(cm.DTypeError, match="integer class labels"):
        F.softmax_cross_entropy(z, np.array([0.0, 1.0]))
    with pytest.raises(cm.ShapeError, match=r"labels of shape \(2,\)"):
        F.softmax_cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(cm.ShapeError, match=r"logits of shape \(m, K\)"):
        F.softmax_cross_entropy(cm.Tensor(np.zeros(3)), np.array([0]))


def test_batch_norm_refuses_bad_running_statistics_before_changing_any():
    a = cm.Tensor(np.ones((4, 3)))
    mean = np.zeros(3)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(cm.InvalidArgumentError, match="running_var is read-only"):
        F.batch_norm(a, running_mean=mean, running_var=frozen)
    np.testing.assert_array_equal(mean, 0)  # not half-updated
    with pytest.raises(cm.InvalidArgumentError, match="float NumPy array"):
        F.batch_norm(a, running_mean=[0.0, 0.0, 0.0])
    with pytest.raises(cm.InvalidArgumentError, match="float NumPy array"):
        F.batch_norm(a, running_mean=np.zeros(3, dtype=np.int64))
    with pytest.raises(cm.InvalidArgumentError, match="momentum must be a number, got None"):
        F.batch_norm(a, momentum=None)
    with pytest.raises(cm.InvalidArgumentError, match="eps must be > 0"):
        F.batch_norm(a, eps=0)


def test_option_types_are_checked():
    a = cm.Tensor(np.ones((2, 3)))
    with pytest.raises(cm.InvalidArgumentError, match=r"rate must be a number, got '0\.5'"):
        F.dropout(a, "0.5", np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match="label_smoothing must be a number"):
        F.softmax_cross_entropy(a, np.array([0, 1]), label_smoothing=None)
    with pytest.raises(cm.ShapeError, match="empty axis"):
        F.softmax(cm.Tensor(np.ones((2, 0))))


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 6), (1, 1, 1, 3), (3, 2, 2, 1)])
def test_layer_norm_values_and_gradients(rng, shape):
    a = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    mu = a.mean(axis=-1, keepdims=True)
    var = a.var(axis=-1, keepdims=True)
    expected = gamma * (a - mu) / np.sqrt(var + 1e-5) + beta
    z = F.layer_norm(cm.Tensor(a), cm.Tensor(gamma), cm.Tensor(beta))
    np.testing.assert_allclose(z.data, expected, rtol=1e-12, atol=1e-12)
    assert_gradients_match(
        lambda x, g, b: F.layer_norm(x, g, b, eps=1e-3), [a, gamma, beta], rng=rng
    )


def test_layer_norm_errors():
    a = cm.Tensor(np.ones((2, 3)))
    with pytest.raises(cm.ShapeError, match=r"gamma must have shape \(3,\), got \(2,\)"):
        F.layer_norm(a, cm.Tensor(np.ones(2)), cm.Tensor(np.ones(3)))
    with pytest.raises(cm.InvalidArgumentError, match="layer_norm eps must be > 0"):
        F.layer_norm(a, cm.Tensor(np.ones(3)), cm.Tensor(np.ones(3)), eps=0)
    with pytest.raises(cm.ShapeError, match=r"expects \(m, ..., n_C\)"):
        F.layer_norm(cm.Tensor(np.ones(3)), cm.Tensor(np.ones(3)), cm.Tensor(np.ones(3)))

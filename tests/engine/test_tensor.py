"""The engine: graph walking, accumulation, dtype rules, no_grad, strict mode."""

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.tensor import Function


def test_scalar_loss_backward_needs_no_argument():
    x = cm.Tensor([1.0, -2.0, 3.0], requires_grad=True)
    J = (x * x).sum()
    J.backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    assert x.grad.dtype == np.float32


def test_non_scalar_backward_without_gradient_is_an_error():
    x = cm.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(cm.GradientError, match=r"shape \(2, 3\)"):
        (x * 2).backward()


def test_backward_gradient_of_wrong_shape_is_an_error():
    x = cm.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(cm.GradientError, match=r"needs a gradient of shape \(2, 3\), got \(3,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_graph_is_an_error():
    with pytest.raises(cm.GradientError, match="does not require gradients"):
        cm.Tensor([1.0]).backward()


def test_tensor_used_twice_accumulates_both_gradients():
    # a residual-style graph: y = relu(x W) + x, both paths reach x
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal((4, 3))
    w_data = rng.standard_normal((3, 3))
    x = cm.Tensor(x_data, requires_grad=True)
    w = cm.Tensor(w_data, requires_grad=True)
    y = F.relu(x @ w) + x
    g = rng.standard_normal((4, 3))
    y.backward(g)
    z = x_data @ w_data
    expected = (g * (z > 0)) @ w_data.T + g
    np.testing.assert_allclose(x.grad, expected, rtol=1e-12)


def test_same_tensor_on_both_sides_of_an_op():
    x = cm.Tensor([3.0], requires_grad=True, dtype=np.float64)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, [7.0])


def test_gradients_accumulate_across_backward_calls_until_reset():
    x = cm.Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_incoming_gradient_is_never_written_into():
    rng = np.random.default_rng(1)
    x = cm.Tensor(rng.standard_normal((3, 4)), requires_grad=True, dtype=np.float64)
    # Add hands the same array to both inputs; x then receives it along three paths.
    y = (x + x) + x.reshape(3, 4)
    g = rng.standard_normal((3, 4))
    g_before = g.copy()
    y.backward(g)
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_allclose(x.grad, 3 * g)
    assert not np.shares_memory(x.grad, g)


def test_leaf_gradients_do_not_alias_each_other():
    a = cm.Tensor(np.ones(3), requires_grad=True)
    b = cm.Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad += 1  # an optimizer may update a gradient in place
    np.testing.assert_array_equal(b.grad, [1.0, 1.0, 1.0])


def test_deep_graph_has_no_recursion_limit():
    x = cm.Tensor([1.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**20_000], rtol=1e-9)


def test_wide_diamond_graph_visits_each_node_once():
    x = cm.Tensor(np.array([2.0]), requires_grad=True)
    branches = [x * float(k) for k in range(1, 101)]
    total = branches[0]
    for b in branches[1:]:
        total = total + b
    total.sum().backward()
    np.testing.assert_allclose(x.grad, [5050.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_keep_their_inputs_dtype(dtype):
    rng = np.random.default_rng(2)
    a = cm.Tensor(rng.standard_normal((2, 5, 5, 3)).astype(dtype), requires_grad=True)
    w = cm.Tensor(rng.standard_normal((3, 3, 3, 4)).astype(dtype), requires_grad=True)
    z = F.relu(F.conv2d(a, w, padding=1)) * 2.0 + 1
    pooled = F.avg_pool2d(F.max_pool2d(z, 2), 1)
    J = F.softmax_cross_entropy(F.flatten(pooled)[:, :10], np.array([1, 2]))
    for t in (z, pooled, J):
        assert t.dtype == dtype
    J.backward()
    assert a.grad.dtype == dtype
    assert w.grad.dtype == dtype


def test_mixing_float32_and_float64_is_an_error():
    a = cm.Tensor(np.ones(2, dtype=np.float32))
    b = cm.Tensor(np.ones(2, dtype=np.float64))
    with pytest.raises(cm.DTypeError, match=r"mixed dtypes \['float32', 'float64'\]"):
        _ = a + b


def test_python_scalars_take_the_tensor_dtype():
    a = cm.Tensor(np.ones(2, dtype=np.float32))
    assert (a * 2.5).dtype == np.float32
    assert (1 - a).dtype == np.float32
    assert (np.float64(2.0) * a).dtype == np.float32


def test_non_float_data_becomes_float32_and_float_arrays_are_kept():
    assert cm.Tensor([1, 2]).dtype == np.float32
    array = np.zeros(3)
    t = cm.Tensor(array)
    assert t.dtype == np.float64
    assert t.data is array
    with pytest.raises(cm.DTypeError):
        cm.Tensor(np.zeros(2), dtype=np.int32)


def test_no_grad_builds_no_graph():
    x = cm.Tensor([1.0, 2.0], requires_grad=True)
    with cm.no_grad():
        assert not cm.is_grad_enabled()
        y = x * 2
    assert cm.is_grad_enabled()
    assert not y.requires_grad
    assert y.is_leaf


def test_detach_cuts_the_graph():
    x = cm.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad
    assert y.is_leaf


def test_retain_grad_keeps_an_intermediate_gradient():
    x = cm.Tensor([1.0, -1.0], requires_grad=True)
    z = (x * 3).retain_grad()
    F.relu(z).sum().backward()
    np.testing.assert_array_equal(z.grad, [1.0, 0.0])
    np.testing.assert_array_equal(x.grad, [3.0, 0.0])


def test_strict_mode_names_the_op_that_made_a_nan():
    x = cm.Tensor([-1.0, 4.0], requires_grad=True)
    with (
        cm.strict_mode(),
        pytest.raises(cm.NonFiniteError, match="Log"),
        np.errstate(invalid="ignore"),
    ):
        F.log(x)
    with np.errstate(invalid="ignore"):
        assert np.isnan(F.log(x).data[0])  # outside strict mode NaN passes through


def test_op_returning_a_gradient_of_the_wrong_shape_is_named():
    class Broken(Function):
        def forward(self, a):
            return a * 2

        def backward(self, grad):
            return grad[:1]

    x = cm.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(cm.GradientError, match=r"Broken.backward gave a gradient of shape \(1,\)"):
        Broken.apply(x).sum().backward()


def test_operators_and_methods():
    rng = np.random.default_rng(3)
    a_data = rng.uniform(1, 2, (2, 3))
    a = cm.Tensor(a_data)
    np.testing.assert_allclose((a / 2 - 1).data, a_data / 2 - 1)
    np.testing.assert_allclose((2 / a).data, 2 / a_data)
    np.testing.assert_allclose((a**2).data, a_data**2)
    np.testing.assert_allclose((-a).data, -a_data)
    np.testing.assert_allclose((a @ a.T).data, a_data @ a_data.T)
    np.testing.assert_allclose(a.reshape(3, 2).data, a_data.reshape(3, 2))
    np.testing.assert_allclose(a.reshape((6,)).data, a_data.reshape(6))
    np.testing.assert_allclose(a.transpose(1, 0).data, a_data.T)
    np.testing.assert_allclose(a[1, 1:].data, a_data[1, 1:])
    np.testing.assert_allclose(a.sum(axis=0).data, a_data.sum(axis=0))
    np.testing.assert_allclose(a.mean().data, a_data.mean())
    np.testing.assert_allclose(a.max(axis=1).data, a_data.max(axis=1))
    np.testing.assert_allclose(a.exp().log().data, a_data)
    assert a.shape == (2, 3)
    assert a.ndim == 2
    assert a.size == 6
    assert "Tensor(" in repr(a)


def test_every_public_op_documents_its_shapes_and_equations():
    import re

    for name in F.__all__:
        if name == "conv_output_size":
            continue
        doc = getattr(F, name).__doc__ or ""
        assert "=" in doc, name
        assert re.search(r"\bd[A-Z]", doc), f"{name} has no backward equation"


def test_zero_dimensional_tensors_accumulate_every_path():
    x = cm.Tensor(np.array(2.0), requires_grad=True)
    ((x + x) + x).backward()
    assert isinstance(x.grad, np.ndarray)
    assert x.grad == 3.0
    w = cm.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    l2 = (w * w).sum()
    assert isinstance(l2.data, np.ndarray)
    (l2 * 0.5 + l2 * 0.25 + l2 * 0.25).backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_backward_frees_the_graph_unless_asked_to_keep_it():
    x = cm.Tensor([1.0, 2.0], requires_grad=True)
    J = (x.exp() * 3).sum()
    J.backward(retain_graph=True)
    J.backward()
    np.testing.assert_allclose(x.grad, 6 * np.exp([1.0, 2.0]), rtol=1e-6)
    with pytest.raises(cm.GradientError, match="freed by an earlier backward"):
        J.backward()
    assert J._op.released
    assert not vars(J._op).keys() - {"inputs", "released"}  # saved arrays are gone


def test_plain_arrays_are_accepted_by_ops():
    w = cm.Tensor(np.ones((3, 3, 1, 2), dtype=np.float32), requires_grad=True)
    z = F.conv2d(np.ones((1, 5, 5, 1), dtype=np.float32), w)
    z.sum().backward()
    assert w.grad.shape == (3, 3, 1, 2)
    np.testing.assert_array_equal(F.matmul(cm.Tensor(np.eye(2)), np.eye(2)).data, np.eye(2))


@pytest.mark.parametrize("bad", [None, "abc", [[1, 2], [3]]])
def test_tensor_refuses_non_numbers(bad):
    with pytest.raises(cm.DTypeError):
        cm.Tensor(bad)


def test_broadcast_mismatch_names_the_op_and_shapes():
    with pytest.raises(cm.ShapeError, match=r"add: shapes \(2, 3\) and \(4,\) do not broadcast"):
        _ = cm.Tensor(np.ones((2, 3))) + cm.Tensor(np.ones(4))


def test_numpy_integers_work_as_axes_and_sizes():
    x = cm.Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(F.sum(x, axis=np.int64(0)).data, [3.0, 5.0, 7.0])
    assert x.reshape(np.int64(6)).shape == (6,)
    with pytest.raises(cm.InvalidArgumentError, match="reshape sizes must be integers"):
        F.reshape(x, (2.7, 3))
    with pytest.raises(cm.InvalidArgumentError, match=r"sum: axis 2 is out of range.*\(2, 3\)"):
        F.sum(x, axis=2)


def test_a_uint8_image_becomes_float32_with_its_values_as_they_are():
    pixels = np.array([[0, 128, 255]], dtype=np.uint8)
    t = cm.Tensor(pixels)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, [[0.0, 128.0, 255.0]])

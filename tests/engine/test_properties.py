"""Property-based checks: conv2d and pooling equal the loop references on random geometry."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import conv2d_loops, pool2d_loops

import convmath as cm
import convmath.functional as F
from convmath.shapes import conv_output_size, resolve_padding


@st.composite
def conv_geometry(draw):
    f_h, f_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    n_h = draw(st.integers(max(1, d[0] * (f_h - 1) + 1 - 2 * p[0]), 9))
    n_w = draw(st.integers(max(1, d[1] * (f_w - 1) + 1 - 2 * p[1]), 9))
    groups = draw(st.sampled_from([1, 2]))
    n_c_prev = groups * draw(st.integers(1, 2))
    n_c = groups * draw(st.integers(1, 3))
    m = draw(st.integers(1, 2))
    return m, n_h, n_w, n_c_prev, n_c, (f_h, f_w), s, d, p, groups


@settings(max_examples=60, deadline=None)
@given(conv_geometry(), st.integers(0, 2**32 - 1))
def test_conv2d_equals_loops_on_random_geometry(geometry, seed):
    m, n_h, n_w, n_c_prev, n_c, f, s, d, p, groups = geometry
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, n_h, n_w, n_c_prev))
    w = rng.standard_normal((*f, n_c_prev // groups, n_c))
    b = rng.standard_normal(n_c)
    z = F.conv2d(
        cm.Tensor(a), cm.Tensor(w), cm.Tensor(b), stride=s, padding=p, dilation=d, groups=groups
    )
    sides = resolve_padding(p, (n_h, n_w), f, s, d)
    expected = conv2d_loops(a, w, b, s, sides, d, groups)
    assert z.shape == (
        m,
        conv_output_size(n_h, f[0], p[0], s[0], d[0]),
        conv_output_size(n_w, f[1], p[1], s[1], d[1]),
        n_c,
    )
    np.testing.assert_allclose(z.data, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(4, 9),
    st.integers(4, 9),
    st.sampled_from(["max", "avg"]),
    st.integers(0, 2**32 - 1),
)
def test_pooling_equals_loops_on_random_geometry(f, s, p, n_h, n_w, kind, seed):
    p = min(p, f // 2)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2, n_h, n_w, 3))
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    z = op(cm.Tensor(a), f, s, p)
    expected = pool2d_loops(a, (f, f), (s, s), (p, p), kind)
    np.testing.assert_allclose(z.data, expected, rtol=1e-12, atol=1e-14)

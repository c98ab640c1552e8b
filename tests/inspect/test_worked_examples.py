"""The article's worked examples, as numbers."""

import numpy as np

import convmath as cm
import convmath.functional as F
from convmath.inspect.edges import HORIZONTAL_EDGE_FILTER, VERTICAL_EDGE_FILTER


def as_volume(image):
    """A single grayscale image (n_H, n_W) as a batch (1, n_H, n_W, 1)."""
    return cm.Tensor(np.asarray(image, dtype=np.float64)[None, :, :, None])


def as_filter(kernel):
    return cm.Tensor(np.asarray(kernel, dtype=np.float64)[:, :, None, None])


def test_vertical_edge_in_a_6x6_image():
    image = np.zeros((6, 6))
    image[:, :3] = 10  # bright left half, dark right half
    z = F.conv2d(as_volume(image), as_filter(VERTICAL_EDGE_FILTER))
    assert z.shape == (1, 4, 4, 1)
    expected = np.tile([0.0, 30.0, 30.0, 0.0], (4, 1))  # the edge sits in the middle columns
    np.testing.assert_array_equal(z.data[0, :, :, 0], expected)


def test_horizontal_edge_filter_is_the_transpose():
    np.testing.assert_array_equal(HORIZONTAL_EDGE_FILTER, np.asarray(VERTICAL_EDGE_FILTER).T)
    image = np.zeros((6, 6))
    image[:3, :] = 10  # bright top half
    z = F.conv2d(as_volume(image), as_filter(HORIZONTAL_EDGE_FILTER))
    np.testing.assert_array_equal(z.data[0, :, :, 0], np.tile([[0.0], [30.0], [30.0], [0.0]], 4))
    vertical = F.conv2d(as_volume(image), as_filter(VERTICAL_EDGE_FILTER))
    np.testing.assert_array_equal(vertical.data, 0)  # no vertical edge in this image


def test_padding_one_turns_6x6_into_8x8():
    padded = F.pad(as_volume(np.ones((6, 6))), [(0, 0), (1, 1), (1, 1), (0, 0)])
    assert padded.shape == (1, 8, 8, 1)
    assert padded.data.sum() == 36
    same = F.conv2d(as_volume(np.ones((6, 6))), as_filter(np.ones((3, 3))), padding=1)
    assert same.shape == (1, 6, 6, 1)


def test_convolution_over_a_volume_sums_over_channels():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (1, 6, 6, 3)).astype(np.float64)
    w = rng.integers(-1, 2, (3, 3, 3, 2)).astype(np.float64)
    z = F.conv2d(cm.Tensor(a), cm.Tensor(w))
    assert z.shape == (1, 4, 4, 2)  # 6x6x3 * two 3x3x3 filters -> 4x4x2
    assert z.data[0, 1, 2, 1] == np.sum(a[0, 1:4, 2:5, :] * w[:, :, :, 1])


def test_pooling_2x2_stride_2_on_a_4x4_example():
    image = np.array(
        [
            [1.0, 3.0, 2.0, 1.0],
            [2.0, 9.0, 1.0, 1.0],
            [1.0, 3.0, 2.0, 3.0],
            [5.0, 6.0, 1.0, 2.0],
        ]
    )
    maximum = F.max_pool2d(as_volume(image), 2, 2)
    average = F.avg_pool2d(as_volume(image), 2, 2)
    np.testing.assert_array_equal(maximum.data[0, :, :, 0], [[9.0, 2.0], [6.0, 3.0]])
    np.testing.assert_array_equal(average.data[0, :, :, 0], [[3.75, 1.25], [3.75, 2.0]])

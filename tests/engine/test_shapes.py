"""The output-size formula n = floor((n_prev + 2p - d(f-1) - 1)/s) + 1 and padding specs."""

import pytest

import convmath as cm
from convmath.shapes import conv_output_size, pair, resolve_padding, same_padding


@pytest.mark.parametrize(
    ("n", "f", "p", "s", "d", "expected"),
    [
        (6, 3, 0, 1, 1, 4),  # the article: 6x6 * 3x3 -> 4x4
        (6, 3, 1, 1, 1, 6),  # p = 1 keeps 6
        (28, 5, 2, 1, 1, 28),  # LeNet-5 conv1
        (14, 5, 0, 1, 1, 10),  # LeNet-5 conv2
        (7, 3, 0, 2, 1, 3),
        (7, 3, 1, 2, 1, 4),
        (32, 3, 1, 2, 1, 16),  # ResNet stage transition
        (4, 2, 0, 2, 1, 2),  # 2x2 pooling halves
        (5, 2, 0, 2, 1, 2),  # floor drops the odd last row
        (7, 3, 0, 1, 2, 3),  # dilation 2: the filter spans 5
        (5, 5, 0, 1, 1, 1),  # f = n
        (1, 1, 0, 1, 1, 1),
        (10, 4, (1, 2), 3, 1, 4),  # asymmetric padding
    ],
)
def test_output_size_table(n, f, p, s, d, expected):
    assert conv_output_size(n, f, p, s, d) == expected


def test_output_size_below_one_names_every_quantity():
    with pytest.raises(cm.ShapeError) as caught:
        conv_output_size(4, 7, 1, 2, axis="n_H")
    message = str(caught.value)
    for text in ("n_H_prev=4", "f=7", "p=1", "s=2", "< 1"):
        assert text in message


def test_output_size_rejects_nonsense():
    with pytest.raises(cm.InvalidArgumentError):
        conv_output_size(8, 3, -1)
    with pytest.raises(cm.InvalidArgumentError):
        conv_output_size(8, 3, 0, 0)


@pytest.mark.parametrize(
    ("n", "f", "s", "expected"),
    [(6, 3, 1, (1, 1)), (6, 4, 1, (1, 2)), (6, 2, 1, (0, 1)), (7, 3, 2, (1, 1)), (6, 3, 2, (0, 1))],
)
def test_same_padding(n, f, s, expected):
    assert same_padding(n, f, s) == expected
    before, after = expected
    assert conv_output_size(n, f, (before, after), s) == -(-n // s)


def test_padding_specs():
    assert resolve_padding(2, (5, 5), (3, 3), (1, 1)) == ((2, 2), (2, 2))
    assert resolve_padding((1, 2), (5, 5), (3, 3), (1, 1)) == ((1, 1), (2, 2))
    assert resolve_padding(((0, 1), (2, 3)), (5, 5), (3, 3), (1, 1)) == ((0, 1), (2, 3))
    assert resolve_padding("valid", (5, 5), (3, 3), (1, 1)) == ((0, 0), (0, 0))
    assert resolve_padding("same", (5, 6), (3, 4), (1, 1)) == ((1, 1), (1, 2))
    with pytest.raises(cm.InvalidArgumentError, match="'full'"):
        resolve_padding("full", (5, 5), (3, 3), (1, 1))
    with pytest.raises(cm.InvalidArgumentError):
        resolve_padding((1, 2, 3), (5, 5), (3, 3), (1, 1))


def test_pair():
    assert pair(3, "f") == (3, 3)
    assert pair((2, 1), "s") == (2, 1)
    with pytest.raises(cm.InvalidArgumentError, match=r"stride must be an integer, got 1\.5"):
        pair(1.5, "stride")
    with pytest.raises(cm.InvalidArgumentError, match="pair"):
        pair((1, 2, 3), "stride")

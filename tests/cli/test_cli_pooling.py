"""The ``convmath pooling`` command: the article's pooling examples in numbers."""

import numpy as np
import pytest

from convmath.cli import main
from convmath.data import load_digits


def test_the_4x4_example_with_2x2_windows_and_stride_2(capsys):
    assert main(["pooling"]) == 0
    out = capsys.readouterr().out
    assert "n_H = floor((4 + 2*0 - 2) / 2) + 1 = 2" in out
    assert "max pooling (the largest value of each 2x2 window):\n9 2\n6 3" in out
    assert "average pooling (the mean of each window):\n3.75 1.25\n3.75 2.00" in out


def test_a_real_digit_with_overlapping_windows(capsys):
    assert main(["pooling", "--index", "0", "--f", "3", "--stride", "2"]) == 0
    out = capsys.readouterr().out
    image = load_digits()[0][0].astype(np.float64)
    assert "n_H = floor((8 + 2*0 - 3) / 2) + 1 = 3" in out
    top_left = image[:3, :3]
    maxima = out.split("max pooling")[1].split("\n")[1].split()
    assert float(maxima[0]) == top_left.max()
    means = out.split("average pooling")[1].split("\n")[1].split()
    assert float(means[0]) == pytest.approx(top_left.mean(), abs=0.005)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pooling", "--f", "5"], "the window does not fit"),
        (["pooling", "--f", "2", "--padding", "2"], "--padding 2 must be at most half"),
        (["pooling", "--index", "99999"], "--index must be in 0..1796"),
        (["pooling", "--stride", "0"], "--stride: expected an integer in [1, 8]"),
    ],
)
def test_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_padded_average_pooling_says_the_zeros_count(capsys):
    assert main(["pooling", "--f", "3", "--stride", "1", "--padding", "1"]) == 0
    out = capsys.readouterr().out
    assert "average pooling (the mean of each window, the padded zeros counted):" in out
    assert out.split("padded zeros counted):\n")[1].split()[0] == "1.67"  # (1 + 3 + 2 + 9) / 9

"""Digits prepared as MNIST's were: ink found, cropped, fitted into 20x20, centred by mass."""

import numpy as np
import pytest

from convmath.data.centering import center_digit, dark_on_light, picture_input

Image = pytest.importorskip("PIL.Image")


def blob(shape=(100, 60), box=(10, 40, 5, 25)):
    """A bright rectangle of ink (rows 10-40, columns 5-25) on black, off centre."""
    gray = np.zeros(shape)
    top, bottom, left, right = box
    gray[top:bottom, left:right] = 1.0
    return gray


def test_the_digit_fills_20_of_28_and_its_centre_of_mass_is_the_fields():
    field = center_digit(blob(), (28, 28))
    assert field.shape == (28, 28)
    rows, columns = np.nonzero(field > 0.5)
    assert rows.max() - rows.min() + 1 == 20  # the longer side (30 rows) fitted to 20
    assert columns.max() - columns.min() + 1 in (13, 14)  # the aspect 30:20 kept
    mass = field.sum()
    centre = (field.sum(axis=1) @ np.arange(28) / mass, field.sum(axis=0) @ np.arange(28) / mass)
    np.testing.assert_allclose(centre, (13.5, 13.5), atol=0.6)


def test_an_empty_picture_stays_black_and_a_tiny_digit_grows():
    assert not center_digit(np.zeros((10, 10)), (28, 28)).any()
    dot = np.zeros((50, 50))
    dot[20:23, 30:31] = 1.0
    field = center_digit(dot, (28, 28))
    assert np.ptp(np.nonzero(field > 0.5)[0]) + 1 == 20


def test_dark_ink_on_light_paper_is_recognised():
    assert dark_on_light(1.0 - blob())
    assert not dark_on_light(blob())


def test_a_picture_of_dark_ink_becomes_an_mnist_digit(tmp_path):
    path = tmp_path / "seven.png"
    Image.fromarray(((1.0 - blob()) * 255).astype(np.uint8)).save(path)
    unit = picture_input(path, (28, 28, 1), invert=False, center=True)
    assert unit.shape == (28, 28, 1)
    assert unit.dtype == np.float32
    assert unit[0, 0, 0] == 0  # the paper became the black background
    assert unit.max() > 0.9  # the ink is light
    plain = picture_input(path, (28, 28, 1), invert=False, center=False)
    assert plain[0, 0, 0] == 0  # inverted too, but only resized
    assert np.ptp(np.nonzero(plain[..., 0] > 0.5)[0]) + 1 > 6


@pytest.mark.parametrize("n_C", [1, 3])
def test_a_picture_of_another_shape_is_fitted_never_squeezed(tmp_path, n_C):
    # 50 rows by 100 columns of light paper, a dark 20x20 square in the middle
    paper = np.full((50, 100), 230, np.uint8)
    paper[15:35, 40:60] = 10
    path = tmp_path / "wide.png"
    Image.fromarray(paper if n_C == 1 else np.repeat(paper[..., None], 3, axis=2)).save(path)
    unit = picture_input(path, (28, 28, n_C), invert=False, center=False, dark_background=False)
    assert unit.shape == (28, 28, n_C)
    np.testing.assert_allclose(unit[:7], 230 / 255, atol=1e-6)  # the bands are the paper's own
    np.testing.assert_allclose(unit[-7:], 230 / 255, atol=1e-6)
    rows, columns = np.nonzero(unit[..., 0] < 0.5)
    assert abs(np.ptp(rows) - np.ptp(columns)) <= 1  # the square stays square


def test_picture_options_are_the_one_rule_of_every_door():
    from convmath.data.centering import picture_options

    assert picture_options("mnist") == {"invert": False, "center": True, "dark_background": True}
    assert picture_options("digits")["center"] is False
    assert picture_options(None) == {"invert": False, "center": False, "dark_background": False}
    assert picture_options("mnist", center=False, invert=True)["center"] is False

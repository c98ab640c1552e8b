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

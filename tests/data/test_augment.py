"""Augmentation: shape, dtype, range, determinism, and exact results on hand-made cases."""

import numpy as np
import pytest

import convmath as cm
from convmath.data import augment as A
from convmath.data.augment.spec import parse_augment


def batch(m=5, side=9, channels=3, seed=0):
    return np.random.default_rng(seed).random((m, side, side, channels), dtype=np.float32)


ALL_TRANSFORMS = [
    A.RandomCrop(9, padding=2),
    A.RandomCrop(9, padding=3, padding_mode="reflect"),
    A.RandomRotation(30),
    A.RandomZoom(0.2),
    A.RandomElastic(34, sigma=2),
    A.RandomFlip(0.5, 0.5),
    A.GaussianNoise(0.1),
    A.SaltAndPepper(0.1),
    A.ColorJitter(0.4, 0.4, 0.4, 0.1),
    A.Grayscale(),
    A.Compose([A.RandomCrop(9, 1), A.RandomFlip(), A.ColorJitter(0.2, hue=0.05)]),
    A.preset("strong", (9, 9, 3)),
]


@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_range_and_determinism(transform, channels):
    x = batch(channels=channels)
    first = transform(x.copy(), np.random.default_rng(42))
    again = transform(x.copy(), np.random.default_rng(42))
    other = transform(x.copy(), np.random.default_rng(43))
    assert first.shape == x.shape
    assert first.dtype == np.float32
    assert first.min() >= 0.0
    assert first.max() <= 1.0
    np.testing.assert_array_equal(first, again)
    if not isinstance(transform, A.Grayscale) and not (channels == 1 and _colour_only(transform)):
        assert not np.array_equal(first, other)


def _colour_only(transform):
    return isinstance(transform, A.ColorJitter) and transform.brightness == (1.0, 1.0)


def test_transforms_do_not_modify_their_input():
    x = batch()
    kept = x.copy()
    for transform in ALL_TRANSFORMS:
        transform(x, np.random.default_rng(0))
    np.testing.assert_array_equal(x, kept)


def test_flip_of_a_known_array():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1) / 8
    horizontal = A.RandomFlip(horizontal=1.0)(x, np.random.default_rng(0))
    vertical = A.RandomFlip(horizontal=0.0, vertical=1.0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(horizontal[0, :, :, 0] * 8, [[2, 1, 0], [5, 4, 3]])
    np.testing.assert_array_equal(vertical[0, :, :, 0] * 8, [[3, 4, 5], [0, 1, 2]])


def test_rotation_by_90_degrees_is_rot90():
    x = batch(m=2, side=7)
    rotated = A.RandomRotation((90, 90))(x, np.random.default_rng(0))
    np.testing.assert_allclose(rotated, np.rot90(x, axes=(1, 2)), atol=1e-6)
    np.testing.assert_allclose(A.rotate(x, np.array([0.0, 0.0])), x, atol=1e-7)


def test_rotation_by_45_degrees_keeps_the_centre_and_blacks_the_corners():
    x = np.ones((1, 9, 9, 1), dtype=np.float32)
    rotated = A.rotate(x, np.array([45.0]))
    assert rotated[0, 4, 4, 0] == pytest.approx(1.0)
    assert rotated[0, 0, 0, 0] == 0.0


def test_zoom_reads_a_linear_image_exactly_where_the_source_is_inside():
    """Bilinear interpolation is exact on a plane: the value at (y, x) is f(c + (y - c) / z)."""
    side = 9
    y, x = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    plane = lambda y, x: 0.2 + 0.05 * y + 0.03 * x  # noqa: E731
    image = plane(y, x).astype(np.float64)[None, :, :, None]
    factors = np.array([1.5])
    zoomed = A.zoom(image, factors)[0, :, :, 0]
    c = (side - 1) / 2
    np.testing.assert_allclose(zoomed, plane(c + (y - c) / 1.5, c + (x - c) / 1.5), atol=1e-12)
    np.testing.assert_allclose(A.zoom(image, np.array([1.0])), image, atol=1e-12)


def test_zooming_out_shrinks_the_content_and_fills_the_border():
    image = np.ones((1, 9, 9, 1), np.float32)
    small = A.zoom(image, np.array([0.5]))[0, :, :, 0]
    assert small[4, 4] == 1.0  # the centre stays
    assert small[0, 0] == 0.0  # from outside the image: fill
    assert small[8, 4] == 0.0
    assert small.sum() < image.sum() / 2


def test_random_zoom_draws_its_factors_in_range():
    with pytest.raises(cm.InvalidArgumentError, match="zoom factors must be above 0"):
        A.RandomZoom(1.0)
    with pytest.raises(cm.InvalidArgumentError, match="zoom must be >= 0"):
        A.RandomZoom(-0.1)
    assert A.RandomZoom(0.1).factors == (0.9, 1.1)
    assert A.RandomZoom((1.0, 1.2)).factors == (1.0, 1.2)
    x = batch(m=64, side=9, channels=1)
    assert A.RandomZoom(0.0)(x, np.random.default_rng(0)) == pytest.approx(x, abs=1e-6)


def test_the_spec_names_zoom():
    (zoom,) = parse_augment("zoom", (28, 28, 1)).transforms
    assert isinstance(zoom, A.RandomZoom)
    assert zoom.factors == (0.9, 1.1)
    crop, rotate, zoom = parse_augment("crop:2,rotate:10,zoom:0.2", (28, 28, 1)).transforms
    assert (type(crop), type(rotate)) == (A.RandomCrop, A.RandomRotation)
    assert zoom.factors == pytest.approx((0.8, 1.2))
    with pytest.raises(cm.InvalidArgumentError, match="zoom"):
        parse_augment("zoom:0.95", (28, 28, 1))


def test_gaussian_smoothing_matrix():
    """G smooths with a normalised Gaussian cut at 4 sigma; what lies outside counts as 0."""
    G = A.gaussian_smoothing(30, 2.0)
    np.testing.assert_allclose(G, G.T)
    np.testing.assert_allclose(G[15].sum(), 1.0)  # the whole kernel inside the signal
    assert G[0].sum() < 0.6  # at the edge half the kernel reads 0
    k = np.arange(-8, 9)
    kernel = np.exp(-(k**2) / 8.0) / np.exp(-(k**2) / 8.0).sum()
    np.testing.assert_allclose(G[15, 7:24], kernel)
    assert G[15, 6] == 0.0
    assert G[15, 24] == 0.0
    constant = np.ones((30, 30))
    np.testing.assert_allclose((G @ constant @ G.T)[15, 15], 1.0)


def test_displace_shifts_by_whole_pixels_and_interpolates_a_plane():
    x = batch(m=2, side=7, channels=1)
    zero = np.zeros((2, 7, 7))
    np.testing.assert_array_equal(A.displace(x, zero, zero), x)
    left = A.displace(x, zero, zero + 1.0)  # each pixel reads its right neighbour
    np.testing.assert_allclose(left[:, :, :-1], x[:, :, 1:], atol=1e-7)
    assert np.all(left[:, :, -1] == 0.0)  # from outside the image: fill
    y, xs = np.meshgrid(np.arange(7), np.arange(7), indexing="ij")
    plane = (0.1 + 0.05 * y + 0.02 * xs)[None, :, :, None]
    d_y = np.full((1, 7, 7), 0.3)
    d_x = np.full((1, 7, 7), -0.6)
    inside = A.displace(plane, d_y, d_x)[0, :-1, 1:, 0]  # bilinear is exact on a plane
    np.testing.assert_allclose(inside, (plane[0, :, :, 0] + 0.05 * 0.3 - 0.02 * 0.6)[:-1, 1:])


def test_elastic_distortion_is_smooth_and_scaled_by_alpha():
    """The displacement is alpha G_H U G_W^T, U drawn from the generator given: the transform
    is that warp exactly; alpha = 0 changes nothing; neighbouring pixels move alike."""
    x = batch(m=4, side=28, channels=1)
    np.testing.assert_array_equal(A.RandomElastic(0.0)(x, np.random.default_rng(0)), x)
    got = A.RandomElastic(34.0, sigma=3.0)(x, np.random.default_rng(9))
    noise = np.random.default_rng(9).uniform(-1.0, 1.0, size=(2, 4, 28, 28))
    G = A.gaussian_smoothing(28, 3.0)
    d_y, d_x = 34.0 * (G @ noise @ G.T)
    np.testing.assert_allclose(got, np.clip(A.displace(x, d_y, d_x), 0.0, 1.0), atol=1e-6)
    swapped = np.clip(A.displace(x, d_x, d_y), 0.0, 1.0)
    assert np.abs(got - swapped).max() > 0.1  # the axes are not interchangeable
    field = 34.0 * (A.gaussian_smoothing(28, 4.0) @ noise @ A.gaussian_smoothing(28, 4.0).T)
    assert 1.0 < field.std() < 1.6  # Simard's values move pixels by about 1.3 (std)
    assert np.abs(np.diff(field, axis=-1)).mean() < 0.2 * field.std()  # neighbours move alike
    image = np.zeros((1, 28, 28, 1), np.float32)
    image[0, 10:18, 12:16] = 1.0  # a bar: its ink moves, and none appears from nowhere
    warped = A.RandomElastic(34.0)(image, np.random.default_rng(3))
    assert not np.array_equal(warped, image)
    assert abs(warped.sum() - image.sum()) < 0.3 * image.sum()
    assert warped[0, :3].sum() == 0.0
    assert warped[0, -3:].sum() == 0.0


def test_the_spec_names_elastic_and_refuses_bad_values():
    (elastic,) = parse_augment("elastic", (28, 28, 1)).transforms
    assert (elastic.alpha, elastic.sigma) == (34.0, 4.0)
    *_, elastic = parse_augment("crop:2,rotate:10,zoom:0.1,elastic:20", (28, 28, 1)).transforms
    assert elastic.alpha == 20.0
    for bad in ("elastic:-1", "elastic:nan", "elastic:inf", "elastic:1001"):
        with pytest.raises(
            cm.InvalidArgumentError, match=r"elastic.*a finite number in \[0, 1000\]"
        ):
            parse_augment(bad, (28, 28, 1))
    for sigma in (0.0, 1e-200, 1e9, True, "4"):
        with pytest.raises(cm.InvalidArgumentError, match=r"elastic sigma must be a finite number"):
            A.RandomElastic(34.0, sigma=sigma)


def test_crop_at_a_fixed_offset():
    x = batch(m=3, side=6)
    crop = A.RandomCrop(4, padding=1)
    out = crop(x, np.random.default_rng(5))
    replay = np.random.default_rng(5)
    dy = replay.integers(0, 6 + 2 - 4 + 1, 3)
    dx = replay.integers(0, 6 + 2 - 4 + 1, 3)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for i in range(3):
        np.testing.assert_array_equal(out[i], padded[i, dy[i] : dy[i] + 4, dx[i] : dx[i] + 4])
    centre = A.CenterCrop((2, 4))(x, np.random.default_rng(0))
    np.testing.assert_array_equal(centre, x[:, 2:4, 1:5])


def test_reflect_padding_mirrors_without_repeating_the_edge():
    row = np.array([1, 2, 3], dtype=np.float32) / 8
    x = np.tile(row, (1, 3, 1))[..., None]  # (1, 3, 3, 1)
    # a 5x5 crop of the 5x5 padded image has only the offset (0, 0)
    out = A.RandomCrop(5, padding=1, padding_mode="reflect")(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out[0, 0, :, 0] * 8, [2, 1, 2, 3, 2])
    zeros = A.RandomCrop(5, padding=1)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(zeros[0, 0, :, 0], 0)


def test_zero_sigma_noise_is_the_identity():
    x = batch()
    np.testing.assert_array_equal(A.GaussianNoise(0.0)(x, np.random.default_rng(0)), x)


def test_salt_and_pepper_amount():
    x = np.full((20, 20, 20, 3), 0.5, dtype=np.float32)
    out = A.SaltAndPepper(0.2, salt_ratio=0.25)(x, np.random.default_rng(0))
    salt = (out == 1).all(axis=-1).mean()
    pepper = (out == 0).all(axis=-1).mean()
    assert abs(salt - 0.05) < 0.01
    assert abs(pepper - 0.15) < 0.015


def test_hue_shift_of_a_pure_red_pixel():
    red = np.array([1.0, 0.0, 0.0], dtype=np.float32).reshape(1, 1, 1, 3)
    np.testing.assert_allclose(A.adjust_hue(red, np.array([1 / 3])), [[[[0, 1, 0]]]], atol=1e-6)
    np.testing.assert_allclose(A.adjust_hue(red, np.array([2 / 3])), [[[[0, 0, 1]]]], atol=1e-6)
    jitter = A.ColorJitter(hue=(1 / 3, 1 / 3))
    np.testing.assert_allclose(jitter(red, np.random.default_rng(0)), [[[[0, 1, 0]]]], atol=1e-6)


def test_hsv_round_trip_and_known_values():
    rgb = np.random.default_rng(1).random((50, 3))
    np.testing.assert_allclose(A.hsv_to_rgb(A.rgb_to_hsv(rgb)), rgb, atol=1e-12)
    np.testing.assert_allclose(A.rgb_to_hsv(np.array([0.0, 0.5, 0.5])), [0.5, 1.0, 0.5])
    np.testing.assert_allclose(A.rgb_to_hsv(np.array([0.3, 0.3, 0.3])), [0.0, 0.0, 0.3])


def test_brightness_contrast_saturation_and_grayscale():
    x = batch(m=2)
    np.testing.assert_allclose(
        A.adjust_brightness(x, np.array([0.0, 1.0])), [np.zeros_like(x[0]), x[1]]
    )
    flat = A.adjust_contrast(x, np.array([0.0, 0.0]))
    assert np.allclose(flat.std(axis=(1, 2, 3)), 0)
    gray = A.adjust_saturation(x, np.array([0.0, 0.0]))
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)
    y = A.Grayscale(channels=1)(x, np.random.default_rng(0))
    np.testing.assert_allclose(y[..., 0], x @ np.array([0.299, 0.587, 0.114], dtype=np.float32))


def test_presets():
    assert A.preset("none", (28, 28, 1)).transforms == []
    standard = A.preset("standard", (28, 28, 1))
    assert isinstance(standard.transforms[0], A.RandomCrop)
    assert standard.transforms[0].padding == 2
    cifar = A.preset("standard", (32, 32, 3))
    assert cifar.transforms[0].padding == 4
    assert isinstance(cifar.transforms[1], A.RandomFlip)
    with pytest.raises(cm.InvalidArgumentError, match="unknown augmentation preset"):
        A.preset("wild", (28, 28, 1))


def test_transform_input_errors():
    crop = A.RandomCrop(9)
    with pytest.raises(cm.ShapeError, match=r"\(m, n_H, n_W, n_C\)"):
        crop(np.zeros((9, 9, 1), np.float32), np.random.default_rng(0))
    with pytest.raises(cm.DTypeError, match="uint8"):
        crop(np.zeros((1, 9, 9, 1), np.uint8), np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match="Generator"):
        crop(np.zeros((1, 9, 9, 1), np.float32), 0)
    with pytest.raises(cm.ShapeError, match="does not fit"):
        A.RandomCrop(12)(np.zeros((1, 9, 9, 1), np.float32), np.random.default_rng(0))
    with pytest.raises(cm.InvalidArgumentError, match="probability"):
        A.RandomFlip(1.5)
    with pytest.raises(cm.InvalidArgumentError, match="hue"):
        A.ColorJitter(hue=0.7)

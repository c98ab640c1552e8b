"""Image folders: users' own pictures, and hostile image files."""

import os

import numpy as np
import pytest
from data_fixtures import png_with_declared_size

import convmath as cm
from convmath import data

Image = pytest.importorskip("PIL.Image")


def make_folder(root, classes=("cat", "dog"), per_class=3, size=(12, 10), color=False):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            shape = (*size, 3) if color else size
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{k}.png")
    (root / classes[0] / "notes.txt").write_text("ignored: not an image suffix")


def test_folder_classes_sorted_and_labels(tmp_path):
    make_folder(tmp_path, classes=("zebra", "ant"))
    images, labels, classes = data.read_image_folder(tmp_path)
    assert classes == ("ant", "zebra")
    assert images.shape == (6, 12, 10, 1)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])


def test_folder_resize_and_rgb(tmp_path):
    make_folder(tmp_path, color=True)
    images, _, _ = data.read_image_folder(tmp_path, mode="RGB", size=(8, 8))
    assert images.shape == (6, 8, 8, 3)
    gray, _, _ = data.read_image_folder(tmp_path, mode="L")
    assert gray.shape == (6, 12, 10, 1)


def test_folder_with_train_and_test_parts(tmp_path):
    make_folder(tmp_path / "train")
    make_folder(tmp_path / "test", classes=("dog",), per_class=2)
    train_images, _train_labels = data.load(str(tmp_path), "train")
    _test_images, test_labels = data.load(str(tmp_path), "test")
    assert len(train_images) == 6
    np.testing.assert_array_equal(test_labels, [1, 1])  # "dog" keeps the train label 1


def test_folder_without_test_part_carves_a_stratified_seeded_test_split(tmp_path):
    make_folder(tmp_path, per_class=5)
    train_images, train_labels = data.load(str(tmp_path), "train")
    test_images, test_labels = data.load(str(tmp_path), "test")
    assert len(train_labels) == 8
    np.testing.assert_array_equal(np.sort(test_labels), [0, 1])  # 20% of each class
    everything = data.read_image_folder(tmp_path)[0].reshape(10, -1)
    seen = {row.tobytes() for row in np.concatenate([train_images, test_images]).reshape(10, -1)}
    assert seen == {row.tobytes() for row in everything}  # disjoint parts covering the folder
    again = data.load(str(tmp_path), "test")[0]
    np.testing.assert_array_equal(again, test_images)  # the same carve every time
    assert "stratified 20%" in data.carved_test_note(str(tmp_path))
    assert data.carved_test_note("mnist") == ""


def test_folder_with_one_class_is_refused(tmp_path):
    make_folder(tmp_path, classes=("cat",))
    with pytest.raises(cm.DataError, match=r"at least 2 class folders, found \['cat'\]"):
        data.load(str(tmp_path), "train")


def test_folder_with_train_but_no_test_is_refused(tmp_path):
    make_folder(tmp_path / "train")
    with pytest.raises(cm.DataError, match="has train/ but no test/ folder"):
        data.load(str(tmp_path), "test")


def test_mixed_sizes_need_a_size(tmp_path):
    make_folder(tmp_path)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "dog" / "small.png")
    with pytest.raises(cm.DataError, match=r"small\.png: size"):
        data.read_image_folder(tmp_path)
    assert data.read_image_folder(tmp_path, size=(6, 6))[0].shape == (7, 6, 6, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not an image at all", "not a PNG or JPEG image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "not a PNG or JPEG image|truncated or corrupt"),
        (png_with_declared_size(8000, 8000), "64000000 pixels|decompression bomb"),
        (png_with_declared_size(40000, 40000), "not a PNG or JPEG image|decompression bomb"),
    ],
    ids=["garbage", "truncated-png", "bomb-64M-pixels", "bomb-1.6G-pixels"],
)
def test_hostile_image_files(tmp_path, content, message):
    make_folder(tmp_path)
    (tmp_path / "cat" / "evil.png").write_bytes(content)
    with pytest.raises(cm.DataError, match=message) as caught:
        data.read_image_folder(tmp_path)
    assert "evil.png" in str(caught.value)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(cm.DataError, match="no images found"):
        data.read_image_folder(tmp_path)
    with pytest.raises(cm.DataError, match="not a folder"):
        data.read_image_folder(tmp_path / "absent")


def test_class_folders_must_be_named_in_utf8(tmp_path):
    make_folder(tmp_path)
    os.mkdir(os.fsencode(tmp_path) + b"/cat\xff")
    with pytest.raises(cm.DataError, match="is not named in UTF-8; rename it"):
        data.read_image_folder(tmp_path)


def test_other_image_formats_in_a_class_folder_are_refused_not_skipped(tmp_path):
    make_folder(tmp_path)
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(tmp_path / "dog" / "scan.bmp")
    with pytest.raises(cm.DataError, match=r"scan.bmp: only PNG and JPEG images are read"):
        data.read_image_folder(tmp_path)

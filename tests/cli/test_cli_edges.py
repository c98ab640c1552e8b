"""The ``convmath edges`` command and the edge-detection helpers."""

import subprocess
import sys

import numpy as np
import pytest

import convmath as cm
from convmath.cli import main
from convmath.data import load_digits
from convmath.inspect.edges import detect_edges

Image = pytest.importorskip("PIL.Image")


def test_edges_on_an_embedded_digit_prints_the_maps(capsys):
    assert main(["edges", "--index", "3"]) == 0
    out = capsys.readouterr().out
    image = load_digits()[0][3]
    maps = detect_edges(image)
    assert "label 3" in out
    assert "n_H = floor((8 + 2*0 - 3) / 1) + 1 = 6" in out
    assert "image * VEF" in out
    first_row = " ".join(f"{v:.0f}".rjust(3) for v in maps.map("VEF")[0])
    assert first_row in out


def test_edge_maps_equal_a_direct_convolution():
    image = load_digits()[0][0].astype(np.float64)
    maps = detect_edges(image, padding=1)
    assert maps.map("VEF").shape == (8, 8)
    padded = np.pad(image, 1)
    expected = padded[1:4, 0:3].sum(axis=0) @ np.array([1.0, 0.0, -1.0])
    assert maps.map("VEF")[1, 0] == expected
    np.testing.assert_allclose(maps.magnitude, np.hypot(maps.map("VEF"), maps.map("HEF")))


def test_save_writes_a_png_of_four_panels(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out_file = tmp_path / "edges.png"
    assert main(["edges", "--index", "0", "--save", str(out_file)]) == 0
    with Image.open(out_file) as picture:
        assert picture.format == "PNG"
        assert picture.size == (1400, 380)
    assert f"saved {out_file}" in capsys.readouterr().out


def test_user_image_is_read_in_grayscale(tmp_path, capsys):
    picture = np.zeros((40, 30, 3), dtype=np.uint8)
    picture[:, :15] = 200  # a vertical edge down the middle
    path = tmp_path / "half.png"
    Image.fromarray(picture).save(path)
    assert main(["edges", "--image", str(path)]) == 0
    out = capsys.readouterr().out
    assert "40 x 30" in out
    assert "image * VEF: range 0 to 600, strongest at row 0, column 13" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["edges", "--index", "5000"], "--index must be in 0..1796"),
        (["edges", "--image", "missing.png"], "missing.png: cannot read"),
        (["edges", "--save", "out.jpg"], "--save writes a PNG"),
        (["edges", "--padding", "-1"], "--padding: expected an integer in [0, 256]"),
        (["edges", "--stride", "0"], "--stride: expected an integer in [1, 64]"),
        (["edges", "--filter", "diagonal"], "a filter is 'edges', 'vertical'"),
        (["edges", "--filter", "1,2,3"], "numbers, row by row (3x3), got '1,2,3'"),
        (["edges", "--filter", "1,2,3,4,5,6,7,8,nan"], "nine comma-separated numbers"),
        (["edges", "--filter", "1,2,3,4,5,6,7,8,1e7"], "at most 1e+06 in size"),
        (["edges", "--filter", ",".join(chr(0x661 + k) for k in range(9))], "nine comma-sep"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_not_an_image_file(tmp_path, capsys):
    path = tmp_path / "fake.png"
    path.write_bytes(b"this is not a PNG")
    assert main(["edges", "--image", str(path)]) == 2
    assert "not a PNG or JPEG image" in capsys.readouterr().err


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "convmath.cli", "edges", "--index", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "label 1" in result.stdout


def test_detect_edges_input_checks():
    with pytest.raises(cm.ShapeError, match="grayscale image"):
        detect_edges(np.zeros((4, 4, 3)))
    with pytest.raises(cm.InvalidArgumentError, match="NaN"):
        detect_edges(np.full((4, 4), np.nan))
    with pytest.raises(cm.ShapeError, match="n_H_prev=2, f=3"):
        detect_edges(np.zeros((2, 5)))


def test_save_with_padding_larger_than_the_filter_margin(tmp_path):
    pytest.importorskip("matplotlib")
    out_file = tmp_path / "padded.png"
    assert main(["edges", "--padding", "2", "--save", str(out_file)]) == 0
    with Image.open(out_file) as picture:
        assert picture.size == (1400, 380)


def test_stride_and_sobel_follow_the_output_size_formula(capsys):
    assert main(["edges", "--index", "3", "--stride", "2", "--filter", "sobel"]) == 0
    out = capsys.readouterr().out
    assert "filters: f = 3, p = 0, s = 2" in out
    assert "n_H = floor((8 + 2*0 - 3) / 2) + 1 = 3" in out
    image = load_digits()[0][3].astype(np.float64)
    maps = detect_edges(image, stride=2, filters="sobel")
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    for h in range(3):
        for w in range(3):  # Z[h, w] = sum of the window at (2h, 2w) times the filter
            assert maps.maps[0][h, w] == (image[2 * h : 2 * h + 3, 2 * w : 2 * w + 3] * sobel).sum()
    row = " ".join(f"{v:.0f}".rjust(3) for v in maps.maps[0][0])
    assert f"image * Sobel vertical:\n{row}" in out
    assert "edge magnitude sqrt(V^2 + H^2)" in out


def test_a_filter_of_your_own(capsys):
    assert main(["edges", "--index", "0", "--filter", "0,0,0,0,0.5,0,0,0,0"]) == 0
    out = capsys.readouterr().out
    assert "your filter filter:" not in out
    assert "image * your filter:" in out
    assert "magnitude" not in out  # one filter: no pair to combine
    image = load_digits()[0][0].astype(np.float64)
    half = " ".join(f"{v:.2f}".rjust(4) for v in image[1, 1:7] / 2)
    assert half in out  # the centre tap halves each pixel


def test_filter_spellings(capsys):
    assert main(["edges", "--filter=-1,0,1,-2,0,2,-1,0,1", "--index", "2"]) == 0
    assert "your filter:\n-1  0  1\n-2  0  2\n-1  0  1" in capsys.readouterr().out
    assert main(["edges", "--filter", " Sobel "]) == 0
    assert "Sobel vertical filter" in capsys.readouterr().out
    assert main(["edges", "--filter", "x" * 100_000]) == 2
    err = capsys.readouterr().err
    assert len(err) < 400  # the refused text is quoted, not echoed whole


def test_a_wrong_save_name_is_refused_before_any_output(capsys):
    assert main(["edges", "--save", "maps.jpg"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--save writes a PNG" in err

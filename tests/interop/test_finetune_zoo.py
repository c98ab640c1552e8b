"""A torchvision architecture, imported from ONNX, fine-tuned on MNIST by ``convmath train``.

torchvision's ``mobilenet_v3_small`` (random weights: no test downloads
ImageNet's) behind a 1x1 convolution that turns MNIST's gray channel into
three ImageNet-normalised ones, exported at 28x28 (opset 17, the TorchScript
exporter), its batch norms first recalibrated on 512 MNIST images
(``torchvision_models.gray_onnx`` says why). A pretrained network brings
statistics of its own.

``convmath train --init-from`` fine-tunes it one epoch on 2,000 MNIST
images with a new head (1000 -> 10 classes), and once more with its first
seven blocks frozen; the frozen weights come out bit-identical, every
command reads the checkpoint and the exported ONNX file agrees with
onnxruntime. The numbers on 5,000 images, and ResNet-18's, are in
docs/TRAINING.md.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
Image = pytest.importorskip("PIL.Image")

from torchvision_models import gray_onnx, torchvision_models  # noqa: E402

import convmath as cm  # noqa: E402
from convmath import data  # noqa: E402
from convmath.cli import main  # noqa: E402
from convmath.nn.transfer import freeze_until  # noqa: E402
from convmath.run import load_trained  # noqa: E402

MIDDLE = "1.features.features.7.block.block.0.block.0.0"  # the first convolution of block 7
TRAIN = ["--dataset", "mnist", "--train-limit", "2000", "--epochs", "1", "--new-head",
         "--optimizer", "adam", "--lr", "0.001", "--augment", "none"]  # fmt: skip


def run(argv: list) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def accuracy(printed: str) -> float:
    return float(printed.split("test accuracy ")[1].split(",")[0])


@pytest.fixture(scope="module")
def mnist() -> Path:
    root = Path(os.environ.get("CONVMATH_DATA", "/nonexistent"))
    if not (root / "mnist").is_dir():
        pytest.skip("the shared MNIST copy (../shared/datasets/mnist) is not here")
    return root


@pytest.fixture(scope="module")
def imported(mnist: Path, tmp_path_factory) -> Path:
    """mobilenet_v3_small (seed 0) behind the gray-to-ImageNet 1x1 convolution, as ONNX."""
    torchvision_models()  # or the skip saying what is missing
    path = tmp_path_factory.mktemp("torchvision") / "mobilenet_v3_small.onnx"
    images, _ = data.load("mnist", "train", mnist)
    gray_onnx("mobilenet_v3_small", images[-512:], path)
    return path


@pytest.fixture(scope="module")
def tuned(imported: Path, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("tuned") / "run"
    status, printed, err = run(["train", "--init-from", imported, *TRAIN, "--out", out])
    assert status == 0, err
    return out, printed


@pytest.fixture(scope="module")
def frozen(imported: Path, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("frozen") / "run"
    status, printed, err = run(
        ["train", "--init-from", imported, *TRAIN, "--freeze-until", MIDDLE, "--out", out]
    )
    assert status == 0, err
    return out, printed


@pytest.mark.slow
def test_the_new_head_replaces_imagenet_classes_and_learns_the_digits(tuned):
    _, printed = tuned
    assert "new head: Dense '1.classifier.3' 1024 -> 1000 replaced by a fresh Dense 1024 -> 10" in (
        printed
    )
    # On MNIST's 10,000 test images a guess is right 10% of the time, give or take 0.3%
    # (binomial standard deviation): 0.3 is over 60 of them away. Measured: 0.52.
    assert accuracy(printed) > 0.3


@pytest.mark.slow
def test_frozen_blocks_come_out_bit_identical(imported, frozen):
    out, printed = frozen
    reference, preprocessing, _ = load_trained(imported)
    count = freeze_until(reference, preprocessing.input_shape, MIDDLE)
    assert f"({count:,} parameters)" in printed
    names = [name for name, p in reference.named_parameters() if not p.requires_grad]
    assert names
    assert count == sum(p.size for p in reference.parameters() if not p.requires_grad)
    model, _, _ = load_trained(out / "last.safetensors")
    got, want = model.state_dict(), reference.state_dict()
    for name in names:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    trained = [name for name, p in reference.named_parameters() if p.requires_grad]
    moved = [name for name in trained if name in got and not np.array_equal(got[name], want[name])]
    assert len(moved) == len([name for name in trained if name in got]) > 0
    # Chance is 0.1 +- 0.003 as above; 0.2 is over 30 deviations away. Measured: 0.34 (the
    # frozen blocks hold random features).
    assert accuracy(printed) > 0.2


@pytest.mark.slow
def test_every_command_reads_the_checkpoint(tuned, tmp_path):
    out, printed = tuned
    best = out / "best.safetensors"
    digit = tmp_path / "seven.png"
    images, labels = data.load("mnist", "test")
    Image.fromarray(images[np.flatnonzero(labels == 7)[0], :, :, 0]).save(digit)
    said = {}
    for command in (["summary", best], ["evaluate", best], ["predict", best, digit]):
        status, said[command[0]], err = run(command)
        assert status == 0, (command, err)
    assert "1.classifier.3" in said["summary"]
    assert "(10000 images)" in said["evaluate"]
    assert f"accuracy {accuracy(printed):.4f}" in said["evaluate"]  # the run's own test number
    assert "seven.png: " in said["predict"]  # its three likeliest digits


@pytest.mark.slow
def test_the_fine_tuned_network_exports_to_onnx_and_onnxruntime_agrees(tuned, tmp_path):
    out, _ = tuned
    path = tmp_path / "tuned.onnx"
    status, _, err = run(["export", out / "best.safetensors", "--format", "onnx", "--out", path])
    assert status == 0, err
    onnx.checker.check_model(onnx.load(str(path)))
    model, preprocessing, _ = load_trained(out / "best.safetensors")
    images, _ = data.load("mnist", "test")
    x = preprocessing(images[:256])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with cm.no_grad():
        want = model(cm.Tensor(x)).data
    assert got.shape == (256, 10)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

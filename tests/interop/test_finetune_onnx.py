"""Export what you import: a PyTorch CNN, as ONNX, fine-tuned by convmath and exported back.

A small CNN is trained in PyTorch on the digits 0-4 (5 classes) and
exported to ONNX. ``convmath train --init-from`` fine-tunes it on all ten
digits with a new head and its first layers frozen; every command reads the
run's checkpoint; the run exports to ONNX (onnxruntime agrees with convmath)
and to PyTorch weights that the same PyTorch class, built for 10 classes,
loads strictly and computes with to the same logits.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
Image = pytest.importorskip("PIL.Image")

import convmath as cm  # noqa: E402
from convmath import data  # noqa: E402
from convmath.cli import main  # noqa: E402
from convmath.run import load_trained  # noqa: E402

FROZEN = ("conv1.W", "conv1.b", "bn1.gamma", "bn1.beta", "bn1.running_mean", "bn1.running_var")


class Net(torch.nn.Module):
    """conv 8@3x3, ReLU, BN, conv 16@3x3, ReLU, max pool 2, FC 32, ReLU, FC classes."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)  # after the ReLU: PyTorch cannot fold it away
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc1 = torch.nn.Linear(16 * 4 * 4, 32)
        self.fc = torch.nn.Linear(32, classes)

    def forward(self, x):
        x = self.bn1(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.relu(self.fc1(torch.flatten(x, 1))))


def run(argv: list) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """The PyTorch CNN trained on the digits 0-4 (3 epochs), as an ONNX file."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        images, labels = data.load("digits", "train")
        keep = labels < 5
        X = torch.from_numpy((images[keep] / 16).astype(np.float32).transpose(0, 3, 1, 2).copy())
        y = torch.from_numpy(labels[keep].astype(np.int64))
        net = Net(5)
        optimizer = torch.optim.Adam(net.parameters(), 3e-3)
        for _ in range(3):
            for batch in torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).split(
                32
            ):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(net(X[batch]), y[batch]).backward()
                optimizer.step()
        net.eval()
        path = tmp_path_factory.mktemp("torch") / "digits5.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                torch.zeros(1, 1, 8, 8),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "N"}},
                dynamo=False,
            )
    finally:
        torch.set_num_threads(threads)
    return path


@pytest.fixture(scope="module")
def tuned(pretrained: Path, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("tuned") / "run"
    status, printed, err = run(
        ["train", "--init-from", pretrained, "--new-head", "--freeze-until", "conv2",
         "--epochs", "3", "--lr", "0.01", "--augment", "none", "--out", out]
    )  # fmt: skip
    assert status == 0, err
    return out, printed


@pytest.mark.slow
def test_the_banner_says_what_was_replaced_and_what_trains(tuned):
    _, printed = tuned
    assert "new head: Dense 'fc' 32 -> 5 replaced by a fresh Dense 32 -> 10" in printed
    # conv1 (9+1)*8 and bn1 2*8 frozen; conv2 (72+1)*16, fc1 (256+1)*32, fc (32+1)*10 train
    assert "frozen: the layers before 'conv2' (96 parameters" in printed
    assert "9,722 of 9,818 parameters train" in printed
    accuracy = float(printed.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.8  # ten classes: chance is 0.1


@pytest.mark.slow
def test_frozen_weights_are_bit_identical_to_the_imported_ones(pretrained, tuned):
    out, _ = tuned
    imported, _, _ = load_trained(pretrained)
    model, _, stored = load_trained(out / "last.safetensors")
    assert stored["model"]["name"] == "layers"
    for name in FROZEN:
        np.testing.assert_array_equal(model.state_dict()[name], imported.state_dict()[name])
    assert not np.array_equal(model.state_dict()["conv2.W"], imported.state_dict()["conv2.W"])


@pytest.mark.slow
def test_every_command_reads_the_checkpoint(tuned, tmp_path):
    out, _ = tuned
    best = out / "best.safetensors"
    digit = tmp_path / "d.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(digit)
    for argv in (
        ["summary", best],
        ["explain", best, "--backward"],
        ["evaluate", best],
        ["predict", best, digit],
        ["featuremaps", best, digit, "--out", tmp_path / "maps.png"],
        ["filters", best, "--out", tmp_path / "filters.png"],
    ):
        status, printed, err = run(argv)
        assert status == 0, (argv, err)
        assert printed
    status, printed, err = run(["train", "--resume", out / "last.safetensors", "--epochs", "4"])
    assert status == 0, err
    assert "resuming" in printed


@pytest.mark.slow
def test_the_fine_tuned_run_exports_to_onnx_and_onnxruntime_agrees(tuned, tmp_path):
    out, _ = tuned
    path = tmp_path / "tuned.onnx"
    status, _, err = run(["export", out / "best.safetensors", "--out", path])
    assert status == 0, err
    model, preprocessing, _ = load_trained(out / "best.safetensors")
    images, _ = data.load("digits", "test")
    x = preprocessing(images)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    with cm.no_grad():
        want = model(cm.Tensor(x)).data
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert got.shape == (359, 10)


@pytest.mark.slow
def test_the_fine_tuned_run_exports_pytorch_weights_the_torch_class_loads(tuned, tmp_path):
    from safetensors.torch import load_file

    out, _ = tuned
    path = tmp_path / "tuned.torch.safetensors"
    status, _, err = run(["export", out / "best.safetensors", "--format", "torch", "--out", path])
    assert status == 0, err
    net = Net(10).eval()
    net.load_state_dict(load_file(str(path)), strict=True)
    model, preprocessing, _ = load_trained(out / "best.safetensors")
    images, _ = data.load("digits", "test")
    x = preprocessing(images[:64])
    with cm.no_grad():
        want = model(cm.Tensor(x)).data
    with torch.no_grad():
        got = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

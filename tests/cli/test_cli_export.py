"""``convmath export`` and the commands that take an ONNX file where they take a checkpoint."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
Image = pytest.importorskip("PIL.Image")

from convmath import data  # noqa: E402
from convmath.cli import main  # noqa: E402
from convmath.errors import InvalidArgumentError  # noqa: E402
from convmath.run import TrainConfig, load_trained, run_training  # noqa: E402
from convmath.train.checkpoint import atomic_write  # noqa: E402


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A digits model trained for 2 epochs, exported to ONNX by the command."""
    root = tmp_path_factory.mktemp("export")
    run_training(TrainConfig(epochs=2, seed=3), root / "run", log=lambda _: None)
    status, out, err = run(["export", root / "run" / "best.safetensors"])
    assert status == 0, err
    assert out.startswith(f"saved {root / 'run' / 'best.onnx'}: digits_cnn, opset 17, input")
    return root / "run"


def test_onnxruntime_agrees_with_convmath_on_the_whole_digits_test_split(trained: Path) -> None:
    model, preprocessing, _config = load_trained(trained / "best.safetensors")
    images, labels = data.load("digits", "test")
    x = preprocessing(images)
    session = ort.InferenceSession(str(trained / "best.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    import convmath as cm

    with cm.no_grad():
        want = model(cm.Tensor(x)).data
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert len(labels) == 359
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()


def test_evaluate_gives_the_same_figures_from_the_onnx_file(trained: Path) -> None:
    status, from_checkpoint, _ = run(["evaluate", trained / "best.safetensors"])
    assert status == 0
    status, from_onnx, err = run(["evaluate", trained / "best.onnx"])
    assert status == 0, err
    assert from_onnx.splitlines()[1:] == from_checkpoint.splitlines()[1:]  # all but the title
    assert "accuracy" in from_onnx.splitlines()[1]


def test_summary_explain_predict_filters_and_featuremaps_take_the_onnx_file(trained, tmp_path):
    onnx_file = trained / "best.onnx"
    status, summary, err = run(["summary", onnx_file])
    assert status == 0, err
    assert "conv1" in summary
    assert summary.splitlines()[0] == f"digits_cnn from {onnx_file}"
    _, from_checkpoint, _ = run(["summary", trained / "best.safetensors"])
    assert summary.splitlines()[-1] == from_checkpoint.splitlines()[-1]  # the same totals
    status, explained, err = run(["explain", onnx_file, "--backward"])
    assert status == 0, err
    assert "dW" in explained
    digit = tmp_path / "d.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(digit)
    status, predicted, err = run(["predict", onnx_file, digit])
    assert status == 0, err
    _, by_checkpoint, _ = run(["predict", trained / "best.safetensors", digit])
    assert predicted == by_checkpoint
    status, _, err = run(["filters", onnx_file, "--out", tmp_path / "f.png"])
    assert status == 0, err
    assert (tmp_path / "f.png").stat().st_size > 0
    status, _out, err = run(["featuremaps", onnx_file, digit, "--out", tmp_path / "m.png"])
    assert status == 0, err
    assert (tmp_path / "m.png").stat().st_size > 0


def test_nchw_input_and_another_opset_are_written_as_asked(trained: Path, tmp_path) -> None:
    out = tmp_path / "nchw.onnx"
    status, printed, err = run(
        ["export", trained / "best.safetensors", "--nchw-input", "--opset", "13", "--out", out]
    )
    assert status == 0, err
    assert "input (N, 1, 8, 8) NCHW" in printed
    proto = onnx.load(str(out))
    assert proto.opset_import[0].version == 13
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, 8, 8]


def test_train_init_from_an_onnx_file_fine_tunes_its_weights(trained: Path, tmp_path) -> None:
    result = run_training(
        TrainConfig(epochs=1, seed=9, init_from=str(trained / "best.onnx"), lr=1e-9),
        tmp_path / "tuned",
        log=lambda _: None,
    )
    start, _, _ = load_trained(trained / "best.safetensors")
    tuned, _, _ = load_trained(tmp_path / "tuned" / "last.safetensors")
    for name, array in start.state_dict().items():  # a learning rate of 1e-9 barely moves them
        if "running" not in name:
            np.testing.assert_allclose(tuned.state_dict()[name], array, atol=1e-5, err_msg=name)
    assert result.state.epoch == 1


def test_a_foreign_onnx_file_without_a_dataset_asks_for_one(trained: Path, tmp_path) -> None:
    proto = onnx.load(str(trained / "best.onnx"))
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, foreign)
    status, _, err = run(["evaluate", foreign])
    assert status == 2
    assert "does not say which dataset it was trained on; pass --dataset" in err
    status, _out, err = run(["evaluate", foreign, "--dataset", "digits"])
    assert status == 0, err  # without its normalisation the figures differ, but it runs
    assert "on digits test (359 images)" in _out


def test_export_of_a_missing_checkpoint_is_one_line(tmp_path) -> None:
    status, _, err = run(["export", tmp_path / "none.safetensors"])
    assert status == 2
    assert len(err.splitlines()) == 1


def test_export_format_torch_writes_a_state_dict_pytorch_loads_strictly(trained, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    from convmath.interop.torch_models import torch_module

    out = tmp_path / "w.safetensors"
    status, printed, err = run(
        ["export", trained / "best.safetensors", "--format", "torch", "--out", out]
    )
    assert status == 0, err
    assert printed == f"saved {out}: digits_cnn's weights as a PyTorch state_dict\n"
    model, preprocessing, _ = load_trained(trained / "best.safetensors")
    net = torch_module("digits_cnn", preprocessing.input_shape, 10).eval()
    net.load_state_dict(load_file(out), strict=True)
    images, _ = data.load("digits", "test")
    x = preprocessing(images[:50])
    import convmath as cm

    with cm.no_grad():
        want = model(cm.Tensor(x)).data
    with torch.no_grad():
        got = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_export_never_overwrites_the_file_it_reads(trained: Path) -> None:
    before = (trained / "best.onnx").read_bytes()
    status, _, err = run(["export", trained / "best.onnx"])
    assert status == 2
    assert "is the file being exported; choose another --out" in err
    assert (trained / "best.onnx").read_bytes() == before


def test_export_replaces_an_existing_file_only_with_overwrite(trained: Path, tmp_path) -> None:
    status, _, err = run(["export", trained / "best.safetensors"])  # best.onnx is there already
    assert status == 2
    assert err == (
        f"convmath export: error: {trained / 'best.onnx'} exists; pass --overwrite to replace"
        " it, or choose another --out\n"
    )
    out = tmp_path / "model.onnx"
    out.write_text("an older model")
    status, _, err = run(["export", trained / "best.safetensors", "--out", out])
    assert status == 2
    assert out.read_text() == "an older model"
    status, printed, err = run(
        ["export", trained / "best.safetensors", "--out", out, "--overwrite"]
    )
    assert status == 0, err
    assert printed.startswith(f"saved {out}: digits_cnn")
    onnx.checker.check_model(onnx.load(str(out)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary left


def test_a_file_that_appears_while_export_writes_is_kept(tmp_path, monkeypatch) -> None:
    """The name is taken only if it is free when the written file gets it (a hard link)."""
    out = tmp_path / "model.onnx"
    real_fsync = os.fsync

    def someone_writes_meanwhile(fd: int) -> None:
        real_fsync(fd)
        if not out.exists():
            out.write_text("written meanwhile")

    monkeypatch.setattr(os, "fsync", someone_writes_meanwhile)
    with pytest.raises(InvalidArgumentError, match=r"model\.onnx exists; not replaced"):
        atomic_write(out, b"new", overwrite=False)
    assert out.read_text() == "written meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    atomic_write(out, b"new")  # overwrite=True, the default, replaces it
    assert out.read_bytes() == b"new"

"""``convmath export`` and the commands that take an ONNX file where they take a checkpoint."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
Image = pytest.importorskip("PIL.Image")

import convmath as cm  # noqa: E402
from convmath import data  # noqa: E402
from convmath.cli import main  # noqa: E402
from convmath.errors import InvalidArgumentError  # noqa: E402
from convmath.run import TrainConfig, load_trained, run_training, with_preprocessing  # noqa: E402
from convmath.serve.served import ServedModel  # noqa: E402
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


def _foreign(trained: Path, tmp_path: Path) -> Path:
    """The digits model's ONNX file as PyTorch would write it: no convmath.config."""
    proto = onnx.load(str(trained / "best.onnx"))
    del proto.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(proto, foreign)
    return foreign


def test_an_onnx_file_from_elsewhere_told_its_preprocessing_works_as_convmaths_own(
    trained: Path, tmp_path
) -> None:
    foreign = _foreign(trained, tmp_path)
    _, known, _ = load_trained(trained / "best.safetensors")
    # the digits' pixels count 0 to 16, and a file from elsewhere reads raw/255: the same
    # X = (raw/16 - mean) / std is (raw/255 - mean*16/255) / (std*16/255)
    ratio = np.float32(1 / (known.scale * 255))
    mean, std = known.mean * ratio, known.std * ratio
    numbers = lambda values: ",".join(repr(float(v)) for v in values)  # noqa: E731
    names = [f"digit {k}" for k in range(10)]
    told = tmp_path / "told.onnx"
    before = foreign.read_bytes()
    status, out, err = run(
        [
            "export", foreign, "--out", told, "--mean", numbers(mean),
            "--std", numbers(std), "--class-names", ",".join(names),
        ]
    )  # fmt: skip
    assert status == 0, err
    assert out.startswith(f"saved {told}: foreign.onnx's graph, its inputs X = (raw/255 - mean)")
    assert foreign.read_bytes() == before  # the file read is never changed
    _, preprocessing, config = load_trained(told)
    np.testing.assert_array_equal(preprocessing.mean, mean)
    np.testing.assert_array_equal(preprocessing.std, std)
    assert list(preprocessing.classes) == names
    assert config["model"]["name"] == "ONNX told.onnx"
    assert onnx.load(str(told)).graph == onnx.load(str(foreign)).graph  # the graph untouched
    # the commands: the checkpoint's own figures, with the classes named
    _, by_checkpoint, _ = run(["evaluate", trained / "best.safetensors"])
    status, by_told, err = run(["evaluate", told, "--dataset", "digits"])
    assert status == 0, err
    assert by_told.splitlines()[1] == by_checkpoint.splitlines()[1]  # accuracy and loss
    per_class = lambda text: [line.split()[-2:] for line in text.splitlines()[4:14]]  # noqa: E731
    assert per_class(by_told) == per_class(by_checkpoint)
    assert by_told.splitlines()[4].startswith("digit 0")
    digit = tmp_path / "d.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(digit)
    status, predicted, err = run(["predict", told, digit])
    assert status == 0, err
    assert "digit " in predicted
    # told again: what is left out stays as it was told
    again = tmp_path / "again.onnx"
    status, _, err = run(["export", told, "--out", again, "--std", "0.5"])
    assert status == 0, err
    _, retold, _ = load_trained(again)
    np.testing.assert_array_equal(retold.mean, mean)
    assert retold.std.tolist() == [0.5]
    assert list(retold.classes) == names


def test_python_tells_a_file_from_elsewhere_as_the_command_does(trained: Path, tmp_path) -> None:
    foreign = _foreign(trained, tmp_path)
    out = with_preprocessing(foreign, tmp_path / "py.onnx", mean=0.25, std=[0.5])
    _, preprocessing, _ = cm.load(out)
    assert (preprocessing.mean.tolist(), preprocessing.std.tolist()) == ([0.25], [0.5])
    assert preprocessing.classes == tuple(str(k) for k in range(10))  # left as they were
    served = ServedModel.load(out)  # the page reads it as the commands do
    assert served.preprocessing.mean.tolist() == [0.25]
    with pytest.raises(InvalidArgumentError, match="exists"):
        with_preprocessing(foreign, out, mean=0.1)  # over a file only with overwrite
    with_preprocessing(foreign, out, mean=0.1, overwrite=True)
    assert cm.load(out)[1].mean.tolist() == [pytest.approx(0.1)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mean", "0.1,0.2"], "its graph takes 1 channel; mean needs 1 value, got 2"),
        (["--class-names", "a,b"], "gives 10 class scores, and 2 class names were given"),
        (["--class-names", "a,,b,c,d,e,f,g,h,i"], "classes"),
        (["--std", "0"], "argument --std: expected a list"),
        (["--mean", "0.1", "--opset", "13"], "leave out --nchw-input and --opset"),
        (["--mean", "0.1", "--format", "torch"], "tell an ONNX file from elsewhere"),
    ],
)
def test_telling_a_file_from_elsewhere_refuses_what_does_not_fit(
    trained: Path, tmp_path, options, message
) -> None:
    foreign = _foreign(trained, tmp_path)
    status, _, err = run(["export", foreign, "--out", tmp_path / "x.onnx", *options])
    assert status == 2
    assert message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_convmaths_own_export_is_not_told_another_preprocessing(trained: Path, tmp_path) -> None:
    status, _, err = run(
        ["export", trained / "best.onnx", "--out", tmp_path / "x.onnx", "--std", "1"]
    )
    assert status == 2
    assert "is convmath's own export: it stores its preprocessing already (mean" in err


def test_a_file_from_elsewhere_exported_again_reads_back(trained: Path, tmp_path) -> None:
    foreign = _foreign(trained, tmp_path)
    status, _, err = run(["export", foreign, "--out", tmp_path / "again.onnx"])
    assert status == 0, err
    _, preprocessing, config = load_trained(tmp_path / "again.onnx")
    assert config["model"]["name"] == "ONNX again.onnx"
    assert preprocessing.mean.tolist() == [0.0]


@pytest.mark.parametrize(
    ("preprocessing", "message"),
    [
        ({"mean": [float("nan")]}, "its convmath.config: refused JSON: NaN"),
        ({"std": [0.0]}, "preprocessing"),
        ({"classes": ["a", "b"]}, "describes (8, 8, 1) inputs and 2 classes"),
        ({"input_shape": [9, 9, 1]}, "describes (9, 9, 1) inputs"),
    ],
)
def test_a_told_file_whose_preprocessing_does_not_fit_is_refused_by_name(
    trained: Path, tmp_path, preprocessing, message
) -> None:
    told = tmp_path / "told.onnx"
    run(["export", _foreign(trained, tmp_path), "--out", told, "--mean", "0.5"])
    proto = onnx.load(str(told))
    config = json.loads(proto.metadata_props[0].value)
    config["preprocessing"] |= preprocessing
    proto.metadata_props[0].value = json.dumps(config)
    onnx.save(proto, told)
    status, _, err = run(["predict", told, tmp_path / "none.png"])
    assert status == 2
    assert str(told) in err
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"mean": "0.5"}, "mean is a number or a list of numbers, got '0.5'"),
        ({"mean": [[0.1]]}, "mean is a number or a list of numbers"),
        ({"std": [True]}, "std is a number or a list of numbers"),
        ({"classes": "0123456789"}, "classes is a list of names, got the text"),
        ({"out": "told.model"}, "a told file must be named .onnx, got '.model'"),
    ],
)
def test_python_refuses_what_is_not_a_preprocessing_naming_the_file(
    trained: Path, tmp_path, given, message
) -> None:
    foreign = _foreign(trained, tmp_path)
    out = tmp_path / given.pop("out", "told.onnx")
    with pytest.raises(InvalidArgumentError, match=message):
        with_preprocessing(foreign, out, **given)
    assert not out.exists()


def test_numpy_numbers_are_numbers(trained: Path, tmp_path) -> None:
    foreign = _foreign(trained, tmp_path)
    out = with_preprocessing(foreign, tmp_path / "np.onnx", mean=np.float32(0.5), std=np.ones(1))
    assert cm.load(out)[1].mean.tolist() == [0.5]


def test_told_by_default_beside_the_file_and_names_printed_safely(trained: Path, tmp_path):
    foreign = _foreign(trained, tmp_path)
    names = ["a\x1b]0;owned\x07", *"bcdefghij"]
    with_preprocessing(foreign, tmp_path / "named.onnx", classes=names)
    status, out, err = run(["export", tmp_path / "named.onnx", "--std", "0.5"])
    assert status == 0, err
    assert (tmp_path / "named-told.onnx").is_file()  # F.onnx -> F-told.onnx
    assert "\x1b" not in out
    assert "a\\x1b]0;owned\\x07" in out

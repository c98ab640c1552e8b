"""The model served when no run exists: LeNet-5 trained on MNIST, shipped in the package."""

from convmath.cli import main
from convmath.serve.served import DEFAULT_MODEL, ServedModel


def test_the_default_model_is_a_small_lenet5_of_mnist():
    served = ServedModel.default()
    assert DEFAULT_MODEL.stat().st_size < 400_000
    assert served.config["model"]["name"] == "lenet5"
    assert served.config["dataset"] == "mnist"
    assert served.input_shape == (28, 28, 1)
    assert served.classes == [str(k) for k in range(10)]
    assert (DEFAULT_MODEL.parent / "PROVENANCE.md").is_file()


def test_its_test_accuracy_is_what_the_docs_state(mnist_dir, capsys):
    """docs/SERVE.md: 98.25% on MNIST's 10,000 test images (convmath evaluate)."""
    assert main(["evaluate", str(DEFAULT_MODEL), "--data-dir", str(mnist_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("accuracy 0.9825, loss 0.1535") for line in lines), lines[:3]
    with open(DEFAULT_MODEL.parents[3] / "docs" / "SERVE.md", encoding="utf-8") as docs:
        assert "98.25%" in docs.read()


def test_its_provenance_names_the_command_and_the_licence():
    text = (DEFAULT_MODEL.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "convmath train --model lenet5 --dataset mnist --epochs 1 --seed 0" in text
    assert "CC BY-SA 3.0" in text

"""The closest known name to an unknown one, the "did you mean" of every message."""

import pytest

from convmath.errors import did_you_mean

DATASETS = ["cifar10", "digits", "fashion-mnist", "mnist"]
OPTIONS = ["--epochs", "--out", "--seed", "--data-dir", "--batch-size", "--help"]


@pytest.mark.parametrize(
    ("name", "choices", "suggested"),
    [
        ("mnsit", DATASETS, "mnist"),
        ("MNSIT", DATASETS, "mnist"),  # case does not count
        ("Fashion_MNIST", DATASETS, "fashion-mnist"),
        ("--epcohs", OPTIONS, "--epochs"),
        ("--batchsize", OPTIONS, "--batch-size"),
        ("trian", ["train", "evaluate", "predict"], "train"),
    ],
)
def test_a_close_name_is_suggested_quoted_at_the_end_of_a_message(name, choices, suggested):
    assert did_you_mean(name, choices) == f"; did you mean {suggested!r}?"


@pytest.mark.parametrize(
    "name",
    ["imagenet", "--bogus", "", "-", "x" * 1000, None, 3],  # --bogus: the dashes do not count
)
def test_nothing_is_suggested_when_no_name_is_close(name):
    assert did_you_mean(name, DATASETS + OPTIONS) == ""


def test_a_suggestion_is_one_of_the_choices_as_written():
    assert did_you_mean("Digits", {"digits": 1, "mnist": 2}) == "; did you mean 'digits'?"

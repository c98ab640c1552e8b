"""Live training: what it trains (the served architecture on its dataset, or it says why not),
and its loss every few steps from the first ones, through the trainer of ``convmath train``."""

import dataclasses
import itertools

import numpy as np
import pytest
from api_client import call
from data_fixtures import write_idx_dataset

from convmath.run import TrainConfig
from convmath.serve.live_training import HISTORY_KEYS, LiveTraining, plan_for
from convmath.serve.served import ServedModel


def test_the_served_run_is_trained_again_with_its_own_settings(served):
    plan = call(served.url, "/api/model")[1]["live_training"]
    assert plan["same_as_served"] is True
    assert (plan["model"], plan["dataset"]) == ("digits_cnn", "digits")
    assert plan["note"] == ""
    assert plan["label_smoothing"] == 0.1
    assert any("label smoothing 0.1" in line for line in plan["settings"])


def test_the_default_model_is_trained_on_mnist_where_mnist_is(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "mnist", np.random.default_rng(0), m_train=40, m_test=10)
    monkeypatch.setenv("CONVMATH_DATA", str(tmp_path))
    plan = plan_for(ServedModel.default().config, 3)
    assert plan.same_as_served
    assert (plan.config.model, plan.config.dataset, plan.config.epochs) == ("lenet5", "mnist", 3)


def test_without_its_dataset_the_page_trains_the_digits_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVMATH_DATA", str(tmp_path / "nothing here"))
    plan = plan_for(ServedModel.default().config)
    assert not plan.same_as_served
    assert plan.config == TrainConfig(epochs=plan.config.epochs).checked()
    assert "mnist is not on this machine" in plan.note
    assert "training digits_cnn on the embedded digits instead" in plan.note
    described = plan.describe()
    assert (described["model"], described["dataset"]) == ("digits_cnn", "digits")


def test_a_model_of_no_known_name_is_not_trained_in_its_place():
    plan = plan_for({"model": {"name": "mypackage.nets:tiny"}, "dataset": None})
    assert not plan.same_as_served
    assert "'mypackage.nets:tiny' names no architecture and dataset" in plan.note


def test_the_loss_comes_every_few_steps_from_the_first_ones(served, tmp_path):
    training = LiveTraining(tmp_path)
    training.start(2, served.app.model().config)
    training.wait(120)
    status = training.status()
    assert status["state"] == "finished", status["error"]
    points, steps = status["points"], status["steps"]
    # the embedded digits: 45 steps an epoch, a point at each (at most 100 an epoch)
    assert len(points) == 2 * steps
    assert points[0]["epoch"] == 1 / steps  # the first point after the first step
    assert points[-1]["epoch"] == 2
    assert all(a["epoch"] < b["epoch"] for a, b in itertools.pairwise(points))
    assert all(np.isfinite(p["train_loss"]) and 0 <= p["train_accuracy"] <= 1 for p in points)
    # an epoch's train loss is the mean of its steps' (weighted by their examples: only the
    # last batch may be smaller)
    first = [p["train_loss"] for p in points[:steps]]
    assert status["history"][0]["train_loss"] == pytest.approx(np.mean(first), rel=0.02)
    assert set(status["history"][0]) == set(HISTORY_KEYS)
    assert status["images_per_second"] > 0
    assert status["plan"]["model"] == "digits_cnn"


def test_a_fine_tuned_run_is_trained_again_from_fresh_weights(served):
    """The served architecture by name, its run's settings, none of the fine-tuning's."""
    config = dict(served.app.model().config)
    config["training"] = dataclasses.replace(
        config["training"], init_from="elsewhere.safetensors", new_head=True, freeze_until="fc1"
    )
    plan = plan_for(config, 2)
    assert plan.same_as_served
    assert plan.config.model == "digits_cnn"
    assert (plan.config.init_from, plan.config.new_head, plan.config.freeze_until) == (
        None,
        False,
        None,
    )

"""Each training setting is declared once, and every door agrees with the declaration.

The command's options, TrainConfig, fit's keywords and the checkpoint's
schema are all made from :data:`convmath.train.config.SETTINGS`; these tests
check that nothing drifted from it (a door added by hand would).
"""

import argparse
import dataclasses
import inspect

import pytest

from convmath.cli import build_parser
from convmath.errors import CheckpointError, InvalidArgumentError
from convmath.models import BUILD_ARGUMENTS
from convmath.run import run_training
from convmath.train import TrainConfig, fit
from convmath.train.config import ABSENT, FIT_DEFAULTS, RECIPES, SETTINGS, recipe_config
from convmath.train.trained import check_run_config

# the options of convmath train that are not training settings: the run's own
RUN_OPTIONS = {
    "depth", "width", "dropout", "recipe", "out", "resume", "overwrite", "threads", "autotune",
    "trust_code",
}  # fmt: skip
# the options of convmath lr-find that are not training settings: the range test's own
LR_FIND_OPTIONS = {"depth", "width", "dropout", "recipe", "start_lr", "end_lr", "steps", "plot",
                   "threads"}  # fmt: skip


def _train_options(command: str = "train") -> dict[str, argparse.Action]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        a.dest: a
        for a in commands.choices[command]._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction)
    }


def test_trainconfig_is_the_table():
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert list(fields) == list(SETTINGS)
    defaults = TrainConfig()
    for name, declared in SETTINGS.items():
        assert declared.name == name
        assert getattr(defaults, name) == declared.default, name
        assert declared.spec.check(declared.default, name) == declared.default, name


def test_every_setting_with_an_option_is_that_option():
    options = _train_options()
    for name, declared in SETTINGS.items():
        if not declared.option:
            assert name not in options
            continue
        action = options[name]
        assert action.option_strings == [declared.flag]
        assert action.help == declared.option_help()
        assert action.default is None  # not given: TrainConfig's default, the same one
    assert set(options) - set(SETTINGS) == RUN_OPTIONS


def test_lr_find_takes_the_settings_that_shape_a_step_as_train_does():
    train, options = _train_options(), _train_options("lr-find")
    for name, declared in SETTINGS.items():
        if declared.option and declared.range_test:
            assert options[name].option_strings == train[name].option_strings
            assert options[name].help == train[name].help
        else:
            assert name not in options
    assert set(options) - set(SETTINGS) == LR_FIND_OPTIONS
    assert {n for n, s in SETTINGS.items() if not s.range_test} == {
        "epochs", "lr", "schedule", "gamma", "step_epochs", "warmup_epochs", "patience", "sync_bn"
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_is_settings_the_table_checks(name):
    recipe = RECIPES[name]
    assert set(recipe.settings) <= set(SETTINGS)
    config = recipe_config(name).checked(dataset_must_exist=False)
    for key, value in recipe.settings.items():
        assert getattr(config, key) == value, key
    assert recipe.about


def test_settings_given_override_the_recipe_and_model_options_merge():
    config = recipe_config("mnist-best", epochs=2, model_options={"width": 8})
    assert config.epochs == 2
    assert config.model_options == {"width": 8, "dropout": 0.4}
    assert config.batch_size == RECIPES["mnist-best"].settings["batch_size"]
    assert recipe_config(None, epochs=3) == TrainConfig(epochs=3)
    with pytest.raises(InvalidArgumentError, match="unknown recipe 'nope'; expected one of"):
        recipe_config("nope")


def test_an_option_parses_to_the_value_the_spec_checks():
    parser = build_parser()
    for name, declared in SETTINGS.items():
        if not declared.option or declared.default is None or declared.default is False:
            continue
        text = f"{declared.default}"
        args = parser.parse_args(["train", declared.flag, text])
        assert getattr(args, name) == declared.default, name
    args = parser.parse_args(["train", "--nesterov", "--color", "--sync-bn"])
    assert args.nesterov is args.color is args.sync_bn is True
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--epochs", "0"])


def test_fit_takes_the_settings_the_table_gives_it_with_those_defaults():
    parameters = inspect.signature(fit).parameters
    keywords = {n: p for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    taken = {name: p.default for name, p in keywords.items() if name in SETTINGS}
    assert taken == FIT_DEFAULTS
    assert set(FIT_DEFAULTS) == {n for n, s in SETTINGS.items() if s.fit is not ABSENT}
    # fit's own: the arrays' pixel range, and how the call runs (not run settings)
    assert set(keywords) - set(SETTINGS) == {"max_value", "threads", "on_step", "on_epoch", "log"}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_checkpoint_schema_checks_each_setting_with_its_spec(name):
    stored = {
        "model": {"name": "digits_cnn", "input_shape": [8, 8, 1], "num_classes": 10, "options": {}},
        "preprocessing": {
            "input_shape": [8, 8, 1],
            "scale": 0.0625,
            "mean": [0.0],
            "std": [1.0],
            "classes": [str(k) for k in range(10)],
        },
        "dataset": "digits",
        "training": dataclasses.asdict(TrainConfig()),
    }
    assert check_run_config(stored, "x")["training"] == TrainConfig()
    stored["training"][name] = [[None]]  # no setting is a list of lists
    with pytest.raises(CheckpointError, match=f"training setting {name} must be"):
        check_run_config(stored, "x")


@pytest.mark.parametrize("name", list(FIT_DEFAULTS))
def test_fit_checks_each_setting_with_its_spec(name):
    with pytest.raises(InvalidArgumentError, match=f"fit: {name} must be"):
        fit(None, None, **{name: [[None]]})


@pytest.mark.parametrize("name", ["rng", "max_parameters", "input_shape", "num_classes", "name"])
def test_a_model_option_named_as_builds_own_argument_is_refused(name, tmp_path):
    """Such an option would reach models.build twice (a TypeError in every loader)."""
    assert name in BUILD_ARGUMENTS
    with pytest.raises(InvalidArgumentError, match=f"model_options key must be .* got '{name}'"):
        TrainConfig(model_options={name: 1}).checked()
    with pytest.raises(InvalidArgumentError, match=f"got '{name}'"):
        run_training(TrainConfig(epochs=1, model_options={name: 1}), tmp_path / "run")
    assert not (tmp_path / "run").exists()

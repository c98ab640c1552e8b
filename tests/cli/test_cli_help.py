"""Every command's every option says what it is for."""

import argparse

from convmath.cli import build_parser


def test_every_option_and_argument_has_help_text():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in commands.choices.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert silent == []
    assert len(commands.choices) >= 12


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """``convmath explain resnet | head -1``: the write after the reader left is EPIPE."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from convmath.cli import main\n"
        "class Closed:\n"  # what stdout becomes once `head` has exited
        "    def write(self, text): raise BrokenPipeError(32, 'Broken pipe')\n"
        "    def flush(self): pass\n"
        "    def fileno(self): return sys.__stdout__.fileno()\n"
        "sys.stdout = Closed()\n"
        "sys.exit(main(['explain', 'resnet']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices


def _options(command: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a for a in command._actions if a.option_strings and not isinstance(a, argparse._HelpAction)
    ]


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def test_every_option_that_takes_a_value_states_its_default():
    unstated = [
        f"{name} {action.option_strings[0]}: {action.help}"
        for name, command in _commands().items()
        for action in _options(command)
        if action.nargs != 0 and "default" not in action.help
    ]
    assert unstated == []


def test_each_stated_default_is_the_one_the_command_uses():
    """argparse's own defaults, and for train those of TrainConfig, appear in the help."""
    from convmath.train import TrainConfig

    wrong = []
    for name, command in _commands().items():
        for action in _options(command):
            default = action.default
            if name == "train" and action.dest in TrainConfig.__dataclass_fields__:
                default = getattr(TrainConfig(), action.dest)
            if default is None or default is False or action.nargs == 0:
                continue
            if f"default {_shown(default)}" not in action.help:
                wrong.append(f"{name} {action.option_strings[0]}: {default!r} vs {action.help!r}")
    assert wrong == []


def test_defaults_that_depend_on_the_choice_are_stated_from_the_code():
    from convmath.cli.common import DEFAULT_SHAPE, DEFAULT_SHAPES, builder_default
    from convmath.optim.factory import ADAMW_DEFAULT_DECAY
    from convmath.train.config import DEFAULT_LR

    def option_help(command: str, option: str) -> str:
        (action,) = [a for a in _options(_commands()[command]) if option in a.option_strings]
        return " ".join(action.help.split())

    for optimizer, lr in DEFAULT_LR.items():
        assert f"{lr:g} for {optimizer}" in option_help("train", "--lr")
    assert f"{ADAMW_DEFAULT_DECAY:g} for adamw" in option_help("train", "--weight-decay")
    assert f"default {builder_default('resnet', 'depth')}" in option_help("train", "--depth")
    for model in ("digits_cnn", "wide_cnn"):
        assert f"{builder_default(model, 'width')} for {model}" in option_help("train", "--width")
    for command in ("summary", "explain", "gradcheck"):
        shape_help = option_help(command, "--input-shape")
        for model, shape in DEFAULT_SHAPES.items():
            assert f"{','.join(map(str, shape))} for {model}" in shape_help
        assert f"{','.join(map(str, DEFAULT_SHAPE))} for the others" in shape_help

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

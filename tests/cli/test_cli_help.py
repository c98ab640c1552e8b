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

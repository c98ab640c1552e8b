"""The ``convmath`` command.

Errors of the library (bad input, bad files) are printed as one line on
standard error, without a traceback, and the command exits with status 2
(as for a bad option).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from convmath import __version__
from convmath.cli import edges, inspection, training
from convmath.errors import ConvMathError
from convmath.runtime import tune_allocator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convmath",
        description="Convolutional neural networks from first principles, on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"convmath {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training.register(commands)
    inspection.register(commands)
    edges.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_allocator()
    try:
        return args.run(args)
    except (ConvMathError, OSError) as error:
        print(f"convmath {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (resume with --resume OUT/last.safetensors)" if args.command == "train" else ""
        print(f"convmath {args.command}: interrupted{hint}", file=sys.stderr)
        return 130

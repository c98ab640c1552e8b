"""The ``convmath`` command.

Errors of the library (bad input, bad files) and bad options are printed as
one line on standard error, without a traceback or a usage block, and the
command exits with status 2; under ``mpiexec``, an error that every process
meets is printed once, by rank 0. Warnings that NumPy or Pillow raise while a
command runs are held back: after an error they are dropped (the error says
what matters), after success each distinct one is printed once, on one line.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence

from convmath import limits
from convmath.cli import edges, export, inspection, pooling, serve, training
from convmath.cli.common import Parser, Terminated, sigterm_as_interrupt
from convmath.distributed.world import World, launched, world
from convmath.errors import ConvMathError
from convmath.kernels.runtime import tune_allocator
from convmath.schema import printable
from convmath.version import __version__


def build_parser() -> Parser:
    parser = Parser(
        prog="convmath",
        description="Convolutional neural networks from first principles, on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"convmath {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training.register(commands)
    inspection.register(commands)
    edges.register(commands)
    pooling.register(commands)
    export.register(commands)
    serve.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # a bad option (status 2, one line already printed) or --help
        return stop.code if isinstance(stop.code, int) else 2
    tune_allocator()
    with warnings.catch_warnings(record=True) as caught, sigterm_as_interrupt():
        warnings.simplefilter("default")  # each distinct warning once, however often it recurs
        try:
            limits.max_parameters(), limits.max_memory()  # a bad setting fails every command
            status = args.run(args)
        except BrokenPipeError:  # the reader stopped (convmath summary resnet | head): end quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except (ConvMathError, OSError) as error:
            return _fail(args.command, str(error))
        except MemoryError:
            return _fail(
                args.command,
                "out of memory (set CONVMATH_MAX_MEMORY lower to refuse such jobs before they"
                " start)",
            )
        except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM (Terminated)
            hint = f" ({interrupt})" if str(interrupt) else ""  # train says how to resume
            if isinstance(interrupt, Terminated):
                return _say(f"convmath {args.command}: terminated{hint}", 128 + signal.SIGTERM)
            return _say(f"convmath {args.command}: interrupted{hint}", 130)
        except Exception:
            if _ranks() is not None:  # a bug on one rank: show it, stop the others, never hang
                _say(traceback.format_exc().rstrip(), 1)
            raise
    for message in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
        print(f"convmath {args.command}: warning: {printable(message)}", file=sys.stderr)
    return status


def _fail(command: str, message: str) -> int:
    """Say ``convmath COMMAND: error: MESSAGE`` on one line; status 2."""
    line = printable(" ".join(message.split()))  # one line, whatever the message quotes
    ranks = _ranks()
    rank = f" (rank {ranks.rank} of {ranks.size})" if ranks is not None else ""
    return _say(f"convmath {command}: error{rank}: {line}", 2)


def _ranks() -> World | None:
    """The MPI world when this process is one of several, else None."""
    try:
        ranks = world() if launched() else None
    except ConvMathError:  # launched without mpi4py: said already, as the error itself
        return None
    return ranks if ranks is not None and ranks.size > 1 else None


def _say(message: str, status: int) -> int:
    """Print why the command failed and return ``status``.

    Under MPI a failure on one rank stops every rank (they would wait for it forever), and
    what every rank meets is said once, by rank 0 (:meth:`World.stop`).
    """
    ranks = _ranks()
    if ranks is not None:
        ranks.stop(message, status)
    print(message, file=sys.stderr)
    return status

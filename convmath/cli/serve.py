"""``convmath serve``: the interactive page, on a local web server."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path
from typing import Any

from convmath.cli.common import add_trust_code, option, printable
from convmath.errors import InvalidArgumentError
from convmath.schema import Integer
from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import is_loopback, start
from convmath.train.outputs import BEST, LAST


def newest_checkpoint(runs: Path) -> Path | None:
    """The most recently written best checkpoint (else the last) of a run under ``runs``."""
    if not runs.is_dir():
        return None
    found = [
        path
        for folder in runs.iterdir()
        if folder.is_dir()
        for path in (folder / BEST, folder / LAST)
        if path.is_file()
    ]
    best = {path.parent: path for path in sorted(found, key=lambda p: p.name, reverse=True)}
    return max(best.values(), key=lambda p: p.stat().st_mtime, default=None)


def _serve(args: argparse.Namespace) -> int:
    if args.trust_code and args.checkpoint is None:
        raise InvalidArgumentError(
            "--trust-code imports the code a checkpoint names: name that checkpoint, never"
            " the newest one found under --runs"
        )
    checkpoint = args.checkpoint or newest_checkpoint(args.runs)
    if checkpoint is None:
        print(f"no checkpoint under {args.runs}/: serving convmath's default model")
        served = ServedModel.default()
    else:
        served = ServedModel.load(checkpoint, trust_code=args.trust_code)
    if not is_loopback(args.host):
        print(
            f"warning: serving on {args.host}, reachable from other machines; the page has no"
            " login, anyone who reaches it can start training runs on this machine, and off"
            " loopback any Host name is answered (a web page could reach it through a name"
            " rebound to this machine)"
        )
    app = App(served, LiveTraining(args.runs), trust_code=args.trust_code)
    try:
        running = start(app, args.host, args.port)
    except OSError as error:
        raise InvalidArgumentError(f"cannot listen on {args.host}:{args.port} ({error})") from None
    try:  # from the first line printed, Ctrl-C stops the server cleanly
        print(f"serving {printable(served.title)}")
        print(f"open {running.url}/ in a browser (Ctrl-C stops the server)", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping")
    finally:
        running.close()
    return 0


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="an interactive page: draw a digit, watch every number forward and backward",
        description="Start a local web server with a page that shows the model's feature maps,"
        " the arithmetic behind any value, back propagation and live training (docs/SERVE.md).",
    )
    serve.add_argument(
        "checkpoint",
        nargs="?",
        type=Path,
        help="a checkpoint or ONNX model (default: the newest run under --runs, else"
        " convmath's default model, LeNet-5 trained on MNIST)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the interface to listen on (default 127.0.0.1, this machine only)",
    )
    serve.add_argument(
        "--port",
        type=option(Integer(0, 65535)),
        default=0,
        help="the port (default 0: a free one, printed)",
    )
    serve.add_argument(
        "--runs",
        type=Path,
        default=Path("runs"),
        help="where runs are found and live training writes (default runs)",
    )
    add_trust_code(serve)
    serve.set_defaults(run=_serve)

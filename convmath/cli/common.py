"""Helpers shared by the commands: a parser whose errors are one line, typed options, models."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from convmath import limits, models
from convmath.data import load_digits
from convmath.data.centering import picture_options
from convmath.distributed.world import stop_job
from convmath.errors import InvalidArgumentError, ShapeError, did_you_mean
from convmath.kernels.parallel import start_workers, using_threads
from convmath.models import INPUT_SHAPES
from convmath.run import load_trained
from convmath.schema import Integer, ListOf, Spec, printable, shown
from convmath.switchboard import MAX_THREADS


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (the same path, a link, or a hard link to it)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, RuntimeError):  # one of them does not exist, or is a loop of links
        return a.absolute() == b.absolute()


def picture_out(path: Path, option: str, reads: Sequence[Path] = ()) -> Path:
    """Where a command draws: a .png file (so never a checkpoint, a history or the metrics)
    that is none of the files the command reads."""
    if path.suffix.lower() != ".png":
        raise InvalidArgumentError(f"{option} writes a PNG file; got {path}")
    for source in reads:
        if same_file(path, source):
            raise InvalidArgumentError(
                f"{option} {path} is a file this command reads; choose another"
            )
    return path


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a scheduler's stop), raised in the main thread as Ctrl-C raises
    KeyboardInterrupt, so that it is handled exactly as Ctrl-C is: writes in progress are
    abandoned atomically, the last good checkpoint is kept, and train says how to resume."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (unless the
    process was started with SIGTERM ignored: then it stays ignored)."""
    if (
        threading.current_thread() is not threading.main_thread()  # only it may set a handler
        or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    ):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Parser(argparse.ArgumentParser):
    """An argument parser that reports a bad option in one line (no usage block), status 2.

    An unknown command, choice or option is told with the closest known one ("did you
    mean"), as Python 3.14's argparse does but on every version. Under ``mpiexec`` the
    line is said once, by rank 0, not once per process.
    """

    def error(self, message: str) -> NoReturn:

        line = f"{self.prog}: error: {printable(message)} (see {self.prog} --help)"
        stop_job(line, 2)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            parser = self._command_parser(parsed)
            options = [*self._option_string_actions, *parser._option_string_actions]
            hint = next(
                (
                    found
                    for word in unknown
                    if word.startswith("-")
                    and (found := did_you_mean(word.partition("=")[0], options))
                ),
                "",
            )
            parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
        return parsed

    def _command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the command ``parsed`` names (``convmath train``'s), else this one."""
        for action in self._actions:
            if isinstance(action.choices, dict):  # the sub-commands
                chosen = action.choices.get(getattr(parsed, action.dest, None))
                if isinstance(chosen, argparse.ArgumentParser):
                    return chosen
        return self

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            choices = ", ".join(map(repr, action.choices))
            raise argparse.ArgumentError(
                action,
                f"invalid choice: {shown(value)} (choose from {choices})"
                f"{did_you_mean(value, action.choices)}",
            )


def option(spec: Spec) -> Callable[[str], Any]:
    """An argparse type that parses and checks an option's text with ``spec``.

    argparse then names the option: ``argument --epochs: expected an integer
    in [1, 100,000], got 'nan'``.
    """

    def parse(text: str) -> Any:
        try:
            return spec.parse(text, "value")
        except InvalidArgumentError:
            cut = text if len(text) <= 40 else text[:37] + "..."
            raise argparse.ArgumentTypeError(
                f"expected {spec.describe()}, got {cut!r}{spec.hint(text)}"
            ) from None

    parse.__name__ = type(spec).__name__.lower()
    return parse


INPUT_SHAPE = option(ListOf(Integer(1, limits.MAX_SIDE), 3, 3, as_tuple=True))
IMAGE_SIZE = option(ListOf(Integer(1, limits.MAX_SIDE), 2, 2, as_tuple=True))
CLASSES = option(Integer(1, limits.MAX_CLASSES))
THREADS = option(Integer(1, MAX_THREADS))


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Run the command's ops on ``count`` worker threads (default: every available CPU),
    started now: a count the system cannot start is one line before any work."""
    with using_threads(count):
        start_workers()
        yield


DEFAULT_SHAPE = (28, 28, 1)
DEFAULT_SHAPES = {m: s for m, s in INPUT_SHAPES.items() if s != DEFAULT_SHAPE}  # the exceptions
INPUT_SHAPE_HELP = (
    "H,W,C of a model given by name (default "
    + ", ".join(f"{','.join(map(str, shape))} for {name}" for name, shape in DEFAULT_SHAPES.items())
    + f", {','.join(map(str, DEFAULT_SHAPE))} for the others)"
)


def builder_default(model: str, option: str) -> Any:
    """The default of a named model's ``option``, read from its builder's signature."""
    return inspect.signature(models.MODELS[model]).parameters[option].default


def add_picture_options(parser: argparse.ArgumentParser) -> None:
    """How a picture file is read: the same options wherever a command reads one."""
    parser.add_argument(
        "--invert",
        action="store_true",
        help="invert the picture (a model trained on mnist, fashion-mnist or the digits does it"
        " by itself when the picture's border is light)",
    )
    parser.add_argument(
        "--center",
        action="store_true",
        help="crop a one-channel picture to its ink, fit it into 20/28 of the field and centre"
        " it by mass, as MNIST's digits were (the default for models trained on mnist)",
    )
    parser.add_argument(
        "--no-center",
        action="store_true",
        help="only fit the picture into the field, even for an mnist model",
    )


def picture_options_of(args: argparse.Namespace, dataset: str | None) -> dict[str, bool]:
    """:func:`picture_options` for a model trained on ``dataset``, as the options say."""
    center = True if args.center else False if args.no_center else None
    return picture_options(dataset, invert=args.invert, center=center)


def add_trust_code(parser: argparse.ArgumentParser) -> None:
    """The option that lets a command import the code a checkpoint's model is built by."""
    parser.add_argument(
        "--trust-code",
        action="store_true",
        help="rebuild a model of your own code (package.module:function) that the checkpoint"
        " names, by importing that code (default: refuse, since importing it runs it)",
    )


def model_from(
    target: str, input_shape: tuple[int, ...] | None, classes: int, *, trust_code: bool = False
) -> tuple[Any, tuple[int, ...], str]:
    """A model named ``target`` (built for ``input_shape``) or the one saved in a checkpoint.

    ``target`` is a model when it is a model's name or the import path of a
    builder of one's own (``package.module:function``), otherwise the path of
    a checkpoint.

    Returns (model, input shape, title). A named model that does not fit the
    requested shape is built for its default shape, so that an explanation
    can show where the requested one stops fitting.
    """

    if target not in models.MODELS and not models.is_import_path(target):
        if not Path(target).exists() and "/" not in target and "." not in target:
            raise InvalidArgumentError(
                f"unknown model {shown(target)}; expected a model name {sorted(models.MODELS)},"
                f" an import path package.module:function or a checkpoint file"
                f"{did_you_mean(target, models.MODELS)}"
            )
        model, preprocessing, config = load_trained(target, trust_code=trust_code)
        return model, preprocessing.input_shape, f"{config['model']['name']} from {target}"
    shape = tuple(input_shape or DEFAULT_SHAPES.get(target, DEFAULT_SHAPE))
    rng = np.random.default_rng(0)
    title = f"{target} on {shape[0]}x{shape[1]}x{shape[2]}"
    try:
        return models.build(target, shape, classes, rng=rng), shape, title
    except ShapeError as error:
        if shape[0] <= 4 < shape[2]:  # 1,28,28: channels first, as PyTorch writes shapes
            n_H, n_W, n_C = shape[1], shape[2], shape[0]
            raise ShapeError(
                f"{error}; --input-shape is H,W,C (channels last): for {n_H}x{n_W} images of"
                f" {n_C} channel{'s' if n_C > 1 else ''} write {n_H},{n_W},{n_C}"
            ) from None
        default = DEFAULT_SHAPES.get(target, DEFAULT_SHAPE)
        fallback = (*default[:2], shape[2])
        if fallback == shape:
            raise
        return models.build(target, fallback, classes, rng=rng), shape, title


def data_dir_of(chosen: str | None, config: dict[str, Any]) -> str | None:
    """``--data-dir`` if given, else the one the checkpoint's run read its data from."""
    if chosen is not None:
        return chosen
    training = config.get("training")
    return getattr(training, "data_dir", None)


def embedded_digit(index: int) -> tuple[np.ndarray, int]:
    """Digit ``index`` of the embedded UCI set (8x8 pixel counts 0-16, float64) and its label."""
    images, labels = load_digits()
    if not 0 <= index < len(images):
        raise InvalidArgumentError(
            f"--index must be in 0..{len(images) - 1} for the {len(images)} embedded digits,"
            f" got {index}"
        )
    return images[index].astype(np.float64), int(labels[index])

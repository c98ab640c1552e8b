"""The ``convmath`` command.

Errors of the library (bad input, bad files) are printed as one line on
standard error, without a traceback, and the command exits with status 2 (as for a bad option).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from convmath import __version__
from convmath.errors import ConvMathError, InvalidArgumentError

LARGE_IMAGE = 24  # print whole grids only up to this size; summarise larger maps


def _edges(args: argparse.Namespace) -> int:
    from convmath.data import load_digits
    from convmath.edges import (
        HORIZONTAL_EDGE_FILTER,
        VERTICAL_EDGE_FILTER,
        detect_edges,
        format_grid,
        load_grayscale_image,
        save_edge_panels,
    )

    if args.image is not None:
        image = load_grayscale_image(args.image)
        source = f"{args.image} (grayscale, 0-255)"
    else:
        images, labels = load_digits()
        if not 0 <= args.index < len(images):
            raise InvalidArgumentError(
                f"--index must be in 0..{len(images) - 1} for the {len(images)} embedded digits,"
                f" got {args.index}"
            )
        image = images[args.index]
        source = (
            f"embedded UCI digit #{args.index} (label {labels[args.index]},"
            f" pixel counts 0-16, CC BY 4.0)"
        )
    maps = detect_edges(image, padding=args.padding)
    n_H_prev, n_W_prev = image.shape
    n_H, n_W = maps.vertical.shape
    p = args.padding
    print(f"image: {source}, {n_H_prev} x {n_W_prev}")
    print(f"filters: f = 3, p = {p}, s = 1")
    print(
        f"output: n_H = floor(({n_H_prev} + 2*{p} - 3) / 1) + 1 = {n_H},"
        f" n_W = floor(({n_W_prev} + 2*{p} - 3) / 1) + 1 = {n_W}"
    )
    sections = [
        ("vertical edge filter VEF", VERTICAL_EDGE_FILTER),
        ("horizontal edge filter HEF = VEF^T", HORIZONTAL_EDGE_FILTER),
    ]
    small = max(*image.shape, *maps.vertical.shape) <= LARGE_IMAGE
    if small:
        sections += [
            ("image", image),
            (
                "image * VEF (vertical edges: + light-to-dark, - dark-to-light, left to right)",
                maps.vertical,
            ),
            ("image * HEF (horizontal edges, top to bottom)", maps.horizontal),
            ("edge magnitude sqrt(V^2 + H^2)", maps.magnitude),
        ]
    for title, grid in sections:
        print(f"\n{title}:\n{format_grid(grid)}")
    if not small:
        for name, grid in (("vertical", maps.vertical), ("horizontal", maps.horizontal)):
            h, w = np.unravel_index(np.argmax(np.abs(grid)), grid.shape)
            print(
                f"\n{name} edges: range {grid.min():.0f} to {grid.max():.0f},"
                f" strongest at row {h}, column {w}"
            )
    if args.save is not None:
        if args.save.suffix.lower() != ".png":
            raise InvalidArgumentError(f"--save writes a PNG file; got {args.save}")
        width, height = save_edge_panels(maps, args.save)
        print(
            f"\nsaved {args.save} ({width} x {height}): image | vertical | horizontal | magnitude"
        )
    return 0


def _threads(count: int | None):
    """Limit NumPy's BLAS threads for the command (threadpoolctl), or change nothing."""
    import contextlib

    if count is None:
        return contextlib.nullcontext()
    if count < 1:
        raise InvalidArgumentError(f"--threads must be >= 1, got {count}")
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=count, user_api="blas")


def _sizes(count: int, example: str) -> Callable[[str], tuple[int, ...]]:
    """An argparse type for ``count`` positive sizes written "H,W,C" (or "HxWxC")."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            sizes = tuple(int(part) for part in text.replace("x", ",").split(","))
        except ValueError:
            sizes = ()
        if len(sizes) != count or min(sizes) < 1:
            raise argparse.ArgumentTypeError(
                f"expected {count} positive sizes such as {example}, got {text!r}"
            )
        return sizes

    return parse


def _train(args: argparse.Namespace) -> int:
    from convmath.train import TrainConfig, run_training

    overrides = {
        key: value
        for key, value in vars(args).items()
        if key in TrainConfig.__dataclass_fields__ and value is not None
    }
    options = {"depth": args.depth, "width": args.width}
    overrides["model_options"] = {k: v for k, v in options.items() if v is not None}
    config = TrainConfig(**overrides)
    with _threads(args.threads):
        result = run_training(config, args.out, resume=args.resume, log=print)
    metrics = result.metrics
    best = (
        f" (best epoch {metrics['best_epoch']}, dev accuracy {metrics['dev_accuracy']:.4f})"
        if metrics["best_epoch"]
        else " (no dev set: the last epoch's weights)"
    )
    print(
        f"\ntest accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f}"
        f"{best}; {metrics['epochs']} epochs in {metrics['train_seconds']:.1f} s"
    )
    print(f"saved {result.out_dir}/best.safetensors, last.safetensors, history.json, metrics.json")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from convmath import data
    from convmath.train import evaluate, load_trained

    with _threads(args.threads):
        model, preprocessing, config = load_trained(args.checkpoint)
        dataset = args.dataset or config["dataset"]
        if dataset in data.DATASETS:
            images, labels = data.load(dataset, args.split, args.data_dir)
        else:
            images, labels, _ = data.load_folder(
                dataset,
                args.split,
                mode="RGB" if preprocessing.input_shape[2] == 3 else "L",
                size=preprocessing.input_shape[:2],
            )
        if images.shape[1:] != preprocessing.input_shape:
            raise InvalidArgumentError(
                f"{dataset} images are {images.shape[1:]} but the model expects"
                f" {preprocessing.input_shape}"
            )
        result = evaluate(model, images, labels, preprocessing, len(preprocessing.classes))
    classes = preprocessing.classes
    print(f"{args.checkpoint} on {dataset} {args.split} ({len(labels)} images)")
    print(f"accuracy {result.accuracy:.4f}, loss {result.loss:.4f}\n")
    width = max(5, *(len(c) for c in classes))
    print(f"{'class':<{width}}  accuracy  images")
    for name, accuracy, count in zip(
        classes, result.per_class_accuracy, result.confusion.sum(axis=1), strict=True
    ):
        print(f"{name:<{width}}  {accuracy:>8.4f}  {count:>6}")
    print("\nconfusion matrix (rows: true class, columns: predicted class)")
    cell = max(len(str(result.confusion.max())), 3)
    print(" " * (width + 1) + " ".join(f"{k:>{cell}}" for k in range(len(classes))))
    for k, row in enumerate(result.confusion):
        print(f"{classes[k]:<{width}} " + " ".join(f"{v:>{cell}}" for v in row))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from convmath import functional as F
    from convmath.data import read_image
    from convmath.tensor import Tensor, no_grad
    from convmath.train import load_trained

    model, preprocessing, _ = load_trained(args.checkpoint)
    n_H, n_W, n_C = preprocessing.input_shape
    mode = "RGB" if n_C == 3 else "L"
    batch = np.stack(
        [
            read_image(path, mode=mode, size=(n_H, n_W)).astype(np.float32) / 255
            for path in args.images
        ]
    )
    if args.invert:
        batch = 1.0 - batch
    with _threads(args.threads), no_grad():
        probabilities = F.softmax(model(Tensor(preprocessing.normalize(batch)))).data
    top = min(args.top, len(preprocessing.classes))
    for path, p in zip(args.images, probabilities, strict=True):
        order = np.argsort(-p)[:top]
        ranked = ", ".join(f"{preprocessing.classes[k]} {p[k]:.3f}" for k in order)
        print(f"{path}: {ranked}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    from convmath import models
    from convmath.summary import summary_table

    target = args.model
    if Path(target).is_file():
        from convmath.train import load_trained

        model, preprocessing, config = load_trained(target)
        shape = preprocessing.input_shape
        title = f"{config['model']['name']} from {target}"
    else:
        defaults = {"digits_cnn": (8, 8, 1), "resnet": (32, 32, 3)}
        shape = args.input_shape or defaults.get(target, (28, 28, 1))
        model = models.build(target, shape, args.classes, rng=np.random.default_rng(0))
        title = f"{target} on {shape[0]}x{shape[1]}x{shape[2]}"
    print(summary_table(model, shape, title))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from convmath.data.augment import PRESETS
    from convmath.models import MODELS
    from convmath.train.run import OPTIMIZERS, SCHEDULES, TrainConfig

    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="convmath",
        description="Convolutional neural networks from first principles, on NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"convmath {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a CNN (default: a small CNN on the embedded digits)",
        description="Train a CNN and save checkpoints, history and metrics. With no options it"
        " trains the default CNN on the embedded UCI digits in a few seconds.",
    )
    train.add_argument("--model", choices=sorted(MODELS), help="architecture (default: by dataset)")
    train.add_argument("--depth", type=int, help="ResNet depth 6n+2 (resnet only)")
    train.add_argument(
        "--width", type=int, help="channels of the first layer (digits_cnn, wide_cnn)"
    )
    train.add_argument(
        "--dataset",
        help="digits, mnist, fashion-mnist, cifar10 or a folder of images"
        f" (default {defaults.dataset})",
    )
    train.add_argument(
        "--data-dir", help="where datasets live (default: $CONVMATH_DATA or ~/.cache/convmath)"
    )
    train.add_argument("--epochs", type=int, help=f"default {defaults.epochs}")
    train.add_argument("--batch-size", type=int, help=f"default {defaults.batch_size}")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {defaults.optimizer}")
    train.add_argument(
        "--lr", type=float, help="learning rate (default 1e-3 for Adam, 0.05 for SGD)"
    )
    train.add_argument("--momentum", type=float, help=f"SGD momentum (default {defaults.momentum})")
    train.add_argument("--nesterov", action="store_const", const=True, help="Nesterov momentum")
    train.add_argument("--weight-decay", type=float, help="weight decay (default 0)")
    train.add_argument("--schedule", choices=SCHEDULES, help=f"default {defaults.schedule}")
    train.add_argument(
        "--gamma", type=float, help="step schedule: lr factor per step (default 0.7)"
    )
    train.add_argument("--step-epochs", type=int, help="step schedule: epochs per step (default 1)")
    train.add_argument("--warmup-epochs", type=float, help="cosine schedule: warm-up epochs")
    train.add_argument(
        "--augment",
        help=f"a preset {PRESETS} or a list like crop:2,rotate:10,hflip:0.5,noise:0.05,"
        f"brightness:0.2,hue:0.05 (default {defaults.augment})",
    )
    train.add_argument("--dev-fraction", type=float, help=f"default {defaults.dev_fraction}")
    train.add_argument("--seed", type=int, help=f"default {defaults.seed}")
    train.add_argument(
        "--patience", type=int, help="early stopping after N epochs without progress"
    )
    train.add_argument("--label-smoothing", type=float, help=f"default {defaults.label_smoothing}")
    train.add_argument("--clip-norm", type=float, help="clip gradients to this global norm")
    train.add_argument("--train-limit", type=int, help="use only the first N training images")
    train.add_argument("--image-size", type=_sizes(2, "28,28"), help="image folders: resize to H,W")
    train.add_argument("--color", action="store_const", const=True, help="image folders: read RGB")
    train.add_argument("--out", type=Path, help="output folder (default runs/DATASET-MODEL)")
    train.add_argument("--resume", type=Path, help="continue the run saved in this checkpoint")
    train.add_argument("--threads", type=int, help="BLAS threads (default: all cores)")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, loss, per-class accuracy and confusion matrix of a checkpoint"
    )
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--dataset", help="default: the dataset it was trained on")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--split", choices=("train", "test"), default="test")
    evaluate.add_argument("--threads", type=int)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="classify image files with a checkpoint")
    predict.add_argument("checkpoint", type=Path)
    predict.add_argument("images", nargs="+", type=Path, help="PNG or JPEG files")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    predict.add_argument("--invert", action="store_true", help="for dark ink on a light background")
    predict.add_argument("--threads", type=int)
    predict.set_defaults(run=_predict)

    summary = commands.add_parser(
        "summary", help="each layer's output shape, parameters and multiply-accumulates"
    )
    summary.add_argument("model", help=f"a model name {sorted(MODELS)} or a checkpoint file")
    summary.add_argument("--input-shape", type=_sizes(3, "28,28,1"), help="H,W,C (default 28,28,1)")
    summary.add_argument("--classes", type=int, default=10)
    summary.set_defaults(run=_summary)

    edges = commands.add_parser(
        "edges",
        help="apply the vertical and horizontal edge filters to a real image",
        description="The article's worked example: convolve a grayscale image with the vertical"
        " and horizontal edge filters and show the edge maps. Uses a digit of the embedded"
        " dataset unless --image is given.",
    )
    edges.add_argument("--image", type=Path, help="an image file (PNG, JPEG...; needs Pillow)")
    edges.add_argument("--index", type=int, default=0, help="which embedded digit (default 0)")
    edges.add_argument("--padding", type=int, default=0, help="zero padding p (default 0)")
    edges.add_argument("--save", type=Path, help="also write the maps side by side to this PNG")
    edges.set_defaults(run=_edges)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConvMathError, OSError) as error:
        print(f"convmath {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (resume with --resume OUT/last.safetensors)" if args.command == "train" else ""
        print(f"convmath {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``convmath explain``, ``gradcheck``, ``plot``, ``filters``, ``featuremaps`` and ``confusion``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data, limits, strict_json
from convmath.cli.common import (
    CLASSES,
    INPUT_SHAPE,
    INPUT_SHAPE_HELP,
    add_picture_options,
    add_trust_code,
    data_dir_of,
    model_from,
    option,
    picture_options_of,
    picture_out,
)
from convmath.data.centering import picture_input
from convmath.errors import DataError, InvalidArgumentError
from convmath.files import open_regular
from convmath.inspect import explain, layer_activations, model_gradcheck
from convmath.inspect.plots import (
    plot_confusion,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_misclassified,
)
from convmath.nn import Conv2D
from convmath.run import load_trained
from convmath.schema import Integer, Number, printable
from convmath.train import evaluate, predict
from convmath.train.checkpoint import HISTORY
from convmath.train.inference import EVAL_BATCH
from convmath.train.outputs import (
    CONFUSION,
    CURVES,
    FEATUREMAPS,
    FILTERS,
    HISTORY_JSON,
    METRICS,
    MISCLASSIFIED,
)

MAX_GRADCHECK_BATCH = 256
MODEL_HELP = "a model name, your own builder as package.module:function, or a checkpoint file"
MAX_DIRECTIONS = 100
MAX_HISTORY_BYTES = 2 << 20
MAX_METRICS_BYTES = 16 << 20  # a confusion matrix of many classes


def _explain(args: argparse.Namespace) -> int:
    model, shape, title = model_from(
        args.model, args.input_shape, args.classes, trust_code=args.trust_code
    )
    explanation = explain(model, shape)
    print(f"{printable(title)}\n")
    print(explanation.text(backward=args.backward))
    return 2 if explanation.error else 0


def _gradcheck(args: argparse.Namespace) -> int:
    model, shape, title = model_from(
        args.model, args.input_shape, args.classes, trust_code=args.trust_code
    )
    model.output_shape(shape)  # a model that does not fit fails here, naming the layer
    limits.check_model_memory(
        model, shape, args.batch, "the gradient check", itemsize=8, training=True
    )
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, *shape))
    labels = rng.integers(0, args.classes, args.batch)
    report = model_gradcheck(model, x, labels, rng=rng, directions=args.directions)
    print(
        f"{printable(title)}: back propagation against central differences, float64,"
        f" batch {args.batch}\n"
    )
    print(report.table())
    verdict = "PASS" if report.passed else "FAIL"
    failing = sum(not c.passed for c in report.comparisons)
    total = len(report.comparisons)
    print(f"\n{verdict}: {total - failing} of {total} tensors agree")
    return 0 if report.passed else 1


def _output(args: argparse.Namespace, source: Path, name: str, *reads: Path) -> Path:
    """``--out``, or ``name`` beside ``source``: a PNG file, none of those the command reads."""
    return picture_out(args.out or source.parent / name, "--out", (source, *reads))


def _plot(args: argparse.Namespace) -> int:
    out = _output(args, args.history, CURVES)  # before anything is read
    with open_regular(args.history, DataError) as file:
        text = file.read(MAX_HISTORY_BYTES + 1)
    history = strict_json.loads(
        text, f"{args.history}: not a readable {HISTORY_JSON}", max_bytes=MAX_HISTORY_BYTES
    )
    try:
        history = HISTORY.check(history, "the history")
        smoothing = _label_smoothing_of_run(args.history.parent / METRICS)
        path = plot_history(history, out, smoothing)
    except InvalidArgumentError as error:
        raise DataError(f"{args.history}: {error}") from None
    print(f"saved {path}: loss and accuracy per epoch")
    return 0


def _label_smoothing_of_run(metrics_path: Path) -> float | None:
    """The run's label smoothing, from the metrics beside its history (None if unknown)."""
    try:
        with open_regular(metrics_path, DataError) as file:
            text = file.read(MAX_METRICS_BYTES + 1)
        metrics = strict_json.loads(text, str(metrics_path), max_bytes=MAX_METRICS_BYTES)
        smoothing = metrics["config"]["training"]["label_smoothing"]
        return Number(0, 1).check(smoothing, "label_smoothing")
    except (DataError, InvalidArgumentError, OSError, KeyError, TypeError):
        return None


def _filters(args: argparse.Namespace) -> int:
    out = _output(args, args.checkpoint, FILTERS)  # before anything is read
    model, _, config = load_trained(args.checkpoint, trust_code=args.trust_code)
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, Conv2D)]
    if not convs:
        raise InvalidArgumentError(f"{args.checkpoint}: the model has no CONV layer")
    chosen = dict(convs).get(args.layer) if args.layer else convs[0][1]
    if chosen is None:
        names = [name for name, _ in convs]
        raise InvalidArgumentError(f"no CONV layer {args.layer!r}; the CONV layers are {names}")
    title = f"{config['model']['name']}: filters of {chosen.label} ({chosen.details()})"
    path = plot_filters(chosen.W.data, out, title, args.channel)
    n_C_prev = chosen.W.shape[2]
    if args.channel is not None:
        drawn = f", their slices for input channel {args.channel}"
    elif n_C_prev in (1, 3):
        drawn = ""
    else:
        drawn = f", each the mean over its {n_C_prev} input channels (--channel K for one)"
    print(printable(f"saved {path}: {chosen.W.shape[3]} filters of {chosen.label}{drawn}"))
    return 0


def _featuremaps(args: argparse.Namespace) -> int:
    out = _output(args, args.checkpoint, FEATUREMAPS, args.image)  # before anything is read
    model, preprocessing, config = load_trained(args.checkpoint, trust_code=args.trust_code)
    limits.check_model_memory(model, preprocessing.input_shape, 1, "the feature maps")
    # read exactly as predict reads it: the maps are those of the input the model gets there
    options = picture_options_of(args, config.get("dataset"))
    unit = picture_input(args.image, preprocessing.input_shape, **options)
    maps = layer_activations(model, preprocessing.normalize(unit))
    probabilities = predict(model, preprocessing, unit[None])[0]
    best = int(np.argmax(probabilities))
    title = (
        f"{args.image.name}: predicted {preprocessing.classes[best]!r} ({probabilities[best]:.0%})"
    )
    path = plot_feature_maps(unit, maps, out, title)
    shapes = ", ".join(f"{name} {m.shape}" for name, m in maps)
    print(printable(f"saved {path} ({title}): every channel of {shapes}"))
    return 0


def _confusion(args: argparse.Namespace) -> int:
    model, preprocessing, config = load_trained(args.checkpoint, trust_code=args.trust_code)
    limits.check_model_memory(model, preprocessing.input_shape, EVAL_BATCH, "evaluation")
    mode = "RGB" if preprocessing.input_shape[2] == 3 else "L"
    dataset = args.dataset or config["dataset"]
    if dataset is None:
        raise InvalidArgumentError(
            f"{args.checkpoint} does not say which dataset it was trained on; pass --dataset"
        )
    images, labels = data.load(
        dataset,
        "test",
        data_dir_of(args.data_dir, config),
        mode=mode,
        size=preprocessing.input_shape[:2],
    )
    result = evaluate(model, images, labels, preprocessing, len(preprocessing.classes), EVAL_BATCH)
    folder = args.out_dir or args.checkpoint.parent
    confusion = plot_confusion(result.confusion, preprocessing.classes, folder / CONFUSION)
    wrong = plot_misclassified(
        images, labels, result.probabilities, preprocessing.classes, folder / MISCLASSIFIED
    )
    print(f"test accuracy {result.accuracy:.4f}; saved {confusion} and {wrong}")
    return 0


def register(commands: Any) -> None:
    explain = commands.add_parser(
        "explain",
        help="each layer's formulas with the numbers filled in: sizes, parameters, cost",
    )
    explain.add_argument("model", help=MODEL_HELP)
    explain.add_argument("--input-shape", type=INPUT_SHAPE, help=INPUT_SHAPE_HELP)
    explain.add_argument(
        "--classes", type=CLASSES, default=10, help="outputs of a named model (default 10)"
    )
    explain.add_argument(
        "--backward",
        action="store_true",
        help="the back-propagation equations instead, layer by layer from the loss back",
    )
    add_trust_code(explain)
    explain.set_defaults(run=_explain)

    gradcheck = commands.add_parser(
        "gradcheck",
        help="compare every parameter's gradient with central differences (float64)",
        description="Exit status 0 when every tensor agrees, 1 when one does not.",
    )
    gradcheck.add_argument("model", help=MODEL_HELP)
    gradcheck.add_argument("--input-shape", type=INPUT_SHAPE, help=INPUT_SHAPE_HELP)
    gradcheck.add_argument(
        "--classes", type=CLASSES, default=10, help="outputs of a named model (default 10)"
    )
    gradcheck.add_argument(
        "--batch",
        type=option(Integer(1, MAX_GRADCHECK_BATCH)),
        default=2,
        help="examples (default 2)",
    )
    gradcheck.add_argument(
        "--directions",
        type=option(Integer(1, MAX_DIRECTIONS)),
        default=3,
        help="per tensor (default 3)",
    )
    gradcheck.add_argument(
        "--seed",
        type=option(Integer(0, 2**64 - 1)),
        default=0,
        help="seed of the random input, labels and directions (default 0)",
    )
    add_trust_code(gradcheck)
    gradcheck.set_defaults(run=_gradcheck)

    plot = commands.add_parser("plot", help=f"training curves from a {HISTORY_JSON}")
    plot.add_argument("history", type=Path, help=f"a run's {HISTORY_JSON}")
    plot.add_argument("--out", type=Path, help=f"PNG file (default: {CURVES} beside it)")
    plot.set_defaults(run=_plot)

    filters = commands.add_parser("filters", help="the learned filters of a CONV layer")
    filters.add_argument(
        "checkpoint", type=Path, help="a checkpoint (.safetensors) or an ONNX model (.onnx)"
    )
    filters.add_argument("--layer", help="which CONV layer (default: the first)")
    filters.add_argument(
        "--channel",
        type=option(Integer(0, 1 << 20)),
        help="draw each filter's slice for this input channel (default: one channel is"
        " drawn as is, three as colour, more as their mean)",
    )
    filters.add_argument("--out", type=Path, help=f"PNG file (default: {FILTERS} beside it)")
    add_trust_code(filters)
    filters.set_defaults(run=_filters)

    featuremaps = commands.add_parser(
        "featuremaps", help="the activations of each CONV and POOL layer for one image"
    )
    featuremaps.add_argument(
        "checkpoint", type=Path, help="a checkpoint (.safetensors) or an ONNX model (.onnx)"
    )
    featuremaps.add_argument("image", type=Path, help="a PNG or JPEG file")
    add_picture_options(featuremaps)
    featuremaps.add_argument("--out", type=Path, help=f"PNG (default: {FEATUREMAPS} beside it)")
    add_trust_code(featuremaps)
    featuremaps.set_defaults(run=_featuremaps)

    confusion = commands.add_parser(
        "confusion", help="confusion matrix heat map and the most confident mistakes (test set)"
    )
    confusion.add_argument(
        "checkpoint", type=Path, help="a checkpoint (.safetensors) or an ONNX model (.onnx)"
    )
    confusion.add_argument(
        "--data-dir",
        help="where datasets live (default: the run's own, else $CONVMATH_DATA or"
        " ~/.cache/convmath)",
    )
    confusion.add_argument("--dataset", help="default: the dataset it was trained on")
    confusion.add_argument("--out-dir", type=Path, help="default: beside the checkpoint")
    add_trust_code(confusion)
    confusion.set_defaults(run=_confusion)

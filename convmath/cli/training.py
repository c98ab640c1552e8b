"""``convmath train``, ``lr-find``, ``evaluate``, ``predict`` and ``summary``."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data, limits
from convmath.cli.common import (
    CLASSES,
    INPUT_SHAPE,
    INPUT_SHAPE_HELP,
    THREADS,
    add_picture_options,
    add_trust_code,
    builder_default,
    data_dir_of,
    model_from,
    option,
    picture_options_of,
    picture_out,
    printable,
    threads,
)
from convmath.data.centering import picture_input
from convmath.data.folder import _pillow
from convmath.distributed import world
from convmath.errors import InvalidArgumentError, MissingDependencyError
from convmath.inspect.plots import plot_history, plot_lr_find
from convmath.inspect.summary import summary_table
from convmath.kernels import autotune
from convmath.kernels.parallel import available_cpus
from convmath.models import MODELS
from convmath.run import (
    Resumed,
    TrainConfig,
    default_out_dir,
    load_trained,
    read_resumed,
    run_lr_find,
    run_training,
)
from convmath.schema import Flag, Integer, Number, Text
from convmath.train import evaluate, predict
from convmath.train.checkpoint import atomic_write
from convmath.train.config import RECIPES, SETTINGS, Setting, plural, recipe_config
from convmath.train.inference import EVAL_BATCH
from convmath.train.lr_find import END_LR, LEARNING_RATE, START_LR, STEP_COUNT, STEPS
from convmath.train.outputs import AUTOTUNE, BEST, CURVES, HISTORY_JSON, LAST, METRICS

MODEL_OPTIONS = ("depth", "width", "dropout")  # the entries of model_options the commands name


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The training settings given as options (model_options: those the command names)."""
    given = {
        key: value for key, value in vars(args).items() if key in SETTINGS and value is not None
    }
    options = {name: getattr(args, name) for name in MODEL_OPTIONS}
    given["model_options"] = {k: v for k, v in options.items() if v is not None}
    return given


def _train(args: argparse.Namespace) -> int:
    overrides = _given(args)
    config = recipe_config(args.recipe, **overrides)
    extend_to = overrides.get("epochs") if args.resume is not None else None
    if args.resume is not None and (
        len(overrides) > 1 + (extend_to is not None) or args.recipe is not None
    ):
        ignored = sorted(
            k for k in overrides if k != "epochs" and (k != "model_options" or overrides[k])
        ) + (["recipe"] if args.recipe is not None else [])
        if world().is_root:
            print(
                f"(resuming keeps the run's own settings but --epochs; ignoring"
                f" {', '.join(ignored)})"
            )
    resume = None
    if args.resume is not None:  # read and its model rebuilt once, for this and the run
        resume = read_resumed(args.resume, trust_code=args.trust_code)
        finished = _nothing_left(resume, extend_to)
        if finished is not None:
            if world().is_root:
                print(finished)
            return 0
    count = args.threads
    if count is None and world().local_size > 1:  # the ranks on this machine share its cores
        count = max(1, available_cpus() // world().local_size)

    try:
        with threads(count), autotune.using_policy("measure" if args.autotune else "rule"):
            result = run_training(
                config,
                args.out,
                resume=resume,
                overwrite=args.overwrite,
                log=print,
                extend_to=extend_to,
                trust_code=args.trust_code,
            )
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: which, with the way back
        raise type(interrupt)(_resume_hint(args, config)) from None
    if not world().is_root:  # under MPI, rank 0 alone reports and draws
        return 0
    metrics = result.metrics
    best = (
        f" (best epoch {metrics['best_epoch']}, dev accuracy {metrics['dev_accuracy']:.4f})"
        if metrics["best_epoch"]
        else " (no dev set: the last epoch's weights)"
    )
    print(
        f"\ntest accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f}"
        f"{best}; {plural(metrics['epochs'], 'epoch')} in {metrics['train_seconds']:.1f} s"
    )
    saved = [LAST, HISTORY_JSON, METRICS]
    if (result.out_dir / BEST).is_file():
        saved.insert(0, BEST)
    if args.autotune:
        saved.append(_report_autotune(result.out_dir).name)
    print(f"saved {result.out_dir}/{', '.join(saved)}")
    try:
        smoothing = metrics["config"]["training"]["label_smoothing"]
        curves = plot_history(result.state.history, result.out_dir / CURVES, smoothing)
        print(f"saved {curves}: loss and accuracy per epoch")
    except MissingDependencyError:
        print("(install the plots extra, pip install 'convmath[plots]', for training curves)")
    return 0


def _lr_find(args: argparse.Namespace) -> int:
    config = recipe_config(args.recipe, **_given(args)).checked()
    if args.end_lr <= args.start_lr:
        raise InvalidArgumentError(
            f"--end-lr ({args.end_lr:g}) must be above --start-lr ({args.start_lr:g})"
        )
    plot = picture_out(args.plot or _lr_find_plot(config), "--plot")
    with threads(args.threads):
        found = run_lr_find(config, start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps)
    finding, run = found.finding, found.run
    print(
        printable(
            f"learning-rate range test: {run.model_name} on {config.dataset},"
            f" {len(run.trainer.train.labels)} training images, batch {config.batch_size},"
            f" {config.optimizer_text(lr=False)}, augmentation {config.augment!r},"
            f" seed {config.seed}"
        )
    )
    print(finding.table())
    print()
    print(finding.summary())
    try:
        path = plot_lr_find(
            finding.lrs,
            finding.losses,
            finding.smoothed,
            finding.suggestion,
            plot,
            f"Learning-rate range test: {run.model_name} on {Path(config.dataset).name}",
        )
        print(printable(f"saved {path}: J against the rate, the suggested rate marked"))
    except MissingDependencyError:
        print("(install the plots extra, pip install 'convmath[plots]', for the picture)")
    return 0


def _lr_find_plot(config: TrainConfig) -> Path:
    """``runs/lr-find-DATASET-MODEL.png``, beside the run folders (never inside one)."""
    folder = default_out_dir(config)
    return folder.parent / f"lr-find-{folder.name}.png"


def _nothing_left(resumed: Resumed, extend_to: int | None) -> str | None:
    """What to say instead of training when the run ``resumed`` is finished, else None.

    A run is finished when it has trained all its epochs (and no more are asked for) or when
    it stopped early. Nothing is then printed again and no file is written.
    """
    done, resume = resumed.epochs_done, resumed.path
    if done is None:
        return None  # the run itself says what is missing
    if extend_to is not None and extend_to <= done:
        return None  # refused, with the reason
    where = printable(str(resume))
    metrics = resume.parent / METRICS
    results = f" (its results: {printable(str(metrics))})" if metrics.is_file() else ""
    if resumed.stopped_early:
        return (
            f"{where}: the run stopped early after {plural(done, 'epoch')}, with no progress on"
            f" the dev set; there is nothing left to train{results}. To train longer, start a"
            f" new run with a larger --patience"
        )
    if extend_to is None and done >= resumed.config.epochs:
        return (
            f"{where}: the run has trained all its {plural(done, 'epoch')}; there is nothing"
            f" left to train{results}. To extend it, ask for more epochs in all:"
            f" convmath train --resume {where} --epochs {2 * done}"
        )
    return None


def _report_autotune(out_dir: Path) -> Path:
    """Print the algorithms that measurement chose, and save them (``AUTOTUNE``)."""
    measured = [choice for choice in autotune.choices("measure") if choice.seconds]
    print(f"\nkernels chosen by timing them ({len(measured)} layer shapes):")
    for choice in measured:
        print(f"  {choice.line()}")
    path = out_dir / AUTOTUNE
    rows = [
        {
            "op": choice.op,
            "layer": choice.layer,
            "algorithm": choice.algorithm,
            "ms": {name: round(1000 * seconds, 3) for name, seconds in choice.seconds.items()},
        }
        for choice in measured
    ]
    atomic_write(path, (json.dumps(rows, indent=1) + "\n").encode())
    return path


def _resume_hint(args: argparse.Namespace, config: Any) -> str:
    """What to run after Ctrl-C: the real path of the run's last checkpoint, if it has one."""
    if args.out is not None:
        out = Path(args.out)
    elif args.resume is not None:
        out = Path(args.resume).parent
    else:
        out = default_out_dir(config)
    last = out / LAST
    if last.is_file():
        return f"resume with convmath train --resume {last}"
    return "no epoch had finished, so there is nothing to resume"


def _evaluate(args: argparse.Namespace) -> int:
    with threads(args.threads):
        model, preprocessing, config = load_trained(args.checkpoint, trust_code=args.trust_code)
        limits.check_model_memory(model, preprocessing.input_shape, EVAL_BATCH, "evaluation")
        dataset = args.dataset or config["dataset"]
        if dataset is None:
            raise InvalidArgumentError(
                f"{args.checkpoint} does not say which dataset it was trained on; pass --dataset"
            )
        dataset = data.dataset_name(dataset)  # --dataset MNIST is mnist
        mode = "RGB" if preprocessing.input_shape[2] == 3 else "L"
        images, labels = data.load(
            dataset,
            args.split,
            data_dir_of(args.data_dir, config),
            mode=mode,
            size=preprocessing.input_shape[:2],
        )
        if images.shape[1:] != preprocessing.input_shape:
            raise InvalidArgumentError(
                f"{dataset} images are {images.shape[1:]} but the model expects"
                f" {preprocessing.input_shape}"
            )
        result = evaluate(
            model, images, labels, preprocessing, len(preprocessing.classes), EVAL_BATCH
        )
    classes = [printable(name) for name in preprocessing.classes]  # names from the file
    print(printable(f"{args.checkpoint} on {dataset} {args.split} ({len(labels)} images)"))
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
    model, preprocessing, config = load_trained(args.checkpoint, trust_code=args.trust_code)
    limits.check_model_memory(
        model, preprocessing.input_shape, len(args.images), "prediction", itemsize=4
    )
    options = picture_options_of(args, config["dataset"])
    shape = preprocessing.input_shape
    batch = np.stack([picture_input(path, shape, **options) for path in args.images])
    if args.show is not None:
        _show(batch, args.show, args.images)
    with threads(args.threads):
        probabilities = predict(model, preprocessing, batch)
    top = min(args.top, len(preprocessing.classes))
    for path, p in zip(args.images, probabilities, strict=True):
        order = np.argsort(-p)[:top]
        ranked = ", ".join(f"{printable(preprocessing.classes[k])} {p[k]:.3f}" for k in order)
        print(f"{printable(path)}: {ranked}")
    return 0


def _show(batch: np.ndarray, target: Path, images: list[Path]) -> None:
    """Write the exact inputs the model saw (scaled to 0-255) as PNG files, never over one of
    the ``images`` read."""
    Image = _pillow()
    paths = [
        target if len(batch) == 1 else target.with_name(f"{target.stem}-{k}{target.suffix}")
        for k in range(len(batch))
    ]
    for path in paths:
        picture_out(path, "--show", images)
    for path, unit in zip(paths, batch, strict=True):
        pixels = np.round(np.clip(unit, 0, 1) * 255).astype(np.uint8)
        picture = io.BytesIO()
        Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(picture, "PNG")
        atomic_write(path, picture.getvalue())
        print(f"saved {path}: the model's input, {unit.shape[0]} x {unit.shape[1]}")


def _summary(args: argparse.Namespace) -> int:
    model, shape, title = model_from(
        args.model, args.input_shape, args.classes, trust_code=args.trust_code
    )
    print(summary_table(model, shape, title))
    return 0


def _parsed(declared: Setting) -> dict[str, Any]:
    """How argparse reads the setting: a switch, one of its choices, or text its spec checks."""
    spec = getattr(declared.spec, "inner", declared.spec)  # a value given is never None
    if isinstance(spec, Flag):
        return {"action": "store_const", "const": True}
    if isinstance(spec, Text) and spec.choices is not None:
        return {"choices": spec.choices}
    return {"type": option(spec)}


def _add_model_options(train: argparse.ArgumentParser) -> None:
    """--depth, --width and --dropout: the entries of ``model_options`` the command names."""
    train.add_argument(
        "--depth",
        type=option(Integer(8, limits.MAX_RESNET_DEPTH)),
        help=f"ResNet depth 6n+2 (resnet only; default {builder_default('resnet', 'depth')})",
    )
    train.add_argument(
        "--width",
        type=option(Integer(1, limits.MAX_CHANNELS)),
        help="channels of the first layer (default "
        + ", ".join(f"{builder_default(m, 'width')} for {m}" for m in ("digits_cnn", "wide_cnn"))
        + "; digits_cnn, wide_cnn and builders of your own that take width)",
    )
    train.add_argument(
        "--dropout",
        type=option(Number(0, 0.95)),
        help="dropout rate of the classifier (mnist_cnn and wide_cnn: their features get half"
        " of it; builders of your own that take dropout; default "
        + ", ".join(f"{builder_default(m, 'dropout'):g} for {m}" for m in ("mnist_cnn", "wide_cnn"))
        + ")",
    )


def _add_settings(parser: argparse.ArgumentParser, *, range_test: bool = False) -> None:
    """One option per training setting, as declared (``range_test``: only those that shape a
    step, for lr-find), and --recipe."""
    for declared in SETTINGS.values():
        if declared.option and (declared.range_test or not range_test):
            parser.add_argument(declared.flag, help=declared.option_help(), **_parsed(declared))
        if declared.name == "model_options":  # its command-line face: the options we name
            _add_model_options(parser)
    parser.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        help="a named set of settings; options given beside it override it ("
        + "; ".join(f"{name}: {recipe.about}" for name, recipe in RECIPES.items()).replace(
            "%", "%%"
        )
        + "; default: none, the defaults above)",
    )


def register(commands: Any) -> None:
    train = commands.add_parser(
        "train",
        help="train a CNN (default: a small CNN on the embedded digits)",
        description="Train a CNN and save checkpoints, history and metrics. With no options it"
        " trains the default CNN on the embedded UCI digits in a few seconds.",
    )
    _add_settings(train)
    train.add_argument("--out", type=Path, help="output folder (default runs/DATASET-MODEL)")
    train.add_argument(
        "--resume",
        type=Path,
        help="continue the run saved in this checkpoint (with its own settings; --epochs N"
        " extends it to N epochs in all; default: a new run)",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier run in --out (default: refuse)",
    )
    train.add_argument(
        "--threads",
        type=THREADS,
        help="worker threads (default: all cores; under mpiexec, a share of them per process)",
    )
    train.add_argument(
        "--autotune",
        action="store_true",
        help="time each layer's candidate kernels (im2col, Winograd, ...) on its first step and"
        " keep the fastest; they agree to float rounding, but two runs may choose differently"
        " (default: the measured rules, the same bits on every run)",
    )
    add_trust_code(train)
    train.set_defaults(run=_train)

    lr_find = commands.add_parser(
        "lr-find",
        help="the learning-rate range test: the loss as the rate grows, and a rate to train with",
        description="Train for a few hundred steps with a learning rate growing exponentially"
        " (the model, data, batches, augmentation, optimizer and loss that convmath train takes"
        " with the same options), smooth the loss, stop when it diverges, and suggest the rate"
        " where the smoothed loss falls fastest. Nothing is trained for good: the weights are"
        " drawn, tested and thrown away.",
    )
    _add_settings(lr_find, range_test=True)
    lr_find.add_argument(
        "--start-lr",
        type=option(LEARNING_RATE),
        default=START_LR,
        help=f"the first rate (default {START_LR:g})",
    )
    lr_find.add_argument(
        "--end-lr",
        type=option(LEARNING_RATE),
        default=END_LR,
        help=f"the last rate, if the loss has not diverged before (default {END_LR:g})",
    )
    lr_find.add_argument(
        "--steps",
        type=option(STEP_COUNT),
        default=STEPS,
        help=f"steps from the first rate to the last (default {STEPS})",
    )
    lr_find.add_argument(
        "--plot",
        type=Path,
        help="where to draw the curve, a .png file (default runs/lr-find-DATASET-MODEL.png)",
    )
    lr_find.add_argument("--threads", type=THREADS, help="worker threads (default: all cores)")
    lr_find.set_defaults(run=_lr_find)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, loss, per-class accuracy and confusion matrix of a checkpoint"
    )
    evaluate.add_argument(
        "checkpoint", type=Path, help="a checkpoint (.safetensors) or an ONNX model (.onnx)"
    )
    evaluate.add_argument("--dataset", help="default: the dataset it was trained on")
    evaluate.add_argument(
        "--data-dir",
        help="where datasets live (default: the run's own, else $CONVMATH_DATA or"
        " ~/.cache/convmath)",
    )
    evaluate.add_argument(
        "--split", choices=("train", "test"), default="test", help="which split (default test)"
    )
    evaluate.add_argument("--threads", type=THREADS, help="worker threads (default: all cores)")
    add_trust_code(evaluate)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="classify image files with a checkpoint")
    predict.add_argument(
        "checkpoint", type=Path, help="a checkpoint (.safetensors) or an ONNX model (.onnx)"
    )
    predict.add_argument("images", nargs="+", type=Path, help="PNG or JPEG files")
    predict.add_argument(
        "--top", type=CLASSES, default=3, help="how many classes to show (default 3)"
    )
    add_picture_options(predict)
    predict.add_argument(
        "--show",
        type=Path,
        help="also write the exact input the model saw to this PNG (default: not written)",
    )
    predict.add_argument("--threads", type=THREADS, help="worker threads (default: all cores)")
    add_trust_code(predict)
    predict.set_defaults(run=_predict)

    summary = commands.add_parser(
        "summary", help="each layer's output shape, parameters and multiply-accumulates"
    )
    summary.add_argument(
        "model",
        help=f"a model name {sorted(MODELS)}, your own builder as package.module:function, or"
        " a checkpoint file",
    )
    summary.add_argument("--input-shape", type=INPUT_SHAPE, help=INPUT_SHAPE_HELP)
    summary.add_argument(
        "--classes", type=CLASSES, default=10, help="outputs of a named model (default 10)"
    )
    add_trust_code(summary)
    summary.set_defaults(run=_summary)

"""``convmath train``, ``evaluate``, ``predict`` and ``summary``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from convmath import limits
from convmath.cli.common import (
    CLASSES,
    EVAL_BATCH,
    IMAGE_SIZE,
    INPUT_SHAPE,
    INPUT_SHAPE_HELP,
    THREADS,
    add_trust_code,
    builder_default,
    data_dir_of,
    model_from,
    option,
    printable,
    threads,
)
from convmath.errors import InvalidArgumentError, MissingDependencyError
from convmath.schema import Integer


def _train(args: argparse.Namespace) -> int:
    from convmath.distributed import world
    from convmath.train import TrainConfig, run_training
    from convmath.train.config import plural

    overrides = {
        key: value
        for key, value in vars(args).items()
        if key in TrainConfig.__dataclass_fields__ and value is not None
    }
    options = {"depth": args.depth, "width": args.width}
    overrides["model_options"] = {k: v for k, v in options.items() if v is not None}
    config = TrainConfig(**overrides)
    extend_to = overrides.get("epochs") if args.resume is not None else None
    if args.resume is not None and len(overrides) > 1 + (extend_to is not None):
        ignored = sorted(
            k for k in overrides if k != "epochs" and (k != "model_options" or overrides[k])
        )
        if world().is_root:
            print(
                f"(resuming keeps the run's own settings but --epochs; ignoring"
                f" {', '.join(ignored)})"
            )
    if args.resume is not None:
        finished = _nothing_left(args.resume, extend_to, args.trust_code)
        if finished is not None:
            if world().is_root:
                print(finished)
            return 0
    count = args.threads
    if count is None and world().local_size > 1:  # the ranks on this machine share its cores
        from convmath.kernels.parallel import available_cpus

        count = max(1, available_cpus() // world().local_size)
    from convmath.kernels import autotune

    try:
        with threads(count), autotune.using_policy("measure" if args.autotune else "rule"):
            result = run_training(
                config,
                args.out,
                resume=args.resume,
                overwrite=args.overwrite,
                log=print,
                extend_to=extend_to,
                trust_code=args.trust_code,
            )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(_resume_hint(args, config)) from None
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
    saved = ["last.safetensors", "history.json", "metrics.json"]
    if (result.out_dir / "best.safetensors").is_file():
        saved.insert(0, "best.safetensors")
    if args.autotune:
        saved.append(_report_autotune(result.out_dir).name)
    print(f"saved {result.out_dir}/{', '.join(saved)}")
    try:
        from convmath.inspect.plots import plot_history

        smoothing = metrics["config"]["training"]["label_smoothing"]
        curves = plot_history(result.state.history, result.out_dir / "curves.png", smoothing)
        print(f"saved {curves}: loss and accuracy per epoch")
    except MissingDependencyError:
        print("(install the plots extra, pip install 'convmath[plots]', for training curves)")
    return 0


def _nothing_left(resume: Path, extend_to: int | None, trust_code: bool) -> str | None:
    """What to say instead of training when the run saved in ``resume`` is finished, else None.

    A run is finished when it has trained all its epochs (and no more are asked for) or when
    it stopped early. Nothing is then printed again and no file is written.
    """
    from convmath.train import load_checkpoint
    from convmath.train.config import plural
    from convmath.train.trained import check_run_config, rebuild

    checkpoint = load_checkpoint(resume)
    rebuild(checkpoint, str(resume), trust_code=trust_code)  # refused as every command would
    training = check_run_config(checkpoint.config, str(resume)).get("training")
    done = checkpoint.state.get("epoch")
    if training is None or not isinstance(done, int):
        return None  # the run itself says what is missing
    if extend_to is not None and extend_to <= done:
        return None  # refused, with the reason
    where = printable(str(resume))
    metrics = resume.parent / "metrics.json"
    results = f" (its results: {printable(str(metrics))})" if metrics.is_file() else ""
    if checkpoint.state.get("stopped_early"):
        return (
            f"{where}: the run stopped early after {plural(done, 'epoch')}, with no progress on"
            f" the dev set; there is nothing left to train{results}. To train longer, start a"
            f" new run with a larger --patience"
        )
    if extend_to is None and done >= training.epochs:
        return (
            f"{where}: the run has trained all its {plural(done, 'epoch')}; there is nothing"
            f" left to train{results}. To extend it, ask for more epochs in all:"
            f" convmath train --resume {where} --epochs {2 * done}"
        )
    return None


def _report_autotune(out_dir: Path) -> Path:
    """Print the algorithms that measurement chose, and save them as ``autotune.json``."""
    from convmath.kernels import autotune
    from convmath.train.checkpoint import atomic_write

    measured = [choice for choice in autotune.choices("measure") if choice.seconds]
    print(f"\nkernels chosen by timing them ({len(measured)} layer shapes):")
    for choice in measured:
        print(f"  {choice.line()}")
    path = out_dir / "autotune.json"
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
    from convmath.train.run import default_out_dir

    if args.out is not None:
        out = Path(args.out)
    elif args.resume is not None:
        out = Path(args.resume).parent
    else:
        out = default_out_dir(config)
    last = out / "last.safetensors"
    if last.is_file():
        return f"resume with convmath train --resume {last}"
    return "no epoch had finished, so there is nothing to resume"


def _evaluate(args: argparse.Namespace) -> int:
    from convmath import data
    from convmath.train import evaluate, load_trained

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
    from convmath.data.centering import picture_input, picture_options
    from convmath.train import load_trained, predict

    model, preprocessing, config = load_trained(args.checkpoint, trust_code=args.trust_code)
    limits.check_model_memory(
        model, preprocessing.input_shape, len(args.images), "prediction", itemsize=4
    )
    center = True if args.center else False if args.no_center else None
    options = picture_options(config["dataset"], invert=args.invert, center=center)
    shape = preprocessing.input_shape
    batch = np.stack([picture_input(path, shape, **options) for path in args.images])
    if args.show is not None:
        _show(batch, args.show)
    with threads(args.threads):
        probabilities = predict(model, preprocessing, batch)
    top = min(args.top, len(preprocessing.classes))
    for path, p in zip(args.images, probabilities, strict=True):
        order = np.argsort(-p)[:top]
        ranked = ", ".join(f"{preprocessing.classes[k]} {p[k]:.3f}" for k in order)
        print(f"{path}: {ranked}")
    return 0


def _show(batch: np.ndarray, target: Path) -> None:
    """Write the exact inputs the model saw (scaled to 0-255) as PNG files."""
    from convmath.data.folder import _pillow

    Image = _pillow()
    if target.suffix.lower() != ".png":
        raise InvalidArgumentError(f"--show writes a PNG file; got {target}")
    for k, unit in enumerate(batch):
        path = target if len(batch) == 1 else target.with_name(f"{target.stem}-{k}{target.suffix}")
        pixels = np.round(np.clip(unit, 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(path)
        print(f"saved {path}: the model's input, {unit.shape[0]} x {unit.shape[1]}")


def _summary(args: argparse.Namespace) -> int:
    from convmath.inspect.summary import summary_table

    model, shape, title = model_from(
        args.model, args.input_shape, args.classes, trust_code=args.trust_code
    )
    print(summary_table(model, shape, title))
    return 0


def register(commands: Any) -> None:
    from convmath.data.augment import PRESETS
    from convmath.models import MODELS
    from convmath.optim import OPTIMIZERS, SCHEDULES
    from convmath.optim.factory import ADAMW_DEFAULT_DECAY
    from convmath.train.config import DEFAULT_LR, SETTINGS, TrainConfig

    defaults = TrainConfig()

    def setting(name: str) -> Any:
        """The argparse type of the training setting ``name``: its spec, unwrapped of None."""
        spec = SETTINGS[name]
        return option(getattr(spec, "inner", spec))

    train = commands.add_parser(
        "train",
        help="train a CNN (default: a small CNN on the embedded digits)",
        description="Train a CNN and save checkpoints, history and metrics. With no options it"
        " trains the default CNN on the embedded UCI digits in a few seconds.",
    )
    train.add_argument(
        "--model",
        type=setting("model"),
        metavar="MODEL",
        help=f"one of {', '.join(sorted(MODELS))}, or your own builder as"
        " package.module:function (default: digits_cnn for digits, lenet5 for one channel,"
        " resnet for three)",
    )
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
        "--dataset",
        help="digits, mnist, fashion-mnist, cifar10 or a folder of images"
        f" (default {defaults.dataset})",
    )
    train.add_argument(
        "--data-dir", help="where datasets live (default: $CONVMATH_DATA or ~/.cache/convmath)"
    )
    train.add_argument("--epochs", type=setting("epochs"), help=f"default {defaults.epochs}")
    train.add_argument(
        "--batch-size", type=setting("batch_size"), help=f"default {defaults.batch_size}"
    )
    train.add_argument("--optimizer", choices=OPTIMIZERS, help=f"default {defaults.optimizer}")
    train.add_argument(
        "--lr",
        type=setting("lr"),
        help="learning rate (default "
        + ", ".join(f"{lr:g} for {name}" for name, lr in DEFAULT_LR.items())
        + ")",
    )
    train.add_argument(
        "--momentum", type=setting("momentum"), help=f"SGD momentum (default {defaults.momentum})"
    )
    train.add_argument(
        "--nesterov", action="store_const", const=True, help="SGD: Nesterov momentum (default off)"
    )
    train.add_argument(
        "--weight-decay",
        type=setting("weight_decay"),
        help=f"weight decay (default 0; {ADAMW_DEFAULT_DECAY:g} for adamw, decoupled)",
    )
    train.add_argument("--schedule", choices=SCHEDULES, help=f"default {defaults.schedule}")
    train.add_argument(
        "--gamma",
        type=setting("gamma"),
        help=f"step schedule: lr factor per step (default {defaults.gamma:g})",
    )
    train.add_argument(
        "--step-epochs",
        type=setting("step_epochs"),
        help=f"step schedule: epochs per step (default {defaults.step_epochs:g})",
    )
    train.add_argument(
        "--warmup-epochs",
        type=setting("warmup_epochs"),
        help=f"cosine schedule: warm-up epochs (default {defaults.warmup_epochs:g})",
    )
    train.add_argument(
        "--augment",
        help=f"a preset {PRESETS} or a list like crop:2,rotate:10,hflip:0.5,noise:0.05,"
        f"brightness:0.2,hue:0.05 (default {defaults.augment})",
    )
    train.add_argument(
        "--dev-fraction", type=setting("dev_fraction"), help=f"default {defaults.dev_fraction}"
    )
    train.add_argument("--seed", type=setting("seed"), help=f"default {defaults.seed}")
    train.add_argument(
        "--patience",
        type=setting("patience"),
        help="early stopping after N epochs without progress on the dev set (default off)",
    )
    train.add_argument(
        "--label-smoothing",
        type=setting("label_smoothing"),
        help=f"default {defaults.label_smoothing}",
    )
    train.add_argument(
        "--clip-norm",
        type=setting("clip_norm"),
        help="clip gradients to this global norm (default off)",
    )
    train.add_argument(
        "--train-limit",
        type=setting("train_limit"),
        help="use only the first N training images (default all)",
    )
    train.add_argument(
        "--image-size",
        type=IMAGE_SIZE,
        help="image folders: resize to H,W (default: the size of the first image)",
    )
    train.add_argument(
        "--color",
        action="store_const",
        const=True,
        help="image folders: read RGB (default grayscale)",
    )
    train.add_argument(
        "--sync-bn",
        action="store_const",
        const=True,
        help="under mpiexec: batch norm's statistics over the whole global batch, so that N"
        " processes train as one (default: each process's share, as PyTorch's DDP)",
    )
    train.add_argument("--out", type=Path, help="output folder (default runs/DATASET-MODEL)")
    train.add_argument(
        "--init-from",
        type=setting("init_from"),
        help="start from the weights of this checkpoint (the same model; a new optimizer and"
        " schedule): fine-tuning (default: fresh weights from --seed)",
    )
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
    predict.add_argument(
        "--invert",
        action="store_true",
        help="invert the picture (a model trained on mnist, fashion-mnist or the digits does it"
        " by itself when the picture's border is light)",
    )
    predict.add_argument(
        "--center",
        action="store_true",
        help="crop a one-channel picture to its ink, fit it into 20/28 of the field and centre"
        " it by mass, as MNIST's digits were (the default for models trained on mnist)",
    )
    predict.add_argument(
        "--no-center", action="store_true", help="only resize, even for an mnist model"
    )
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

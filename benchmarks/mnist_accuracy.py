"""Accuracy runs on real MNIST: a recipe over several seeds, each in a fresh process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mnist_accuracy.py \\
        --recipe mnist-best --seeds 0 1 2 --data-dir DIR

Each seed trains in a process of its own (nothing cached or warmed up is
shared) into ``OUT/seed-S``. The test accuracy reported for a seed is that
of the epoch with the best dev accuracy (the trainer keeps that epoch's
weights; the dev split is ``dev_fraction`` of the training images, never the
test set). The summary gives every seed's figures, the mean and the spread of
the test accuracy, the wall time and the machine, and for the best run (the
highest dev accuracy) draws the test confusion matrix and the most
confidently misclassified test images into OUT (``confusion.png``,
``misclassified.png``, as ``convmath confusion`` draws them). Everything is
also written to ``OUT/summary.json``; JSON lines go to standard output.

Recipes: the library's (``convmath train --recipe``: ``mnist-best``) and four
of this benchmark's own:

- ``lenet5``, the end-to-end workload of benchmarks/WORKLOADS.md: LeNet-5,
  Adam 1e-3, batch 64, learning rate x0.7 after each epoch, 10 epochs on all
  60,000 training images (no dev split: the last epoch), with the test
  accuracy after every epoch and the wall time until it first reaches 99.0%;
- ``wide16``, the earlier best recipe (99.60%): ``wide_cnn`` of width 16,
  random 2-pixel shifts, Adam 2e-3 with cosine decay, label smoothing 0.1,
  14 epochs;
- ``mnist-elastic``, mnist-best with elastic distortion (``elastic:15``)
  added to its augmentation: 99.58% over three seeds (docs/TRAINING.md);
- ``mnist-dropout25``, mnist-best with dropout 0.25 in place of 0.4 (0.125
  in place of 0.2 before the classifier's hidden layer), for a closer fit of
  the training images (docs/TRAINING.md).

``--keep-epochs`` also saves every epoch's checkpoint as
``OUT/seed-S/epochs/epoch-NN.safetensors``, for weight averaging over the
last epochs (``benchmarks/weight_averaging.py``): their weights are that
epoch's, their training state is saved before the trainer records the epoch
(resume from ``last.safetensors``, never from these).

``--epochs`` and ``--train-limit`` shorten a recipe, for a check that the
script works end to end; their figures are not the recipe's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit

from convmath import data
from convmath.inspect.plots import plot_confusion, plot_misclassified
from convmath.kernels.parallel import available_cpus, using_threads
from convmath.kernels.runtime import tune_allocator
from convmath.run import TrainConfig, load_trained, run_training
from convmath.train import evaluate, save_checkpoint
from convmath.train.config import RECIPES, recipe_config
from convmath.train.outputs import BEST, HISTORY_JSON, LAST, METRICS

OWN_RECIPES: dict[str, dict[str, Any]] = {
    "lenet5": {
        "dataset": "mnist", "model": "lenet5", "epochs": 10, "batch_size": 64,
        "optimizer": "adam", "lr": 1e-3, "schedule": "step", "gamma": 0.7, "augment": "none",
        "label_smoothing": 0.0, "dev_fraction": 0.0,
    },
    "wide16": {
        "dataset": "mnist", "model": "wide_cnn", "model_options": {"width": 16}, "epochs": 14,
        "batch_size": 128, "optimizer": "adam", "lr": 2e-3, "schedule": "cosine",
        "warmup_epochs": 0.5, "augment": "crop:2", "label_smoothing": 0.1, "dev_fraction": 0.1,
    },
    "mnist-elastic": RECIPES["mnist-best"].settings
    | {"augment": "crop:2,rotate:10,zoom:0.1,elastic:15"},
    "mnist-dropout25": RECIPES["mnist-best"].settings
    | {"model_options": {"width": 32, "dropout": 0.25}},
}  # fmt: skip
EPOCHS = "epochs"  # --keep-epochs: the folder of a seed's checkpoint after each epoch
TEST_EACH_EPOCH = {"lenet5"}  # the workload's figure is the time to 99.0% on the test set
CHOICES = sorted({*OWN_RECIPES, *RECIPES})


def recipe(name: str, **given: Any) -> TrainConfig:
    """The recipe's configuration, ``given`` over it (None values: the recipe's own)."""
    given = {key: value for key, value in given.items() if value is not None}
    if name in OWN_RECIPES:
        return recipe_config(None, **(OWN_RECIPES[name] | given))
    return recipe_config(name, **given)


def machine() -> dict[str, Any]:
    """Where the figures were measured: CPU, cores, load, Python, NumPy and BLAS."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": model,
        "cpus_usable": available_cpus(),
        "load_average_1_5_15": load,
        "system": platform.platform(),
        **blas_report(),
    }


def one_seed(args: argparse.Namespace, seed: int, result_file: Path) -> None:
    """Train the recipe with ``seed`` in this process; write its figures to ``result_file``."""
    tune_allocator()  # as the commands do
    config = recipe(
        args.recipe,
        seed=seed,
        data_dir=args.data_dir,
        epochs=args.epochs,
        train_limit=args.train_limit,
    )
    test_each_epoch = args.recipe in TEST_EACH_EPOCH or args.test_each_epoch
    test = data.load("mnist", "test", args.data_dir) if test_each_epoch else None
    started = time.perf_counter()
    reached: list[float] = []

    def each_epoch(trainer, row):
        row["wall_seconds"] = time.perf_counter() - started
        line = {"seed": seed, "epoch": row["epoch"], "dev_accuracy": row.get("dev_accuracy")}
        if test is not None:  # for information: the epoch is never chosen by it
            result = evaluate(trainer.model, *test, trainer.prepare, 10)
            row["test_accuracy"] = result.accuracy
            if result.accuracy >= 0.99 and not reached:
                reached.append(time.perf_counter() - started)
            line["test_accuracy"] = result.accuracy
        emit(line | {"seconds": row["seconds"], "wall_seconds": row["wall_seconds"]})
        if args.keep_epochs:
            save_checkpoint(
                out / EPOCHS / f"epoch-{row['epoch']:02d}.safetensors", trainer.checkpoint()
            )

    out = args.out / f"seed-{seed}"
    with using_threads():  # every core, as `convmath train` does
        result = run_training(
            config, out, overwrite=True, on_epoch=[each_epoch], log=lambda line: None
        )
    metrics = result.metrics
    figures = {
        "seed": seed,
        "run": str(out),
        "epochs": metrics["epochs"],
        "selected_epoch": metrics["best_epoch"],  # chosen on the dev split (None: no dev split)
        "dev_accuracy": metrics["dev_accuracy"],
        "test_accuracy": metrics["test_accuracy"],  # at the selected epoch
        "test_loss": metrics["test_loss"],
        "train_seconds": metrics["train_seconds"],
        "wall_seconds": time.perf_counter() - started,
        "parameters": metrics["parameters"],
        "images_per_second": statistics.mean(r["images_per_second"] for r in result.state.history),
    }
    if test_each_epoch:
        figures["test_accuracy_by_epoch"] = [r["test_accuracy"] for r in result.state.history]
        figures["seconds_to_99.0"] = reached[0] if reached else None
    result_file.write_text(json.dumps(figures))


def figures_from_folder(out: Path, seed: int) -> dict[str, Any]:
    """A finished seed's figures read back from its run folder (``--summarize``), as
    :func:`one_seed` reports them; the wall time is the last epoch's (the final test
    evaluation not counted)."""
    folder = out / f"seed-{seed}"
    try:
        metrics = json.loads((folder / METRICS).read_text())
        history = json.loads((folder / HISTORY_JSON).read_text())
    except FileNotFoundError as missing:
        message = f"--summarize: seed {seed} has not finished: {missing.filename} is missing"
        raise SystemExit(message) from None
    return {
        "seed": seed,
        "run": str(folder),
        "epochs": metrics["epochs"],
        "selected_epoch": metrics["best_epoch"],
        "dev_accuracy": metrics["dev_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics["test_loss"],
        "train_seconds": metrics["train_seconds"],
        "wall_seconds": history[-1].get("wall_seconds") if history else None,
        "parameters": metrics["parameters"],
        "images_per_second": statistics.mean(r["images_per_second"] for r in history),
    }


def draw_best(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """The confusion matrix and the most confidently misclassified test images of the run with
    the highest dev accuracy (the last epoch's figures where there is no dev split)."""
    best = max(runs, key=lambda r: (r["dev_accuracy"] or 0.0, -r["seed"]))
    folder = Path(best["run"])
    checkpoint = folder / (BEST if (folder / BEST).is_file() else LAST)
    model, preprocessing, _ = load_trained(checkpoint)
    images, labels = data.load("mnist", "test", args.data_dir)
    with using_threads():
        result = evaluate(model, images, labels, preprocessing, len(preprocessing.classes))
    pictures = {"seed": best["seed"], "checkpoint": str(checkpoint)}
    try:
        confusion = plot_confusion(
            result.confusion, preprocessing.classes, args.out / "confusion.png"
        )
        wrong = plot_misclassified(
            images,
            labels,
            result.probabilities,
            preprocessing.classes,
            args.out / "misclassified.png",
        )
        pictures |= {"confusion": str(confusion), "misclassified": str(wrong)}
    except ImportError as error:  # MissingDependencyError: the plots extra is not installed
        pictures["pictures"] = f"not drawn: {error}"
    pictures["test_accuracy"] = result.accuracy
    pictures["confusion_matrix"] = result.confusion.tolist()
    return pictures


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=CHOICES, default="mnist-best")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-dir", help="folder holding mnist/ (default: CONVMATH_DATA)")
    parser.add_argument("--out", type=Path, help="default runs/bench-RECIPE")
    parser.add_argument("--epochs", type=int, help="fewer epochs: a check, not the recipe")
    parser.add_argument("--train-limit", type=int, help="fewer images: a check, not the recipe")
    parser.add_argument(
        "--test-each-epoch",
        action="store_true",
        help="also evaluate the test set after every epoch, for information (lenet5 always)",
    )
    parser.add_argument(
        "--keep-epochs",
        action="store_true",
        help="also save every epoch's checkpoint into OUT/seed-S/epochs/ (weight averaging)",
    )
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="train nothing: summarize the seeds already trained into OUT (seeds trained apart)",
    )
    parser.add_argument("--one-seed", type=int, help=argparse.SUPPRESS)  # a child process
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out = args.out or Path("runs") / f"bench-{args.recipe}"
    if args.one_seed is not None:
        one_seed(args, args.one_seed, args.result)
        return

    config = recipe(args.recipe, epochs=args.epochs, train_limit=args.train_limit)
    shortened = args.epochs is not None or args.train_limit is not None
    emit(
        {
            "recipe": args.recipe,
            "seeds": args.seeds,
            "shortened": shortened,
            "config": {k: v for k, v in vars(config).items() if k not in ("seed", "data_dir")},
            "machine": machine(),
        }
    )
    started = time.perf_counter()
    runs = [figures_from_folder(args.out, seed) for seed in args.seeds] if args.summarize else []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in [] if args.summarize else args.seeds:
            result_file = Path(scratch) / f"seed-{seed}.json"
            child = [
                sys.executable,
                __file__,
                "--one-seed",
                str(seed),
                "--result",
                str(result_file),
            ]
            child += ["--recipe", args.recipe, "--out", str(args.out)]
            for option in ("data_dir", "epochs", "train_limit"):
                if getattr(args, option) is not None:
                    child += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
            for flag in ("test_each_epoch", "keep_epochs"):
                if getattr(args, flag):
                    child.append(f"--{flag.replace('_', '-')}")
            subprocess.run(child, check=True)  # a fresh process per seed
            runs.append(json.loads(result_file.read_text()))
            emit({"done": runs[-1]})
    summary = {
        "recipe": args.recipe,
        "shortened": shortened,
        "seeds": args.seeds,
        "test_accuracy": spread([r["test_accuracy"] for r in runs]),
        "dev_accuracy": spread([r["dev_accuracy"] for r in runs if r["dev_accuracy"] is not None])
        if any(r["dev_accuracy"] is not None for r in runs)
        else None,
        "total_wall_seconds": sum(r["wall_seconds"] or 0.0 for r in runs)
        if args.summarize
        else time.perf_counter() - started,
        "runs": runs,
        "best_run": draw_best(runs, args),
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    emit({k: v for k, v in summary.items() if k not in ("runs", "best_run")})
    accuracy = summary["test_accuracy"]
    std = f" +- {accuracy['std']:.4f} (sample std)" if accuracy["std"] is not None else ""
    print(
        f"{args.recipe}{' (SHORTENED: not the recipe)' if shortened else ''}: test accuracy at"
        f" the dev-chosen epoch {accuracy['mean']:.4f}{std} over seeds {args.seeds}, from"
        f" {accuracy['min']:.4f} to {accuracy['max']:.4f}; {summary['total_wall_seconds']:.0f} s"
        f" in all; pictures of seed {summary['best_run']['seed']} and summary.json in {args.out}"
    )


if __name__ == "__main__":
    main()

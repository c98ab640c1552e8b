"""Weight averaging over a run's last epochs, judged on the dev split before the test set is read.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/weight_averaging.py \\
        --runs OUT/seed-0 OUT/seed-1 OUT/seed-2 --data-dir DIR

Each run folder is a seed's ``OUT/seed-S`` of ``mnist_accuracy.py --keep-epochs``
(the checkpoint of every epoch in ``epochs/``). For K in ``--last``, the model
whose weights are the mean of the last K epochs' (an average of the points
the descent passed through, as in stochastic weight averaging) is evaluated
on the run's own dev split, which is rebuilt from the training settings the
run stored, exactly as it drew it. Its batch-norm running statistics are the
mean of those epochs' too, not measured again on the training images as
SWA does: on these runs, measuring them again on the clean training images
cost dev accuracy (docs/TRAINING.md), and over the last epochs of a
decayed rate the weights, and so the statistics, move little.

The choice is made on the dev split alone: the K whose mean dev accuracy over
the runs is highest, and only if it beats the mean dev accuracy of the epochs the
runs chose themselves (ties: the run's own epoch, then the smaller K). Only then
is the test set evaluated, for that one K; the runs' own test accuracies are in
their ``metrics.json``. JSON lines go to standard output.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from common import emit
from mnist_accuracy import EPOCHS

from convmath.kernels.parallel import using_threads
from convmath.run import TrainConfig, prepare_run
from convmath.train import evaluate, load_checkpoint
from convmath.train.outputs import METRICS


def averaged(paths: list[Path]) -> dict[str, np.ndarray]:
    """The mean of the checkpoints' model arrays (floats; any other array: the last one's)."""
    states = [load_checkpoint(path).model for path in paths]
    mean = {}
    for name, last in states[-1].items():
        if np.issubdtype(last.dtype, np.floating):
            total = sum(state[name].astype(np.float64) for state in states)
            mean[name] = (total / len(states)).astype(last.dtype)
        else:
            mean[name] = last
    return mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="OUT/seed-S folders")
    parser.add_argument("--last", type=int, nargs="+", default=[2, 3, 5, 8])
    parser.add_argument("--data-dir", help="folder holding mnist/ (default: CONVMATH_DATA)")
    args = parser.parse_args()

    runs = []
    for folder in args.runs:
        metrics = json.loads((folder / METRICS).read_text())
        settings = metrics["config"]["training"] | {"data_dir": args.data_dir}
        prepared = prepare_run(TrainConfig(**settings), log=lambda line: None)
        epochs = sorted(
            (folder / EPOCHS).glob("epoch-*.safetensors"),
            key=lambda path: int(path.stem.removeprefix("epoch-")),
        )
        if len(epochs) != metrics["epochs"]:
            raise SystemExit(f"{folder}: {len(epochs)} epoch checkpoints of {metrics['epochs']}")
        if not all(1 <= k <= len(epochs) for k in args.last):
            raise SystemExit(f"--last {args.last}: each K must be 1 to {len(epochs)}")
        runs.append((folder, metrics, prepared, epochs))

    def accuracy(prepared, state: dict[str, np.ndarray], images, labels) -> float:
        prepared.model.load_state_dict(state)
        prepared.model.eval()
        with using_threads():
            return evaluate(
                prepared.model, images, labels, prepared.preprocessing, len(prepared.classes)
            ).accuracy

    own = statistics.mean(metrics["dev_accuracy"] for _, metrics, _, _ in runs)
    emit({"runs": [str(folder) for folder in args.runs], "own_epochs_dev_accuracy": own})
    dev_by_k = {}
    for k in args.last:
        dev = []
        for folder, _, prepared, epochs in runs:
            dev.append(accuracy(prepared, averaged(epochs[-k:]), *prepared.trainer.dev))
            emit({"run": str(folder), "last": k, "dev_accuracy": dev[-1]})
        dev_by_k[k] = statistics.mean(dev)
        emit({"last": k, "mean_dev_accuracy": dev_by_k[k]})
    best_k = max(args.last, key=lambda k: (dev_by_k[k], -k))
    if dev_by_k[best_k] <= own:
        emit({"chosen": None, "why": "no average beats the runs' own epochs on the dev split"})
        return
    test = []
    for folder, metrics, prepared, epochs in runs:
        test.append(accuracy(prepared, averaged(epochs[-best_k:]), *prepared.test))
        line = {"run": str(folder), "last": best_k, "test_accuracy": test[-1]}
        emit(line | {"own_epoch": metrics["best_epoch"], "own_test": metrics["test_accuracy"]})
    emit(
        {
            "chosen": best_k,
            "mean_dev_accuracy": dev_by_k[best_k],
            "test_accuracy": statistics.mean(test),
            "test_std": statistics.stdev(test) if len(test) > 1 else None,
            "own_test_accuracy": statistics.mean(m["test_accuracy"] for _, m, _, _ in runs),
        }
    )


if __name__ == "__main__":
    main()

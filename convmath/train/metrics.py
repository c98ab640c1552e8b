"""Evaluation: loss, top-1 accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import convmath.functional as F
from convmath.nn.module import Module
from convmath.tensor import Tensor
from convmath.train.inference import EVAL_BATCH, logits


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """C[i, j] = number of examples of true class i predicted as class j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    predictions: np.ndarray  # (m,) predicted classes
    probabilities: np.ndarray  # (m, K) softmax outputs
    confusion: np.ndarray  # (K, K)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Recall of each class: C[k, k] / sum_j C[k, j] (NaN for classes with no example)."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / totals


def evaluate(
    model: Module,
    images: np.ndarray,
    labels: np.ndarray,
    prepare: Callable[[np.ndarray], np.ndarray],
    num_classes: int,
    batch_size: int = EVAL_BATCH,
) -> Evaluation:
    """Run ``model`` in eval mode over ``images`` (raw), batch by batch, without a graph."""
    Z = logits(model, images, prepare, batch_size)
    losses = []  # J of each batch times its size, summed as the batches are (same numbers as ever)
    for start in range(0, len(labels), batch_size):
        y = labels[start : start + batch_size]
        losses.append(
            F.softmax_cross_entropy(Tensor(Z[start : start + batch_size]), y).item() * len(y)
        )
    probs = F.softmax(Tensor(Z)).data
    predictions = probs.argmax(axis=1)
    return Evaluation(
        loss=float(sum(losses) / len(labels)),
        accuracy=float((predictions == labels).mean()),
        predictions=predictions,
        probabilities=probs,
        confusion=confusion_matrix(labels, predictions, num_classes),
    )

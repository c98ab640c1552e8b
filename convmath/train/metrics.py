"""Evaluation: loss, top-1 accuracy, per-class accuracy and the confusion matrix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import convmath.functional as F
from convmath.nn.module import Module
from convmath.tensor import Tensor, no_grad


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
    batch_size: int = 256,
) -> Evaluation:
    """Run ``model`` in eval mode over ``images`` (raw), batch by batch, without a graph."""
    was_training = model.training
    model.eval()
    losses, probabilities = [], []
    try:
        with no_grad():
            for start in range(0, len(images), batch_size):
                X = prepare(images[start : start + batch_size])
                y = labels[start : start + batch_size]
                logits = model(Tensor(X))
                losses.append(F.softmax_cross_entropy(logits, y).item() * len(y))
                probabilities.append(F.softmax(logits).data)
    finally:
        model.train(was_training)
    probs = np.concatenate(probabilities)
    predictions = probs.argmax(axis=1)
    return Evaluation(
        loss=float(sum(losses) / len(labels)),
        accuracy=float((predictions == labels).mean()),
        predictions=predictions,
        probabilities=probs,
        confusion=confusion_matrix(labels, predictions, num_classes),
    )

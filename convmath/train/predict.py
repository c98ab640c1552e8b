"""Prediction with a trained model: class probabilities for images, batch by batch."""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.data.preprocessing import Preprocessing
from convmath.errors import ShapeError
from convmath.nn.module import Module
from convmath.tensor import Tensor
from convmath.train.inference import EVAL_BATCH, logits


def predict(
    model: Module, preprocessing: Preprocessing, images: np.ndarray, *, batch_size: int = EVAL_BATCH
) -> np.ndarray:
    """softmax(model(X)) for ``images`` scaled to [0, 1], of shape (m, n_H, n_W, n_C).

    X is ``preprocessing.normalize(images)``, as in training. Runs in eval mode
    without a graph, ``batch_size`` images at a time, and leaves the model's
    mode as it found it. Returns the probabilities (m, K).
    """
    if images.ndim != 4 or images.shape[1:] != tuple(preprocessing.input_shape):
        raise ShapeError(
            f"predict expects images (m, {', '.join(map(str, preprocessing.input_shape))}),"
            f" got {images.shape}"
        )
    Z = logits(model, images, preprocessing.normalize, batch_size)
    return F.softmax(Tensor(Z)).data

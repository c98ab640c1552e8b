"""The one inference loop: a model's logits Z^[L] for raw images, batch by batch.

``evaluate`` (the dev and test splits), ``predict`` (pictures and arrays with
a checkpoint's preprocessing) and ``classify`` (arrays from Python) all run
it, so every door computes a prediction the same way and at the same speed:
eval mode, no graph, BLAS held to one thread while convmath's workers run,
the allocator tuned as for training, the model's mode restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convmath.kernels.parallel import single_threaded_blas
from convmath.kernels.runtime import tune_allocator
from convmath.nn.module import Module
from convmath.tensor import Tensor, no_grad

EVAL_BATCH = 256  # examples per forward pass when nothing else is asked


def logits(
    model: Module,
    images: np.ndarray,
    prepare: Callable[[np.ndarray], np.ndarray],
    batch_size: int = EVAL_BATCH,
) -> np.ndarray:
    """model(prepare(images)) as an array (m, K), ``batch_size`` raw images at a time."""
    tune_allocator()
    was_training = model.training
    model.eval()
    try:
        with no_grad(), single_threaded_blas():
            parts = [
                model(Tensor(prepare(images[start : start + batch_size]))).data
                for start in range(0, len(images), batch_size)
            ]
    finally:
        model.train(was_training)
    return np.concatenate(parts)

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

from convmath import limits
from convmath.errors import NonFiniteError
from convmath.inspect.trace import trace
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
    """model(prepare(images)) as an array (m, K), ``batch_size`` raw images at a time.

    The pass is refused before it starts if its memory estimate is over the
    limit (:func:`convmath.limits.check_model_memory`).
    """
    batch = min(batch_size, len(images))
    if batch:
        what = f"evaluating {type(model).__name__}"
        limits.check_model_memory(model, images.shape[1:], batch, what)
    tune_allocator()
    was_training = model.training
    model.eval()
    try:
        # an overflow is found below and named by its layer, not warned of on the way
        with no_grad(), single_threaded_blas(), np.errstate(over="ignore", invalid="ignore"):
            parts = [
                model(Tensor(prepare(images[start : start + batch_size]))).data
                for start in range(0, len(images), batch_size)
            ]
    finally:
        model.train(was_training)
    result = np.concatenate(parts)
    if not np.isfinite(result).all():
        first = int(np.flatnonzero(~np.isfinite(result).all(axis=1))[0])
        x = prepare(images[first : first + 1])[0]
        if not np.isfinite(x).all():
            raise NonFiniteError(
                f"example {first} holds NaN or infinite values before the model sees it"
                f" (after its preprocessing); the model's output for it is not finite"
            )
        raise NonFiniteError(
            f"the model's output for example {first} holds NaN or infinite values:"
            f" {first_non_finite_layer(model, x)} is the first to give them (its weights"
            f" overflow float32 on this input)"
        )
    return result


def first_non_finite_layer(model: Module, x: np.ndarray) -> str:
    """Which layer first gives a NaN or an infinity on the one example ``x`` (prepared)."""
    with np.errstate(all="ignore"):  # the overflow is what is being looked for
        recorded = trace(model, x)
    modules = dict(recorded.model.named_modules())
    for path, output in recorded.outputs.items():  # in the order the layers finished
        if path and not np.isfinite(output.data).all():
            return f"layer {path} ({type(modules[path]).__name__})"
    return "the model's output"  # finite in every layer when traced: the batch's arithmetic

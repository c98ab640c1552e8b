"""The classification loss: softmax followed by cross-entropy, fused."""

from __future__ import annotations

from typing import Any

import numpy as np

from convmath.errors import DTypeError, InvalidArgumentError, ShapeError
from convmath.ops.activation import shifted_log_softmax
from convmath.shapes import number_in
from convmath.tensor import Function, Tensor, equations_from


class SoftmaxCrossEntropy(Function):
    """J = -(1/m) sum_i sum_k Q[i, k] log softmax(Z)[i, k].

    Shapes: logits Z (m, K), integer labels y (m,) in 0..K-1; J is a scalar.
    The target distribution is Q = (1 - eps) one_hot(y) + eps / K (label
    smoothing eps; eps = 0 gives the usual J = -(1/m) sum_i log S[i, y_i]).
    log softmax is (Z - max Z) - log sum exp(Z - max Z), the shift first, so
    J is finite for any finite logits and keeps its precision when the right
    class is nearly certain (J of 2e-6 stays 2e-6 in float32).

    Backward: dZ = dJ * (softmax(Z) - Q) / m.
    """

    def forward(self, z: np.ndarray, *, labels: np.ndarray, smoothing: float) -> np.ndarray:
        m, k = z.shape
        log_probs = shifted_log_softmax(z, axis=1)
        target = np.full((m, k), smoothing / k, dtype=z.dtype)
        target[np.arange(m), labels] += 1.0 - smoothing
        self.log_probs = log_probs
        self.target = target
        return np.asarray(-(target * log_probs).sum() / m, dtype=z.dtype)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        m = self.target.shape[0]
        return (np.exp(self.log_probs) - self.target) * (grad / m)


@equations_from(SoftmaxCrossEntropy)
def softmax_cross_entropy(logits: Tensor, labels: Any, *, label_smoothing: float = 0.0) -> Tensor:
    """Mean softmax cross-entropy of ``logits`` (m, K) against integer ``labels`` (m,).

    ``label_smoothing`` eps in [0, 1] mixes the one-hot target with the
    uniform distribution. Labels must be integers in 0..K-1.

    Shapes
    ------
    logits Z: (m, K);  labels y: (m,) integers;  J: () (a scalar)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> Z = Tensor([[0.0, 0.0], [0.0, 0.0]])  # two examples, K = 2, no preference
    >>> J = F.softmax_cross_entropy(Z, np.array([0, 1]))
    >>> J.shape, round(J.item(), 3)  # -log(1/2)
    ((), 0.693)
    >>> J = F.softmax_cross_entropy(Tensor([[5.0, 0.0]]), np.array([0]))
    >>> round(J.item(), 4)  # confident and right: close to 0
    0.0067
    """
    if logits.ndim != 2:
        raise ShapeError(
            f"softmax_cross_entropy expects logits of shape (m, K), got {logits.shape}"
        )
    m, k = logits.shape
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise DTypeError(
            f"softmax_cross_entropy expects integer class labels, got dtype {labels.dtype}"
        )
    if labels.shape != (m,):
        raise ShapeError(
            f"softmax_cross_entropy expects labels of shape ({m},) for logits {logits.shape},"
            f" got {labels.shape}"
        )
    if m == 0:
        raise ShapeError("softmax_cross_entropy needs at least one example (m >= 1)")
    out_of_range = (labels < 0) | (labels >= k)
    if out_of_range.any():
        bad = labels[out_of_range]
        raise InvalidArgumentError(
            f"softmax_cross_entropy: labels must be in 0..{k - 1} for K={k} classes;"
            f" got {bad.size} out of range, e.g. {bad[:5].tolist()}"
        )
    smoothing = number_in(label_smoothing, "label_smoothing", 0.0, 1.0)
    return SoftmaxCrossEntropy.apply(logits, labels=labels, smoothing=smoothing)

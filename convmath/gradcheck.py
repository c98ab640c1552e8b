"""Gradient checking: compare back propagation with central finite differences.

For a function C = fn(X_1, ..., X_n) and a random upstream gradient G (never
all ones, which would hide transposition mistakes), the scalar
L = sum(C * G) has dL/dX_k = the gradient that ``C.backward(G)`` computes.
Each is compared with the central difference

    dL/dX[j] ~ (L(X + eps e_j) - L(X - eps e_j)) / (2 eps)

element by element for small inputs, or along random directions v for large
ones: (L(X + eps v) - L(X - eps v)) / (2 eps) ~ sum(dL/dX * v). Everything
runs in float64, where the truncation error O(eps^2) and the rounding error
O(1e-16 |L| / eps) are both around 1e-10 |L| at eps = 1e-6. Every value must
agree within ``rtol`` of itself plus that rounding noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from convmath.tensor import Tensor, no_grad


@dataclass(frozen=True)
class GradientComparison:
    """The check of one input: worst errors between back propagation and differences."""

    input_index: int
    shape: tuple[int, ...]
    method: str  # "elementwise" or "N directions"
    max_abs_error: float
    rel_error: float  # max_abs_error / max |numeric|
    passed: bool


@dataclass(frozen=True)
class GradCheckReport:
    comparisons: tuple[GradientComparison, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def table(self) -> str:
        lines = [f"{'input':>5}  {'shape':<20} {'method':<14} {'max abs err':>12} {'rel err':>12}"]
        for c in self.comparisons:
            verdict = "ok" if c.passed else "FAIL"
            lines.append(
                f"{c.input_index:>5}  {c.shape!s:<20} {c.method:<14} {c.max_abs_error:>12.3e}"
                f" {c.rel_error:>12.3e}  {verdict}"
            )
        return "\n".join(lines)


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[np.ndarray],
    *,
    rng: np.random.Generator,
    eps: float = 1e-6,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_elementwise: int = 256,
    directions: int = 12,
) -> GradCheckReport:
    """Check the gradients of ``fn`` with respect to each of ``inputs`` (float64).

    An input with at most ``max_elementwise`` elements is checked element by
    element, a larger one along ``directions`` random directions. Each value
    passes when |backprop - numeric| <= atol + noise + rtol * |numeric|,
    where noise = 10 * machine_eps * sum|C * G| / eps bounds the rounding
    error of the central difference; so a wrong small gradient is caught even
    next to large ones.
    """
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    analytic = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]

    noise = 10 * np.finfo(np.float64).eps * float(np.sum(np.abs(out.data * upstream))) / eps

    def objective(values: list[np.ndarray]) -> float:
        with no_grad():
            return float(np.sum(fn(*(Tensor(v) for v in values)).data * upstream))

    def central_difference(k: int, direction: np.ndarray) -> float:
        plus = [a if i != k else a + eps * direction for i, a in enumerate(arrays)]
        minus = [a if i != k else a - eps * direction for i, a in enumerate(arrays)]
        return (objective(plus) - objective(minus)) / (2 * eps)

    comparisons = []
    for k, array in enumerate(arrays):
        if array.size <= max_elementwise:
            numeric = np.zeros_like(array)
            basis = np.zeros_like(array)
            for j in range(array.size):
                basis.flat[j] = 1.0
                numeric.flat[j] = central_difference(k, basis)
                basis.flat[j] = 0.0
            computed = analytic[k]
            method = "elementwise"
        else:
            vectors = [rng.standard_normal(array.shape) for _ in range(directions)]
            numeric = np.array([central_difference(k, v) for v in vectors])
            computed = np.array([np.sum(analytic[k] * v) for v in vectors])
            method = f"{directions} directions"
        errors = np.abs(computed - numeric)
        max_abs_error = float(errors.max(initial=0.0))
        scale = float(np.abs(numeric).max(initial=0.0))
        comparisons.append(
            GradientComparison(
                input_index=k,
                shape=array.shape,
                method=method,
                max_abs_error=max_abs_error,
                rel_error=max_abs_error / max(scale, 1e-300),
                passed=bool(np.all(errors <= atol + noise + rtol * np.abs(numeric))),
            )
        )
    return GradCheckReport(tuple(comparisons))


def assert_gradients_match(
    fn: Callable[..., Tensor], inputs: Sequence[np.ndarray], **options: object
) -> GradCheckReport:
    """Run :func:`gradcheck` and raise ``AssertionError`` with the table if any input fails."""
    report = gradcheck(fn, inputs, **options)  # type: ignore[arg-type]
    if not report.passed:
        raise AssertionError(
            "back propagation disagrees with finite differences:\n" + report.table()
        )
    return report

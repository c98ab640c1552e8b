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

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

import convmath.functional as F
from convmath.schema import printable
from convmath.tensor import Tensor, no_grad

if TYPE_CHECKING:
    from convmath.nn.module import Module


@dataclass(frozen=True)
class GradientComparison:
    """The check of one input: worst errors between back propagation and differences."""

    input_index: int
    shape: tuple[int, ...]
    method: str  # "elementwise" or "N directions"
    max_abs_error: float
    rel_error: float  # max_abs_error / the larger of max |backprop| and max |numeric|, <= 2
    passed: bool
    name: str = ""
    # "both zero": both gradients are exactly zero; "both ~0": both are zero to within the
    # rounding noise of the differences (a bias before batch norm): no relative error to speak of
    zero: str = ""

    @property
    def rel_error_text(self) -> str:
        """The relative error as the table shows it: a number, or why there is none."""
        return self.zero or f"{self.rel_error:.3e}"


@dataclass(frozen=True)
class GradCheckReport:
    comparisons: tuple[GradientComparison, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def table(self) -> str:
        lines = [f"{'tensor':<28} {'shape':<20} {'method':<14} {'max abs err':>12} {'rel err':>12}"]
        for c in self.comparisons:
            verdict = "ok" if c.passed else "FAIL"
            label = printable(c.name) or f"input {c.input_index}"
            lines.append(
                f"{label[:28]:<28} {c.shape!s:<20} {c.method:<14} {c.max_abs_error:>12.3e}"
                f" {c.rel_error_text:>12}  {verdict}"
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
    where noise = 10 * machine_eps * sum|C * G| / h bounds the rounding
    error of the central difference with step h; so a wrong small gradient is
    caught even next to large ones.

    A step that crosses a kink (a ReLU switching, a max-pool winner changing)
    shows as a large second difference |L(+h) - 2 L(0) + L(-h)|, far above
    the h^2 |L''| of a smooth function; the step is then cut by 10 and the
    difference taken again (up to three times), so deep ReLU networks can be
    checked without hand-picked inputs.
    """
    arrays = [np.array(x, dtype=np.float64) for x in inputs]
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    analytic = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]

    magnitude = 10 * np.finfo(np.float64).eps * float(np.sum(np.abs(out.data * upstream)))

    def objective(values: list[np.ndarray]) -> float:
        with no_grad():
            return float(np.sum(fn(*(Tensor(v) for v in values)).data * upstream))

    center = objective(arrays)

    def central_difference(k: int, direction: np.ndarray) -> tuple[float, float]:
        """(dL/dX . direction, the rounding noise of the step that gave it)."""
        step = eps
        for _ in range(4):
            plus = objective([a if i != k else a + step * direction for i, a in enumerate(arrays)])
            minus = objective([a if i != k else a - step * direction for i, a in enumerate(arrays)])
            slope = (plus - minus) / (2 * step)
            noise = magnitude / step
            kink = abs(plus - 2 * center + minus) / (2 * step)
            if kink <= rtol * abs(slope) + noise:
                break
            step /= 10
        return slope, noise

    comparisons = []
    for k, array in enumerate(arrays):
        if array.size <= max_elementwise:
            numeric = np.zeros_like(array)
            noise = np.zeros_like(array)
            basis = np.zeros_like(array)
            for j in range(array.size):
                basis.flat[j] = 1.0
                numeric.flat[j], noise.flat[j] = central_difference(k, basis)
                basis.flat[j] = 0.0
            computed = analytic[k]
            method = "elementwise"
        else:
            vectors = [rng.standard_normal(array.shape) for _ in range(directions)]
            numeric, noise = np.array([central_difference(k, v) for v in vectors]).T
            computed = np.array([np.sum(analytic[k] * v) for v in vectors])
            method = f"{directions} directions"
        errors = np.abs(computed - numeric)
        max_abs_error = float(errors.max(initial=0.0))
        # A zero gradient (a bias that batch norm subtracts again) has no relative error:
        # dividing by a numeric 0 next to a backprop 1e-17 would print 1e+283.
        scale = max(
            float(np.abs(numeric).max(initial=0.0)), float(np.abs(computed).max(initial=0.0))
        )
        floor = atol + noise
        if scale == 0.0:
            zero = "both zero"
        elif np.all(np.abs(numeric) <= floor) and np.all(np.abs(computed) <= floor):
            zero = "both ~0"
        else:
            zero = ""
        comparisons.append(
            GradientComparison(
                input_index=k,
                shape=array.shape,
                method=method,
                max_abs_error=max_abs_error,
                rel_error=max_abs_error / scale if scale else 0.0,
                passed=bool(np.all(errors <= atol + noise + rtol * np.abs(numeric))),
                zero=zero,
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


def model_gradcheck(
    model: Module,
    x: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    rng: np.random.Generator,
    directions: int = 3,
    eps: float = 1e-6,
    rtol: float = 1e-6,
) -> GradCheckReport:
    """Check a whole model: every parameter tensor, and the input, in a float64 copy.

    J is the softmax cross-entropy of the model's output against ``labels``,
    or sum(output * G) for a random G when no labels are given. Each
    parameter tensor (named as in ``named_parameters``) is compared with
    central differences along ``directions`` random directions. The model
    itself is not changed: the check runs on a deep copy, and batch norm
    statistics and dropout generators are reset before every evaluation so
    that J is one fixed function.
    """

    copy64 = copy.deepcopy(model)
    for _, p in copy64.named_parameters():
        p.data = p.data.astype(np.float64)
    for _path, module in copy64.named_modules():
        for buffer in module._buffer_names:
            setattr(module, buffer, getattr(module, buffer).astype(np.float64))
    params = copy64.parameters()
    names = ["input"] + [name for name, _ in copy64.named_parameters()]
    buffers = {k: v.copy() for k, v in copy64.named_buffers()}
    generators = [
        (m, m.rng.bit_generator.state)
        for _, m in copy64.named_modules()
        if isinstance(getattr(m, "rng", None), np.random.Generator)
    ]

    def reset() -> None:
        for name, target in copy64.named_buffers():
            target[...] = buffers[name]
        for module, state in generators:
            module.rng.bit_generator.state = state

    owners = [
        (module, attribute, next(k for k, p in enumerate(params) if p is value))
        for _, module in copy64.named_modules()
        for attribute, value in vars(module).items()
        if any(value is p for p in params)
    ]

    def loss(x_t: Tensor, *weights: Tensor) -> Tensor:
        # Swap each parameter for the tensor gradcheck varies, so gradients flow to it.
        reset()
        for module, attribute, index in owners:
            setattr(module, attribute, weights[index])
        try:
            out = copy64(x_t)
        finally:
            for module, attribute, index in owners:
                setattr(module, attribute, params[index])
        return out if labels is None else F.softmax_cross_entropy(out, labels)

    report = gradcheck(
        loss,
        [np.asarray(x, dtype=np.float64)] + [p.data for p in params],
        rng=rng,
        eps=eps,
        rtol=rtol,
        max_elementwise=0,
        directions=directions,
    )
    return GradCheckReport(tuple(replace(c, name=names[c.input_index]) for c in report.comparisons))

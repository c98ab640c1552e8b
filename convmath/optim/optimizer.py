"""The optimizer base class and gradient clipping."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.limits import MAX_STEPS
from convmath.nn.module import Parameter
from convmath.shapes import number_in


class Optimizer:
    """Updates parameters from their ``.grad``; keeps per-parameter state arrays ("slots").

    ``lr`` may be changed between steps (learning-rate schedules do). Parameters
    whose ``.grad`` is None are skipped.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise InvalidArgumentError("the optimizer got no parameters")
        self.lr = number_in(lr, "learning rate", 0.0)
        self.steps = 0
        self.param_steps = [0] * len(self.params)  # updates each parameter has had
        self.slots: dict[str, list[np.ndarray | None]] = {
            name: [None] * len(self.params) for name in self.slot_names
        }

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.steps += 1
        for index, p in enumerate(self.params):
            if p.grad is not None:
                self.param_steps[index] += 1
                self.update(index, p.data, p.grad)

    def update(self, index: int, w: np.ndarray, g: np.ndarray) -> None:
        """Update the array ``w`` in place from its gradient ``g``."""
        raise NotImplementedError

    def slot(self, name: str, index: int, like: np.ndarray) -> np.ndarray:
        """The state array ``name`` of parameter ``index``, zeros the first time."""
        array = self.slots[name][index]
        if array is None:
            array = np.zeros_like(like)
            self.slots[name][index] = array
        return array

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every slot array by "slot.index", plus the step counts (int64 arrays)."""
        state = {
            "steps": np.array(self.steps, dtype=np.int64),
            "param_steps": np.array(self.param_steps, dtype=np.int64),
        }
        for name, arrays in self.slots.items():
            for index, array in enumerate(arrays):
                if array is not None:
                    state[f"{name}.{index}"] = array.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` saved; every key, shape and count is checked first."""
        expected = {f"{n}.{i}" for n in self.slots for i in range(len(self.params))}
        unexpected = sorted(set(state) - expected - {"steps", "param_steps"})
        if unexpected or "steps" not in state:
            raise ShapeError(
                f"optimizer state does not fit {type(self).__name__}: unexpected {unexpected[:5]},"
                f" steps {'present' if 'steps' in state else 'missing'}"
            )
        steps = np.asarray(state["steps"])
        if steps.shape != () or steps.dtype.kind not in "iu" or not 0 <= steps <= MAX_STEPS:
            raise ShapeError(
                f"optimizer steps must be one integer in [0, {MAX_STEPS}], got {steps.dtype}"
                f" {steps.shape} {steps.ravel()[:3].tolist()}"
            )
        counts = np.asarray(state.get("param_steps", np.full(len(self.params), int(steps))))
        if counts.shape != (len(self.params),) or counts.dtype.kind not in "iu":
            raise ShapeError(
                f"optimizer param_steps: expected ({len(self.params)},) integers, got"
                f" {counts.dtype} {counts.shape}"
            )
        if counts.size and not (counts.min() >= 0 and counts.max() <= steps):
            raise ShapeError(
                f"optimizer param_steps must lie in [0, steps = {int(steps)}], got values from"
                f" {counts.min()} to {counts.max()}"
            )
        for key, array in state.items():
            if key in ("steps", "param_steps"):
                continue
            like = self.params[int(key.rsplit(".", 1)[1])].data
            if array.shape != like.shape or array.dtype.kind != "f":
                raise ShapeError(
                    f"optimizer slot {key}: expected float {like.shape}, got {array.dtype}"
                    f" {array.shape}"
                )
        self.steps = int(steps)
        self.param_steps = [int(n) for n in counts]
        for name in self.slots:
            self.slots[name] = [
                state[f"{name}.{i}"].astype(self.params[i].dtype, copy=True)
                if f"{name}.{i}" in state
                else None
                for i in range(len(self.params))
            ]


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale all gradients by min(1, max_norm / ||g||) where ||g|| is their global L2 norm.

    Returns the norm before clipping.
    """
    grads = [p.grad for p in params if p.grad is not None]
    norm = float(np.sqrt(sum(float(np.vdot(g, g)) for g in grads)))
    if norm > max_norm > 0:
        for g in grads:
            g *= g.dtype.type(max_norm / norm)
    return norm

"""Every number of one forward (and backward) pass: each layer's input, output and gradient.

``trace(model, x)`` runs one example through a copy of the model in eval
mode, with the equation ops (kernels off in the calling thread, so each
layer runs its own forward, whatever other threads do), and keeps for
every module, by its dotted path, the volume it received and the one it
produced. With ``target=K`` it also back-propagates
J = cross-entropy(Z, K) and keeps dJ/dA for every module's output and
dJ/dW for every parameter. The served page (``convmath serve``) and
:mod:`convmath.inspect.arithmetic` read their numbers from here.

The rows of ``explain`` name modules by their paths; a block's joining row
(``stage1_0.add``, ``inception1.concat``) is the block's own output, which
:meth:`Trace.output_of` resolves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import convmath.functional as F
from convmath.dispatch import kernels_in_this_thread
from convmath.errors import InvalidArgumentError, ShapeError
from convmath.nn.module import Module
from convmath.schema import shown
from convmath.tensor import Tensor

JOINING_STEPS = ("add", "concat", "scale")  # a block's last row: its paths joined, its output


@dataclass
class Trace:
    """One example's numbers, per module path (``""`` is the whole model)."""

    model: Module  # the traced copy: its modules, parameters and gradients
    inputs: dict[str, Any]  # the Tensor each module received (batch of one)
    outputs: dict[str, Tensor]  # the Tensor each module produced
    logits: np.ndarray  # Z at the output, (K,)
    target: int | None = None
    loss: float | None = None
    gradients: dict[str, np.ndarray] = field(default_factory=dict)  # dJ/dA per module output
    input_gradient: np.ndarray | None = None  # dJ/dX of the input itself

    def module_of(self, name: str) -> tuple[str, Module]:
        """The module a row ``name`` shows: itself, or the block a joining row closes."""
        modules = dict(self.model.named_modules())
        if name in modules and name in self.outputs:
            return name, modules[name]
        parent, _, step = name.rpartition(".")  # "" for a top-level name: never the whole model
        if step in JOINING_STEPS and parent in modules and parent in self.outputs:
            return parent, modules[parent]
        raise InvalidArgumentError(f"no layer {shown(name)} in this model")

    def output_of(self, name: str) -> np.ndarray:
        """Row ``name``'s output for the example: (n_H, n_W, n_C) or (n,)."""
        path, _ = self.module_of(name)
        return self.outputs[path].data[0]

    def input_of(self, name: str) -> np.ndarray:
        path, _ = self.module_of(name)
        received = self.inputs[path]
        if not isinstance(received, Tensor):
            raise InvalidArgumentError(f"layer {name!r} takes several inputs")
        return received.data[0]

    def gradient_of(self, name: str) -> np.ndarray:
        """dJ/dA of row ``name``'s output (needs a trace with a target)."""
        path, _ = self.module_of(name)
        if path not in self.gradients:
            raise InvalidArgumentError(f"no gradient for {name!r}: trace with a target first")
        return self.gradients[path]

    @property
    def probabilities(self) -> np.ndarray:
        shifted = np.exp(self.logits.astype(np.float64) - self.logits.max())
        return shifted / shifted.sum()


def trace(model: Module, x: np.ndarray, *, target: int | None = None) -> Trace:
    """Run one example ``x`` (n_H, n_W, n_C), already normalised, and keep every number.

    The model itself is left untouched: the pass runs on a deep copy, in eval
    mode. ``target`` (a class index) adds back propagation of the cross-entropy
    J for that class, with m = 1.
    """
    x = np.asarray(x, dtype=np.float32)
    traced = copy.deepcopy(model)
    traced.eval()
    inputs: dict[str, Any] = {}
    outputs: dict[str, Tensor] = {}
    for path, module in traced.named_modules():
        module.forward = _recording(path, module.forward, inputs, outputs)  # type: ignore[method-assign]
    with kernels_in_this_thread(False):
        x_tensor = Tensor(x[None], requires_grad=target is not None)
        logits = traced(x_tensor)
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise ShapeError(f"the model gives {logits.shape[1:]} per example, expected (K,)")
    result = Trace(traced, inputs, outputs, logits.data[0].copy())
    if target is None:
        return result
    n_classes = logits.shape[1]
    if not 0 <= target < n_classes:
        raise InvalidArgumentError(f"target must be a class in 0..{n_classes - 1}, got {target}")
    for parameter in traced.parameters():
        parameter.grad = None
    with kernels_in_this_thread(False):
        loss = F.softmax_cross_entropy(logits, np.array([target]))
        loss.backward()
    result.target = target
    result.loss = float(loss.data)
    result.gradients = {path: out.grad[0] for path, out in outputs.items() if out.grad is not None}
    result.input_gradient = None if x_tensor.grad is None else x_tensor.grad[0]
    return result


def _recording(path: str, forward: Any, inputs: dict[str, Any], outputs: dict[str, Tensor]) -> Any:
    def record(x: Any) -> Tensor:
        out = forward(x)
        inputs[path], outputs[path] = x, out
        if out.requires_grad:
            out.retain_grad()
        return out

    return record


__all__ = ["Trace", "trace"]

"""Module, Parameter and Sequential: the containers that layers and models are built from.

A :class:`Module` holds parameters (:class:`Parameter` tensors), buffers
(plain arrays such as batch norm's running statistics) and sub-modules as
ordinary attributes; they are found by walking the attributes, including
lists, tuples and dicts of modules. Modules contain no backward code and no
fusion code: their ``forward`` composes ops of ``convmath.functional`` and
the engine does the rest. Calling a module runs its ``forward``, unless the
kernels' planner (:mod:`convmath.kernels.fusion`) has a faster plan for it
that computes the same thing.

Every module also knows its shapes: ``output_shape(input_shape)`` maps the
shape of one example (n_H, n_W, n_C) or (n,) to the shape it produces and
raises :class:`ShapeError` naming the layer when the input does not fit, so
a model is checked when it is built, not at its first batch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convmath.dispatch import holding, plan_for
from convmath.errors import ShapeError
from convmath.shapes import Shape
from convmath.switchboard import check_deadline
from convmath.tensor import Tensor, no_grad


class Parameter(Tensor):
    """A tensor the optimizer updates: ``requires_grad`` is on by default."""

    __slots__ = ()

    def __init__(self, data: Any, *, requires_grad: bool = True, name: str | None = None) -> None:
        super().__init__(data, requires_grad=requires_grad, name=name)


@dataclass(frozen=True)
class LayerInfo:
    """One row of a model's description: what a layer does to the shape, what it costs, and why.

    ``summary`` prints the shapes, parameters and multiply-accumulates of
    these rows; ``explain`` prints their formulas. A block adds a heading
    row (no output shape) before the rows of its paths, one level deeper.
    """

    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape | None  # None: the heading of a block, whose rows follow
    parameters: int
    macs: int  # multiply-accumulates per example
    details: str = ""
    formulas: tuple[str, ...] = ()
    depth: int = 0  # nesting inside blocks
    backward: tuple[str, ...] = ()  # the back-propagation equations, numbers filled in
    module: Any = field(default=None, compare=False, repr=False)  # the layer (its memory)
    equations: tuple[str, ...] = ()  # the forward equations typeset (TeX), numbers filled in
    backward_equations: tuple[str, ...] = ()  # the backward equations typeset (TeX)
    symbol: str | None = "A"  # what the output is called: "Z", "A", "~" (its input's, tilde)
    starts_layer: bool = False  # a CONV, POOL or FC layer: the article's l counts these

    @property
    def is_heading(self) -> bool:
        return self.output_shape is None


@dataclass(frozen=True)
class Arguments:
    """The arguments a module was built with (an object, so no walk for children enters it)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Module:
    """Base class of layers, blocks and models.

    Each module remembers the arguments it was built with (``arguments``), so
    that a model of convmath's own layers, however it was put together, can
    be saved as data and rebuilt (:mod:`convmath.nn.architecture`).
    """

    _buffer_names: tuple[str, ...] = ()
    arguments: Arguments | None = None  # None: not recorded, or not plain data
    frozen = False  # frozen for fine-tuning (nn/transfer.py): always runs as in inference
    # The article's name of this module's output: "Z" (before the activation psi), "A"
    # (after it), "~" (its input's name with a tilde: batch norm's Z~), None (its input's
    # name: a reshape, dropout). starts_layer: the article's l counts CONV, POOL and FC.
    output_symbol: str | None = "A"
    starts_layer = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_arguments(cls.__init__)  # type: ignore[method-assign]

    def __init__(self) -> None:
        self.training = True
        self.path = ""  # dotted name inside the model, set by name_modules()

    # ------------------------------------------------------------ computing
    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        check_deadline(self._before)  # a time budget (convmath.time_budget) ends between layers
        plan = plan_for(self)  # while kernels are on, a fused way to run this module, or None
        with holding():  # BLAS on one thread while convmath computes (kernels/parallel.py)
            return self.forward(x) if plan is None else plan(x)

    def _before(self) -> str:
        kind = type(self).__name__
        return f"before layer {self.path} ({kind})" if self.path else f"before layer {kind}"

    def output_shape(self, input_shape: Shape) -> Shape:
        """The shape of one output example for one input example; checks that it fits.

        Layers state it by formula. This default finds it by running forward on
        one example of zeros, in eval mode (so no running statistic moves), for
        a user's own module that does not say it.
        """
        modes = [(module, module.training) for _, module in self.named_modules()]
        self.eval()
        try:
            with no_grad():
                out = self(Tensor(np.zeros((1, *input_shape), dtype=np.float32)))
        except (ArithmeticError, IndexError, TypeError, ValueError) as error:
            raise self.fail(
                f"could not run forward on one example of shape {tuple(input_shape)} to find its"
                f" output shape: {error}"
            ) from error
        finally:
            for module, training in modes:
                module.training = training
        return tuple(out.shape[1:])

    def describe(self, input_shape: Shape) -> list[LayerInfo]:
        """The rows of this module for examples of ``input_shape`` (blocks: their layers)."""
        rows: list[LayerInfo] = []
        self.describe_into(rows, tuple(input_shape), 0)
        return rows

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        """Append this module's rows to ``rows`` and return its output shape.

        A layer adds one row; containers and blocks override this to add the
        rows of what they hold. Rows are appended as they are worked out, so a
        model that does not fit its input is described up to the layer at fault.
        """
        output_shape = self.output_shape(input_shape)
        rows.append(
            LayerInfo(
                self.path or type(self).__name__,
                type(self).__name__,
                tuple(input_shape),
                output_shape,
                self.num_parameters(),
                self.macs(input_shape),
                self.details(),
                tuple(self.formulas(input_shape)),
                depth,
                tuple(self.backward_formulas(input_shape)),
                self,
                tuple(self.equations(input_shape)),
                tuple(self.backward_equations(input_shape)),
                self.output_symbol,
                self.starts_layer,
            )
        )
        return output_shape

    def scratch_bytes(
        self, input_shape: Shape, batch: int, itemsize: int, *, training: bool
    ) -> int:
        """The working memory this layer takes at once, beyond its input and output.

        For ``batch`` examples of ``input_shape``, in the pass that needs the
        most (backward too when ``training``), as the code that runs now
        allocates it (the kernels chunk by chunk, the equations whole batch).
        This default allows two temporaries of the larger of the input and
        the output (three when training), what elementwise equations, pooling
        windows and normalizations take; a layer that needs more says so
        (a convolution's im2col matrix). :func:`convmath.limits.activation_bytes`
        adds the largest to its estimate, and ``tests/nn/test_memory_estimate.py``
        measures it against the real peaks.
        """
        try:
            larger = max(math.prod(input_shape), math.prod(self.output_shape(input_shape)))
        except (ShapeError, TypeError, ValueError):
            return 0
        return (3 if training else 2) * batch * larger * itemsize

    def kept_bytes(self, input_shape: Shape, batch: int, itemsize: int) -> int:
        """What this layer keeps from its forward pass for backward, beyond its input and output."""
        return 0

    def formulas(self, input_shape: Shape) -> list[str]:
        """The equations of this layer with the numbers of ``input_shape`` filled in."""
        return [
            f"{type(self).__name__}.forward as written; output {self.output_shape(input_shape)}"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        """The equations of this layer's back propagation, with the numbers filled in."""
        return [f"the gradients of the ops in {type(self).__name__}.forward, by the chain rule"]

    def equations(self, input_shape: Shape) -> list[str]:
        """The forward equations typeset in TeX, numbers filled in (the page renders them).

        ``[l]`` stands for the layer's number, which only the whole model knows
        (:mod:`convmath.inspect.notation` fills it in).
        """
        return []

    def backward_equations(self, input_shape: Shape) -> list[str]:
        """The back-propagation equations typeset in TeX, numbers filled in."""
        return []

    def heading(self, input_shape: Shape, text: str, depth: int) -> LayerInfo:
        """The row that opens a block's rows."""
        name = self.path or type(self).__name__
        return LayerInfo(
            name, type(self).__name__, tuple(input_shape), None, 0, 0, "", (text,), depth
        )

    def joining_row(
        self,
        step: str,
        kind: str,
        input_shape: Shape,
        output_shape: Shape,
        formulas: list[str],
        depth: int,
        backward: list[str],
    ) -> LayerInfo:
        """The row of the step that joins a block's paths (an addition, a concatenation)."""
        name = f"{self.path}.{step}" if self.path else step
        return LayerInfo(
            name,
            kind,
            tuple(input_shape),
            output_shape,
            0,
            0,
            "",
            tuple(formulas),
            depth,
            tuple(backward),
        )

    def macs(self, input_shape: Shape) -> int:
        """Multiply-accumulates per example (conv and dense layers; 0 for the rest)."""
        return 0

    def details(self) -> str:
        return ""

    @property
    def label(self) -> str:
        """How errors name this layer: ``Conv2D 'features.3'``."""
        kind = type(self).__name__
        return f"{kind} '{self.path}'" if self.path else kind

    def fail(self, message: str) -> ShapeError:
        return ShapeError(f"{self.label} {message}")

    # ------------------------------------------------------------ walking
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, list | tuple):
                for k, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{k}", item
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, Module):
                        yield f"{name}.{key}", item

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs, each parameter once, in definition order."""
        seen: set[int] = set()
        for path, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{path}.{name}" if path else name), value

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for path, module in self.named_modules():
            for name in module._buffer_names:
                yield (f"{path}.{name}" if path else name), getattr(module, name)

    def name_modules(self) -> Module:
        """Give every sub-module its dotted path (used in error messages and summaries)."""
        for path, module in self.named_modules():
            module.path = path
        return self

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (batch statistics, dropout on); ``eval()`` turns it off.

        A frozen layer (:func:`convmath.nn.transfer.freeze_until`) stays in eval
        mode: a frozen batch norm normalises with its running statistics and
        leaves them as they are.
        """
        for _, module in self.named_modules():
            module.training = mode and not module.frozen
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters and buffers, in place.

        Raises :class:`ShapeError` listing missing, unexpected and mis-shaped
        entries, before changing anything.
        """
        state = self._current_names(state)
        targets: dict[str, np.ndarray] = {n: p.data for n, p in self.named_parameters()}
        targets.update(dict(self.named_buffers()))
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        mis_shaped = [
            f"{name}: expected {targets[name].shape}, got {np.shape(state[name])}"
            for name in sorted(set(targets) & set(state))
            if np.shape(state[name]) != targets[name].shape
        ]
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if unexpected:
            problems.append(f"unexpected {unexpected}")
        if mis_shaped:
            problems.append("wrong shapes: " + "; ".join(mis_shaped))
        if problems:
            raise ShapeError(f"state does not fit {type(self).__name__}: " + ", ".join(problems))
        for name, target in targets.items():
            target[...] = state[name]

    def _current_names(self, state: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """``state`` with names of older layouts renamed (a module says so by ``legacy_names``)."""
        renames = {}
        for path, module in self.named_modules():
            legacy = getattr(module, "legacy_names", None)
            if legacy is None:
                continue
            prefix = f"{path}." if path else ""
            renames |= {prefix + old + ".": prefix + new + "." for old, new in legacy().items()}
        if not renames or not any(self._renamed(name, renames) != name for name in state):
            return state
        return {self._renamed(name, renames): array for name, array in state.items()}

    @staticmethod
    def _renamed(name: str, renames: dict[str, str]) -> str:
        for old, new in renames.items():
            if name.startswith(old):
                return new + name[len(old) :]
        return name

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.details()})"
        inner = "\n".join(f"  ({n}): " + repr(c).replace("\n", "\n  ") for n, c in children)
        return f"{type(self).__name__}(\n{inner}\n)"


def _recording_arguments(init: Any) -> Any:
    """``init``, first noting the arguments of the outermost call (the class actually built)."""

    @functools.wraps(init)
    def recorded(self: Module, *args: Any, **kwargs: Any) -> None:
        if "arguments" not in self.__dict__:  # super().__init__ calls keep the subclass's
            plain = not (args or kwargs) or _plain(args, kwargs)  # ReLU(): nothing to walk
            self.__dict__["arguments"] = Arguments(args, kwargs) if plain else None
        init(self, *args, **kwargs)

    return recorded


def _plain(*values: Any) -> bool:
    """Whether ``values`` hold only what an architecture can store: numbers, text, modules,
    generators, and lists, tuples and dicts of them (never arrays: no second copy is kept)."""
    pending = list(values)
    while pending:
        value = pending.pop()
        if isinstance(value, list | tuple):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif not isinstance(
            value,
            bool | int | float | str | type(None) | Module | np.random.Generator | np.generic,
        ) or (isinstance(value, np.generic) and value.dtype.kind not in "biuf"):
            return False
    return True


Module.__init__ = _recording_arguments(Module.__init__)  # type: ignore[method-assign]


def volume(layer: Module, shape: Shape) -> tuple[int, int, int]:
    """(n_H, n_W, n_C) of one example's ``shape``; a :class:`ShapeError` naming ``layer`` if not."""
    if len(shape) != 3:
        raise layer.fail(f"expects a volume (n_H, n_W, n_C) per example, got shape {tuple(shape)}")
    return shape[0], shape[1], shape[2]


class Sequential(Module):
    """Layers applied one after another: A[l] = layer_l(A[l-1]).

    ``Sequential(conv, relu, pool)`` names the layers "0", "1", "2";
    ``Sequential({"conv1": conv, "relu1": relu})`` keeps the given names.

    Shapes
    ------
    A^[0]: what the first layer takes;  A^[L]: what the last one gives

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> rng = np.random.default_rng(0)
    >>> model = nn.Sequential(
    ...     {
    ...         "conv1": nn.Conv2D(1, 6, 5, padding=2, rng=rng),
    ...         "relu1": nn.ReLU(),
    ...         "pool1": nn.MaxPool2D(2),
    ...         "flatten": nn.Flatten(),
    ...         "fc": nn.Dense(14 * 14 * 6, 10, rng=rng),
    ...     }
    ... )
    >>> model.output_shape((28, 28, 1))  # checked layer by layer, before any batch
    (10,)
    >>> model(Tensor(np.zeros((2, 28, 28, 1), np.float32))).shape
    (2, 10)
    >>> model.num_parameters()  # (5*5*1 + 1)*6 + (1176 + 1)*10
    11926
    """

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            self.layers = dict(layers[0])
        else:
            self.layers = {str(k): layer for k, layer in enumerate(layers)}
        for name, layer in self.layers.items():
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes modules; {name!r} is {type(layer).__name__}")

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self.layers.items()

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers.values())

    def __getitem__(self, key: int | str) -> Module:
        return list(self.layers.values())[key] if isinstance(key, int) else self.layers[key]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers.values():
            x = layer(x)
        return x

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for layer in self.layers.values():
            shape = layer.output_shape(shape)
        return shape

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        shape = tuple(input_shape)
        for layer in self.layers.values():
            shape = layer.describe_into(rows, shape, depth)
        return shape

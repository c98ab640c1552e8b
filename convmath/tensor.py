"""The gradient engine: ``Tensor``, ``Function`` and reverse-mode back propagation.

A :class:`Tensor` wraps a NumPy array (``.data``). When an operation is applied
to tensors that require gradients, the result remembers the :class:`Function`
that made it; the functions and tensors form a directed acyclic graph. Calling
``J.backward()`` on the loss J walks that graph from J back to the leaves in
reverse topological order and gives every leaf that requires a gradient its
``.grad = dJ/d(leaf)``, with the shape of the leaf.

Each ``Function`` subclass holds one op's forward and backward side by side
(see ``convmath/ops/``); the engine itself knows no calculus. Three rules keep
it correct on the graphs CNNs build:

- a tensor consumed by several ops (a residual skip, Inception branches) gets
  the *sum* of the gradients that flow back along each path;
- an array received as a gradient is never written into: ops may hand the same
  array to several inputs, so the engine copies before it accumulates in place;
- every gradient must have its tensor's shape and dtype, or the op at fault is
  named in a :class:`GradientError`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from convmath.dispatch import holding, kernel_for
from convmath.errors import DTypeError, GradientError, NonFiniteError
from convmath.switchboard import check_deadline, current_settings, settings

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Run the enclosed code without building a graph (inference, updates).

    Results of ops inside have ``requires_grad=False`` and keep no reference
    to their inputs, so activations are freed as soon as they are used. For
    the calling thread or task only (``convmath.settings(grad=False)``): a
    run evaluating in one thread leaves a server's back propagation alone.
    """
    with settings(grad=False):
        yield


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph (False inside :func:`no_grad`)."""
    return current_settings().grad


@contextlib.contextmanager
def strict_mode() -> Iterator[None]:
    """Raise :class:`NonFiniteError` as soon as an op produces a NaN or an infinity.

    Checks every forward result and every gradient, naming the op. It costs one
    pass over each array, so it is meant for debugging, not for fast training.
    The same as ``convmath.settings(strict=True)``.
    """
    with settings(strict=True):
        yield


def _check_finite(array: np.ndarray, what: str) -> None:
    if not np.isfinite(array).all():
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        raise NonFiniteError(
            f"{what} has {bad} non-finite value(s) (NaN or inf) out of {array.size}"
        )


def _as_float_array(data: Any, dtype: Any) -> np.ndarray:
    if data is None or isinstance(data, str | bytes):
        raise DTypeError(f"a Tensor holds numbers, got {type(data).__name__} {data!r:.40}")
    try:
        return _convert(data, dtype)
    except DTypeError:
        raise
    except (TypeError, ValueError) as error:
        raise DTypeError(
            f"cannot make a float Tensor from {type(data).__name__}: {error}"
        ) from None


def _convert(data: Any, dtype: Any) -> np.ndarray:
    if dtype is not None:
        array = np.asarray(data, dtype=dtype)
    elif isinstance(data, np.ndarray | np.generic) and data.dtype in _FLOAT_DTYPES:
        array = np.asarray(data)
    else:
        array = np.asarray(data, dtype=np.float32)
    if array.dtype not in _FLOAT_DTYPES:
        raise DTypeError(f"a Tensor holds float32 or float64, got dtype {array.dtype}")
    return array


class Tensor:
    """A NumPy array that can take part in back propagation.

    Parameters
    ----------
    data:
        Array-like. A NumPy float32 or float64 array keeps its dtype (and is
        not copied); anything else (lists, ints, Python floats, integer
        arrays such as uint8 images) becomes float32, the training dtype,
        with its values as they are: a uint8 image stays in 0..255 (scale it,
        e.g. by 1/255, or let ``data.Batches`` and ``train.fit`` do it).
    requires_grad:
        If True, ``backward()`` fills ``.grad`` for this tensor.
    dtype:
        Convert to this dtype (float32 or float64) instead.
    name:
        Optional label, shown in ``repr`` and in error messages.

    Example
    -------
    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> J = (x * x).sum()
    >>> J.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ("_op", "_retains_grad", "data", "grad", "name", "requires_grad")
    __array_priority__ = 100  # make ndarray <op> Tensor call Tensor's reflected operator

    def __init__(
        self,
        data: Any,
        *,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data: np.ndarray = _as_float_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self.name = name
        self._op: Function | None = None
        self._retains_grad = False

    # ------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, False for results of ops."""
        return self._op is None

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        return float(self.data.item())

    def detach(self) -> Tensor:
        """A tensor sharing the same data but cut from the graph."""
        return Tensor(self.data, name=self.name)

    def astype(self, dtype: Any) -> Tensor:
        """A copy in another float dtype, as a new leaf outside the graph.

        Meant for preparing inputs (float64 for gradient checks), not for use
        inside a model: no gradient flows back through it.
        """
        return Tensor(self.data.astype(dtype), requires_grad=self.requires_grad, name=self.name)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor too (e.g. to look at dZ)."""
        self._retains_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        flag = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, threshold=20, prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}{flag}{label})"

    def __len__(self) -> int:
        return len(self.data)

    __hash__ = object.__hash__  # tensors are graph nodes: identity, not value

    # ------------------------------------------------------------ backward
    def backward(self, grad: Any = None, *, retain_graph: bool = False) -> None:
        """Back-propagate from this tensor: fill ``.grad`` of every leaf that needs it.

        ``grad`` is dJ/d(self); it may be omitted for a one-element tensor (the
        loss), where it is 1. Gradients accumulate into ``.grad`` across calls
        (reset them with ``zero_grad``). The graph is walked with an explicit
        stack, so depth is not limited by Python's recursion limit. Each op
        frees what it saved as soon as its backward has run, so memory falls
        during back propagation; ``retain_graph=True`` keeps the graph for a
        second backward.
        """
        if not self.requires_grad:
            raise GradientError(
                "backward() called on a tensor that does not require gradients: no input of the"
                " ops that made it has requires_grad=True (or it was made under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise GradientError(
                    f"backward() without a gradient needs a one-element tensor (a loss J);"
                    f" this one has shape {self.shape}: pass dJ/d(self) of that shape"
                )
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
            if seed.shape != self.shape:
                raise GradientError(
                    f"backward(grad) needs a gradient of shape {self.shape}, got {seed.shape}"
                )
            seed = seed.astype(self.dtype, copy=False)
        with holding():  # BLAS on one thread while convmath computes (kernels/parallel.py)
            _backpropagate(self, seed, retain_graph)

    # ------------------------------------------------------------ operators
    # The ops live in convmath.ops; importing them here would be circular, so
    # the operators are attached by convmath.ops when the package loads.


def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors that require grad, each after every tensor computed from it."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._op is not None:
            for parent in tensor._op.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _backpropagate(root: Tensor, seed: np.ndarray, retain_graph: bool) -> None:
    grads: dict[int, np.ndarray] = {id(root): seed}
    owned: set[int] = set()  # gradients this walk allocated, safe to add into in place
    strict, deadline = current_settings().strict, current_settings().deadline
    for tensor in _topological_order(root):
        key = id(tensor)
        grad = grads.pop(key, None)
        is_owned = key in owned
        owned.discard(key)
        if grad is None:
            continue
        op = tensor._op
        if op is None or tensor._retains_grad:
            stored = grad if is_owned else grad.copy()
            tensor.grad = stored if tensor.grad is None else np.asarray(tensor.grad + stored)
            if op is None:
                continue
        if op.released:
            raise GradientError(
                f"the graph through {op.name} was freed by an earlier backward(); call"
                f" backward(retain_graph=True) the first time to back-propagate twice"
            )
        if deadline is not None:  # a budget given by time_budget: checked before each step
            check_deadline(f"back-propagating through {op.name}")
        input_grads = op.backward(grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(op.inputs):
            raise GradientError(
                f"{op.name}.backward returned {len(input_grads)} gradient(s)"
                f" for {len(op.inputs)} input(s)"
            )
        inputs = op.inputs
        if not retain_graph:
            op.release()
        for parent, parent_grad in zip(inputs, input_grads, strict=True):
            if parent_grad is None or not parent.requires_grad:
                continue
            parent_grad = np.asarray(parent_grad)
            if parent_grad.shape != parent.shape or parent_grad.dtype != parent.dtype:
                raise GradientError(
                    f"{op.name}.backward gave a gradient of shape {parent_grad.shape} and dtype"
                    f" {parent_grad.dtype} for an input of shape {parent.shape} and dtype"
                    f" {parent.dtype}"
                )
            if strict:
                _check_finite(parent_grad, f"the gradient that {op.name}.backward gave")
            parent_key = id(parent)
            previous = grads.get(parent_key)
            if previous is None:
                grads[parent_key] = parent_grad
            elif parent_key in owned:
                np.add(previous, parent_grad, out=previous)
            else:
                grads[parent_key] = np.asarray(previous + parent_grad)
                owned.add(parent_key)


class Function:
    """One differentiable operation: ``forward`` and ``backward`` side by side.

    Subclasses implement

    - ``forward(self, *arrays, **options) -> ndarray``: compute the result from
      the input arrays, saving on ``self`` whatever backward needs;
    - ``backward(self, grad) -> ndarray | None | tuple``: given dJ/d(output),
      return dJ/d(input) for each tensor input, in order (``None`` where an
      input needs no gradient; ``self.needs_grad[i]`` says which do).

    Call an op with ``MyOp.apply(tensor, ..., option=value)``. While kernels
    are on, ``apply`` runs the kernel registered for the op instead (a
    subclass computing the same function faster, see :mod:`convmath.dispatch`).
    """

    inputs: tuple[Tensor, ...]
    needs_grad: tuple[bool, ...]
    released: bool = False

    @property
    def name(self) -> str:
        """The op's name, the same whether its equation or one of its kernels runs."""
        for cls in type(self).__mro__:
            if cls.__module__.startswith("convmath.ops."):
                return cls.__name__
        return type(self).__name__

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray | tuple[np.ndarray | None, ...] | None:
        raise NotImplementedError

    def release(self) -> None:
        """Drop what forward saved (and the inputs), once backward has used it."""
        self.__dict__.clear()
        self.inputs = ()
        self.released = True

    @classmethod
    def apply(cls, *inputs: Tensor | np.ndarray, **options: Any) -> Tensor:
        inputs = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in inputs)
        switches = current_settings()
        op = kernel_for(cls)()  # the op's kernel while kernels are on (convmath.dispatch)
        record = switches.grad and any(t.requires_grad for t in inputs)
        op.needs_grad = tuple(record and t.requires_grad for t in inputs)
        result = np.asarray(op.forward(*(t.data for t in inputs), **options))
        if switches.strict:
            _check_finite(result, f"the result of {op.name}")
        out = Tensor.__new__(Tensor)
        out.data = result
        out.grad = None
        out.requires_grad = record
        out.name = None
        out._retains_grad = False
        if record:
            op.inputs = inputs
            out._op = op
        else:
            out._op = None
        return out


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor: tensors pass through, scalars take ``like``'s dtype."""
    if isinstance(value, Tensor):
        return value
    if like is not None and np.ndim(value) == 0:
        return Tensor(np.asarray(value, dtype=like.dtype))
    return Tensor(value)


def same_dtype(tensors: Sequence[Tensor], op: str) -> np.dtype:
    """The common dtype of ``tensors``; mixing float32 and float64 is an error."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        if tensor.dtype != dtype:
            raise DTypeError(
                f"{op} got mixed dtypes {[str(t.dtype) for t in tensors]}: convert explicitly"
                f" with .astype(...) so that no silent float64 upcast slows training"
            )
    return dtype


def equations_from(op: type[Function]) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Append an op's docstring (its shapes and equations) to the function that calls it.

    ``help(F.conv2d)`` then shows the arguments and the forward and backward
    mathematics together, while the equations are written once, on the op.
    """

    def decorate(function: Callable[..., Tensor]) -> Callable[..., Tensor]:
        own = inspect.cleandoc(function.__doc__ or "")
        equations = inspect.cleandoc(op.__doc__ or "")
        function.__doc__ = f"{own}\n\nThe op, {op.__name__}:\n\n{equations}"
        return function

    return decorate

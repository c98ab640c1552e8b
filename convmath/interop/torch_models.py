"""The ``torch.nn`` twin of a convmath model, for the weights of :mod:`convmath.interop.torch`.

``torch_module("lenet5", (28, 28, 1), 10)`` builds the convmath model by name
(so its options are checked as :func:`convmath.models.build` checks them) and
translates it layer by layer into a ``torch.nn.Module`` of the same structure:
every ``Sequential`` becomes an ``nn.Sequential`` with the same child names, a
``ResidualBlock`` a module with ``main`` and ``projection``, an
``InceptionModule`` a module with ``branches`` (an ``nn.ModuleList``), a
``SqueezeExcitation`` a module with ``squeeze``, an ``InvertedResidual`` one with
``main``. The activations become torch's own (``nn.ReLU6``, ``nn.Hardswish``,
``nn.SiLU``, ``nn.GELU``, ``nn.Hardsigmoid`` for PyTorch's numbers), the pools
``nn.AdaptiveAvgPool2d``, ChannelShuffle ``nn.ChannelShuffle``, and LayerNorm of a
volume torchvision's ``LayerNorm2d`` (an ``nn.LayerNorm`` over the channels of NCHW). Its
``state_dict()`` therefore has exactly the names and shapes of
:func:`~convmath.interop.torch.to_torch_state_dict`, and
``load_state_dict(strict=True)`` takes them. The torch module reads NCHW input
(``x.transpose(0, 3, 1, 2)`` of convmath's NHWC) and starts in training mode, as
PyTorch's modules do: call ``.eval()`` before comparing outputs.

Needs PyTorch (the ``torch`` extra); it is imported when first needed.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from convmath.errors import InvalidArgumentError, MissingDependencyError
from convmath.interop.torch import checked_shape, layer_label
from convmath.models import build
from convmath.nn import (
    GELU,
    AdaptiveAvgPool2D,
    AvgPool2D,
    BatchNorm2D,
    ChannelShuffle,
    ChannelSlice,
    Clip,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    HardSigmoid,
    HardSwish,
    InceptionModule,
    InvertedResidual,
    LayerNorm,
    LayerScale,
    LeakyReLU,
    MaxPool2D,
    Module,
    ReLU,
    ReLU6,
    ResidualBlock,
    Sequential,
    Sigmoid,
    SiLU,
    SpatialMean,
    SqueezeExcitation,
    Tanh,
)
from convmath.nn.graph import Add, Concatenate, Graph, Merge, Multiply
from convmath.nn.layout import Permute, Reorder, Reshape, Slice, ZeroPad

if TYPE_CHECKING:
    import torch

__all__ = ["torch_module", "torch_module_for"]


def torch_module(
    name: str, input_shape: tuple[int, int, int], num_classes: int = 10, **options: Any
) -> torch.nn.Module:
    """The PyTorch twin of the named convmath model (``convmath.models.MODELS``).

    ``options`` are the model's own (``width``, ``dropout``, ``depth``, ``widths``,
    ``shortcut``...), checked as :func:`convmath.models.build` checks them. The
    weights are PyTorch's default initialisation; load convmath's with
    ``load_state_dict`` of :func:`~convmath.interop.torch.to_torch_state_dict`.
    """
    _classes()  # no torch: say so before building anything
    model = build(name, input_shape, num_classes, rng=np.random.default_rng(0), **options)
    return torch_module_for(model, input_shape)


def torch_module_for(model: Module, input_shape: tuple[int, int, int]) -> torch.nn.Module:
    """The PyTorch twin of a convmath ``model`` for examples of ``input_shape`` (n_H, n_W, n_C).

    Knows the layers of :mod:`convmath.nn` (Conv2D, Dense, BatchNorm2D, LayerNorm,
    LayerScale, the activations, Dropout, the poolings, Flatten, ChannelShuffle,
    ChannelSlice, ResidualBlock, InceptionModule, SqueezeExcitation, InvertedResidual),
    Sequential, and Graph (an imported model: each node's module at its dotted name,
    the merges Add, Multiply and Concatenate, the layout modules of an import); any other
    module raises
    :class:`InvalidArgumentError` naming it.
    The input shape fixes what "same" padding is, and whether a BatchNorm2D sees
    volumes (``BatchNorm2d``) or vectors (``BatchNorm1d``).
    """
    if not isinstance(model, Module):
        raise InvalidArgumentError(f"expected a convmath Module, got {type(model).__name__}")
    translated, _ = _translate(model, "", checked_shape(input_shape), _classes())
    return translated


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            "convmath.interop.torch_models needs PyTorch: pip install 'convmath[torch]'"
        ) from None
    return torch


@functools.cache
def _classes() -> SimpleNamespace:
    """The torch modules that torch.nn has no exact equivalent for, defined once torch is here."""
    torch = _import_torch()
    nn = torch.nn

    class PaddedConv2d(nn.Conv2d):
        """nn.Conv2d after zero padding that may differ before and after (convmath's "same"
        with an even filter or a stride), keeping the names weight and bias."""

        def __init__(self, *args: Any, sides: tuple[int, int, int, int], **kwargs: Any) -> None:
            super().__init__(*args, padding=0, **kwargs)
            self.sides = sides  # (left, right, top, bottom), as nn.functional.pad takes them

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(nn.functional.pad(x, self.sides))

    class GlobalAvgPool2d(nn.Module):
        """(N, C, H, W) -> (N, C): the mean of each channel."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    class ResidualBlock(nn.Module):
        """relu(main(x) + shortcut(x)); the shortcut is the identity, ``projection`` or option A."""

        def __init__(
            self,
            main: nn.Module,
            projection: nn.Module | None,
            identity: bool,
            stride: int,
            extra: int,
        ) -> None:
            super().__init__()
            self.main = main
            self.projection = projection
            self.identity, self.stride, self.extra = identity, stride, extra

        def shortcut(self, x: torch.Tensor) -> torch.Tensor:
            if self.identity:
                return x
            if self.projection is not None:
                return self.projection(x)
            s, half = self.stride, self.extra // 2
            return nn.functional.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, half, self.extra - half))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.main(x) + self.shortcut(x))

    class InceptionModule(nn.Module):
        """The branches' outputs concatenated along the channels."""

        def __init__(self, branches: dict[str, nn.Module]) -> None:
            super().__init__()
            for name, branch in branches.items():  # "1x1", "3x3"...: convmath's names
                self.add_module(name, branch)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([branch(x) for branch in self.children()], dim=1)

    class Clip(nn.Module):
        """torch.clamp(x, lo, hi); None: no bound on that side."""

        def __init__(self, lo: float | None, hi: float | None) -> None:
            super().__init__()
            self.lo, self.hi = lo, hi

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.clamp(x, self.lo, self.hi)

    class HardSigmoid(nn.Module):
        """max(0, min(1, alpha x + beta)), for numbers other than nn.Hardsigmoid's 1/6, 1/2."""

        def __init__(self, alpha: float, beta: float) -> None:
            super().__init__()
            self.alpha, self.beta = alpha, beta

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.clamp(self.alpha * x + self.beta, 0.0, 1.0)

    class ChannelSlice(nn.Module):
        """Channels start to stop - 1 of NCHW."""

        def __init__(self, start: int, stop: int) -> None:
            super().__init__()
            self.start, self.stop = start, stop

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, self.start : self.stop]

    class LayerNorm2d(nn.LayerNorm):
        """nn.LayerNorm over the channels of each position of NCHW (torchvision's LayerNorm2d)."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class LayerScale(nn.Module):
        """x times one learned number per channel (``weight``), broadcast over H and W."""

        def __init__(self, n_C: int, volume: bool) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n_C))
            self.volume = volume

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * (self.weight.view(-1, 1, 1) if self.volume else self.weight)

    class SqueezeExcitation(nn.Module):
        """x times the gate ``squeeze(x)`` (N, C, 1, 1), broadcast over the map."""

        def __init__(self, squeeze: nn.Module) -> None:
            super().__init__()
            self.squeeze = squeeze

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.squeeze(x)

    class InvertedResidual(nn.Module):
        """main(x), plus x when the block keeps the stride 1 and the channels."""

        def __init__(self, main: nn.Module, residual: bool) -> None:
            super().__init__()
            self.main, self.residual = main, residual

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.main(x)
            return z + x if self.residual else z

    class Relaid(nn.Module):
        """A layout module of an import (Reshape, Permute, Reorder, Slice, ZeroPad) on NCHW:
        the example to convmath's channels-last order, ``apply`` there (a function of the
        batch-first tensor), and back to NCHW when a volume comes out."""

        def __init__(self, apply: Any, rank_in: int, rank_out: int) -> None:
            super().__init__()
            self.apply_, self.rank_in, self.rank_out = apply, rank_in, rank_out

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.rank_in == 3:
                x = x.permute(0, 2, 3, 1)
            y = self.apply_(x)
            return y.permute(0, 3, 1, 2) if self.rank_out == 3 else y

    class Graph(nn.Module):
        """convmath's Graph: each node's module at its dotted name (so that the state_dict
        names are the nodes'), run in the graph's order; merges add, multiply or concatenate."""

        def __init__(self, steps: list[tuple[Any, ...]], input_name: str, output_name: str) -> None:
            super().__init__()
            self.steps = steps  # (node name, merge or None, inputs, output)
            self.input_name, self.output_name = input_name, output_name

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            values = {self.input_name: x}
            for name, merge, inputs, output in self.steps:
                xs = [values[value] for value in inputs]
                values[output] = self.get_submodule(name)(xs[0]) if merge is None else merge(xs)
            return values[self.output_name]

    return SimpleNamespace(
        nn=nn,
        Graph=Graph,
        Relaid=Relaid,
        PaddedConv2d=PaddedConv2d,
        GlobalAvgPool2d=GlobalAvgPool2d,
        ResidualBlock=ResidualBlock,
        InceptionModule=InceptionModule,
        Clip=Clip,
        HardSigmoid=HardSigmoid,
        ChannelSlice=ChannelSlice,
        LayerNorm2d=LayerNorm2d,
        LayerScale=LayerScale,
        SqueezeExcitation=SqueezeExcitation,
        InvertedResidual=InvertedResidual,
    )


def _translate(
    module: Module, path: str, shape: tuple[int, ...], k: SimpleNamespace
) -> tuple[Any, tuple[int, ...]]:
    """The torch module of ``module`` for examples of ``shape``, and its output shape."""
    nn = k.nn
    if isinstance(module, Sequential):
        children = OrderedDict()
        for name, child in module.named_children():
            children[name], shape = _translate(child, f"{path}.{name}" if path else name, shape, k)
        return nn.Sequential(children), shape
    output = tuple(module.output_shape(shape))
    if isinstance(module, Conv2D):
        (top, bottom), (left, right) = module.resolved_padding(shape)
        arguments = (module.n_C_prev, module.n_C, module.f, module.stride)
        options = {
            "dilation": module.dilation,
            "groups": module.groups,
            "bias": module.b is not None,
        }
        if top == bottom and left == right:
            return nn.Conv2d(*arguments, padding=(top, left), **options), output
        return k.PaddedConv2d(*arguments, sides=(left, right, top, bottom), **options), output
    if isinstance(module, Dense):
        return nn.Linear(module.n_in, module.n_out, bias=module.b is not None), output
    if isinstance(module, BatchNorm2D):
        norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        return norm(module.n_C, eps=module.eps, momentum=module.momentum), output
    if isinstance(module, MaxPool2D):
        return nn.MaxPool2d(module.f, module.stride, module.padding), output
    if isinstance(module, AvgPool2D):
        pool = nn.AvgPool2d(
            module.f, module.stride, module.padding, count_include_pad=module.count_include_pad
        )
        return pool, output
    if isinstance(module, GlobalAvgPool2D):
        return k.GlobalAvgPool2d(), output
    if isinstance(module, Flatten):
        return nn.Flatten(), output
    if isinstance(module, LeakyReLU):
        return nn.LeakyReLU(module.alpha), output
    if isinstance(module, Dropout):
        return nn.Dropout(module.rate), output
    simple = {
        ReLU: nn.ReLU,
        Sigmoid: nn.Sigmoid,
        Tanh: nn.Tanh,
        ReLU6: nn.ReLU6,
        HardSwish: nn.Hardswish,
        SiLU: nn.SiLU,
        SpatialMean: lambda: nn.AdaptiveAvgPool2d(1),
    }
    if type(module) in simple:
        return simple[type(module)](), output
    if isinstance(module, GELU):
        return nn.GELU(approximate=module.approximate), output
    if isinstance(module, HardSigmoid):
        if (module.alpha, module.beta) == (1 / 6, 0.5):
            return nn.Hardsigmoid(), output
        return k.HardSigmoid(module.alpha, module.beta), output
    if isinstance(module, Clip):
        return k.Clip(module.lo, module.hi), output
    if isinstance(module, AdaptiveAvgPool2D):
        return nn.AdaptiveAvgPool2d(module.output_size), output
    if isinstance(module, ChannelShuffle):
        return nn.ChannelShuffle(module.groups), output
    if isinstance(module, ChannelSlice):
        return k.ChannelSlice(module.start, module.stop), output
    if isinstance(module, LayerNorm):
        norm = k.LayerNorm2d if len(shape) == 3 else nn.LayerNorm
        return norm(module.n_C, eps=module.eps), output
    if isinstance(module, LayerScale):
        return k.LayerScale(module.n_C, volume=len(shape) == 3), output
    if isinstance(module, SqueezeExcitation):
        where = f"{path}.squeeze" if path else "squeeze"
        return k.SqueezeExcitation(_translate(module.squeeze, where, shape, k)[0]), output
    if isinstance(module, InvertedResidual):
        main, _ = _translate(module.main, f"{path}.main" if path else "main", shape, k)
        return k.InvertedResidual(main, module.residual), output
    if isinstance(module, ResidualBlock):
        main, _ = _translate(module.main, f"{path}.main" if path else "main", shape, k)
        projection = None
        if module.projection is not None:
            where = f"{path}.projection" if path else "projection"
            projection, _ = _translate(module.projection, where, shape, k)
        extra = module.n_C - module.n_C_prev
        block = k.ResidualBlock(main, projection, module.identity, module.stride, extra)
        return block, output
    if isinstance(module, InceptionModule):
        branches = {
            name: _translate(branch, f"{path}.{name}" if path else name, shape, k)[0]
            for name, branch in module.named_children()
        }
        return k.InceptionModule(branches), output
    if isinstance(module, Graph):
        return _translate_graph(module, path, shape, k)
    relaid = _relaid(module, path, k.nn)
    if relaid is not None:
        return k.Relaid(relaid, len(shape), len(output)), output
    raise InvalidArgumentError(
        f"{layer_label(module, path)}: convmath knows no PyTorch equivalent of this layer"
    )


def _relaid(module: Module, path: str, nn: Any) -> Any:
    """What a layout module does to a batch-first tensor in convmath's order, or None."""
    if isinstance(module, Reshape):
        return lambda x: x.reshape(x.shape[0], *module.shape)
    if isinstance(module, Permute):
        return lambda x: x.permute(0, *(a + 1 for a in module.axes))
    if isinstance(module, Reorder):
        indices = module.indices.tolist()
        return lambda x: x[:, indices]
    if isinstance(module, Slice):
        if any(step < 1 for _, _, step in module.ranges):
            raise InvalidArgumentError(
                f"{layer_label(module, path)}: a slice of negative step has no torch indexing"
            )
        return lambda x: x[(slice(None), *(slice(*r) for r in module.ranges))]
    if isinstance(module, ZeroPad):
        sides = [side for widths in reversed(module.widths) for side in widths]  # last axis first
        return lambda x: nn.functional.pad(x, sides)
    return None


def _translate_graph(
    graph: Graph, path: str, shape: tuple[int, ...], k: SimpleNamespace
) -> tuple[Any, tuple[int, ...]]:
    shapes = {graph.input_name: shape}
    steps: list[tuple[Any, ...]] = []
    placed: list[tuple[str, Any]] = []
    for node in graph.nodes:
        inputs = [shapes[name] for name in node.inputs]
        where = f"{path}.{node.name}" if path else node.name
        if isinstance(node.module, Merge):
            shapes[node.output] = tuple(node.module.merged_shape(inputs))
            merge = _merge(node.module, len(inputs[0]), where)
            steps.append((node.name, merge, node.inputs, node.output))
        else:
            translated, shapes[node.output] = _translate(node.module, where, inputs[0], k)
            placed.append((node.name, translated))
            steps.append((node.name, None, node.inputs, node.output))
    twin = k.Graph(steps, graph.input_name, graph.output_name)
    for name, translated in placed:
        _place(twin, name, translated, k.nn)
    return twin, shapes[graph.output_name]


def _merge(merge: Merge, rank: int, where: str) -> Any:
    """The function of torch tensors that ``merge`` computes, in NCHW."""
    if isinstance(merge, Add):
        return lambda xs: functools.reduce(lambda a, b: a + b, xs)
    if isinstance(merge, Multiply):
        return lambda xs: functools.reduce(lambda a, b: a * b, xs)
    if isinstance(merge, Concatenate):
        axis = merge.axis % rank
        dim = (2, 3, 1)[axis] if rank == 3 else axis + 1  # past the batch, channels first
        return lambda xs: _import_torch().cat(xs, dim=dim)
    raise InvalidArgumentError(
        f"{layer_label(merge, where)}: convmath knows no PyTorch equivalent of this merge"
    )


def _place(root: Any, name: str, module: Any, nn: Any) -> None:
    """Put ``module`` at the dotted ``name`` under ``root``, making empty parents on the way."""
    *parents, last = name.split(".")
    parent = root
    try:
        for part in parents:
            if part not in parent._modules:
                parent.add_module(part, nn.Module())
            parent = parent._modules[part]
        if last in parent._modules:
            raise KeyError(f"{last!r} is taken")
        parent.add_module(last, module)
    except (KeyError, TypeError) as error:
        raise InvalidArgumentError(
            f"graph node {name!r}: its name cannot be a PyTorch module path ({error})"
        ) from None

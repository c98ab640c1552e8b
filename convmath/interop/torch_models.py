"""The ``torch.nn`` twin of a convmath model, for the weights of :mod:`convmath.interop.torch`.

``torch_module("lenet5", (28, 28, 1), 10)`` builds the convmath model by name
(so its options are checked as :func:`convmath.models.build` checks them) and
translates it layer by layer into a ``torch.nn.Module`` of the same structure:
every ``Sequential`` becomes an ``nn.Sequential`` with the same child names, a
``ResidualBlock`` a module with ``main`` and ``projection``, an
``InceptionModule`` a module with ``branches`` (an ``nn.ModuleList``). Its
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
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    InceptionModule,
    LeakyReLU,
    MaxPool2D,
    Module,
    ReLU,
    ResidualBlock,
    Sequential,
    Sigmoid,
    Tanh,
)

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

    Knows the layers of :mod:`convmath.nn` (Conv2D, Dense, BatchNorm2D, the
    activations, Dropout, the poolings, Flatten, ResidualBlock, InceptionModule)
    and Sequential; any other module raises :class:`InvalidArgumentError` naming it.
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

    return SimpleNamespace(
        nn=nn,
        PaddedConv2d=PaddedConv2d,
        GlobalAvgPool2d=GlobalAvgPool2d,
        ResidualBlock=ResidualBlock,
        InceptionModule=InceptionModule,
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
    simple = {ReLU: nn.ReLU, Sigmoid: nn.Sigmoid, Tanh: nn.Tanh}
    if type(module) in simple:
        return simple[type(module)](), output
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
    raise InvalidArgumentError(
        f"{layer_label(module, path)}: convmath knows no PyTorch equivalent of this layer"
    )

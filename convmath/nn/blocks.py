"""ResNet residual blocks, Inception modules, squeeze-and-excitation and MobileNet's
inverted residuals, built from layers; no backward code here.

A residual block adds its input back: a[l+2] = g(z[l+2] + a[l]); an Inception
module concatenates parallel branches along the channels; a squeeze-and-
excitation block scales each channel by a gate computed from the whole map.
In each, one tensor feeds several ops, and the engine sums the gradients
flowing back along each path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError
from convmath.nn.activation import ReLU, activation_named
from convmath.nn.conv import Conv2D
from convmath.nn.module import LayerInfo, Module, Sequential, Shape, volume
from convmath.nn.normalization import BatchNorm2D
from convmath.nn.pool import MaxPool2D, SpatialMean
from convmath.shapes import positive_int
from convmath.tensor import Tensor

SHORTCUTS = ("projection", "pad")
BRANCH_NAMES = ("1x1", "3x3", "5x5", "pool")


class ResidualBlock(Module):
    """A ResNet block (He, Zhang, Ren and Sun, "Deep Residual Learning for Image
    Recognition", 2015, arXiv:1512.03385).

    Basic form: z = BN(conv3x3(relu(BN(conv3x3_s(a))))), then a_out = relu(z + shortcut(a)).
    Bottleneck form (``bottleneck=True``): 1x1 down to ``width`` channels (n_C/4 by
    default), 3x3 with the stride, 1x1 up to n_C, each followed by BN (ReLU between).

    The shortcut is the identity when the stride is 1 and n_C_prev = n_C.
    Otherwise, ``shortcut="projection"`` uses a 1x1 convolution with the
    stride and BN (the paper's option B), and ``shortcut="pad"`` subsamples
    a[:, ::s, ::s] and zero-pads the new channels, half before and half after
    (option A, no parameters, as in the paper's CIFAR ResNets).

    Shapes
    ------
    a: (m, n_H_prev, n_W_prev, n_C_prev)
    a_out: (m, ceil(n_H_prev/s), ceil(n_W_prev/s), n_C)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> block = nn.ResidualBlock(16, 32, stride=2, rng=np.random.default_rng(0))
    >>> block.output_shape((32, 32, 16))
    (16, 16, 32)
    >>> block(Tensor(np.zeros((2, 32, 32, 16), np.float32))).shape
    (2, 16, 16, 32)
    >>> nn.ResidualBlock(16, 16, rng=np.random.default_rng(0)).identity  # s = 1, n_C kept
    True
    """

    def __init__(
        self,
        n_C_prev: int,
        n_C: int,
        stride: int = 1,
        *,
        rng: np.random.Generator,
        bottleneck: bool = False,
        width: int | None = None,
        shortcut: str = "projection",
        init: str = "he_normal_fan_out",
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise InvalidArgumentError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if shortcut == "pad" and n_C < n_C_prev:
            raise InvalidArgumentError("a 'pad' shortcut cannot reduce channels; use 'projection'")
        self.n_C_prev, self.n_C, self.stride = n_C_prev, n_C, stride
        self.bottleneck = bottleneck

        def conv(c_in: int, c_out: int, f: int, s: int = 1) -> Conv2D:
            return Conv2D(c_in, c_out, f, s, padding=f // 2, bias=False, rng=rng, init=init)

        if bottleneck:
            mid = width or max(n_C // 4, 1)
            self.main = Sequential(
                {
                    "conv1": conv(n_C_prev, mid, 1),
                    "bn1": BatchNorm2D(mid),
                    "relu1": ReLU(),
                    "conv2": conv(mid, mid, 3, stride),
                    "bn2": BatchNorm2D(mid),
                    "relu2": ReLU(),
                    "conv3": conv(mid, n_C, 1),
                    "bn3": BatchNorm2D(n_C),
                }
            )
        else:
            self.main = Sequential(
                {
                    "conv1": conv(n_C_prev, n_C, 3, stride),
                    "bn1": BatchNorm2D(n_C),
                    "relu1": ReLU(),
                    "conv2": conv(n_C, n_C, 3),
                    "bn2": BatchNorm2D(n_C),
                }
            )
        self.identity = stride == 1 and n_C_prev == n_C
        self.projection = None
        if not self.identity and shortcut == "projection":
            self.projection = Sequential(
                {"conv": conv(n_C_prev, n_C, 1, stride), "bn": BatchNorm2D(n_C)}
            )

    def shortcut(self, a: Tensor) -> Tensor:
        if self.identity:
            return a
        if self.projection is not None:
            return self.projection(a)
        s = self.stride
        subsampled = a[:, ::s, ::s, :]
        extra = self.n_C - self.n_C_prev
        return F.pad(subsampled, [(0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)])

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.main(x) + self.shortcut(x))

    def shortcut_shape(self, input_shape: Shape) -> Shape:
        if self.identity:
            return tuple(input_shape)
        if self.projection is not None:
            return self.projection.output_shape(input_shape)
        n_H, n_W, _ = input_shape
        s = self.stride
        return (-(-n_H // s), -(-n_W // s), self.n_C)

    def output_shape(self, input_shape: Shape) -> Shape:
        main = self.main.output_shape(input_shape)
        skip = self.shortcut_shape(input_shape)
        if main != skip:
            raise self.fail(f"main path gives {main} but the shortcut gives {skip}")
        return main

    def shortcut_description(self) -> str:
        if self.identity:
            return "identity"
        if self.projection is not None:
            return f"1x1 conv, stride {self.stride}, + BN (projection)"
        return f"a[:, ::{self.stride}, ::{self.stride}] + zero channels (option A)"

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        heading = self.heading(input_shape, f"main path ({self.details()}):", depth)
        rows.append(
            dataclasses.replace(
                heading,
                backward=(
                    f"da[l] {tuple(input_shape)} = the main path's gradient + the shortcut's"
                    " (a tensor used twice receives the sum of its gradients)",
                ),
            )
        )
        main = self.main.describe_into(rows, input_shape, depth + 1)
        skip = self.shortcut_shape(input_shape)
        formulas = [f"shortcut: {self.shortcut_description()} -> {skip}"]
        if self.projection is not None:
            self.projection.describe_into(rows, input_shape, depth + 1)
        elif not self.identity:
            extra = self.n_C - self.n_C_prev
            formulas.append(
                f"option A: {tuple(input_shape)} subsampled to ({skip[0]}, {skip[1]},"
                f" {self.n_C_prev}), then {extra // 2} + {extra - extra // 2} zero channels"
                f" -> {skip}"
            )
        self.output_shape(input_shape)  # checks that the two paths agree
        formulas.append(f"a[l+2] = relu(z[l+2] + shortcut(a[l])): {main} + {skip} -> {main}")
        backward = [
            "dS = da[l+2] * [z[l+2] + shortcut(a[l]) > 0] (through the ReLU), of shape"
            f" {main}, goes unchanged to both paths: dz[l+2] = dS and d shortcut = dS",
        ]
        if self.projection is not None:
            backward.append("the shortcut's rows (its 1x1 convolution and BN) come first below")
        elif not self.identity:
            backward.append(
                f"shortcut (option A): d a[l] takes dS without its zero channels, at one"
                f" position in {self.stride} along each axis (those read), 0 elsewhere"
            )
        backward.append("then the main path's rows, last layer first")
        rows.append(
            self.joining_row("add", "ResidualAdd", input_shape, main, formulas, depth, backward)
        )
        return main

    def details(self) -> str:
        kind = "bottleneck" if self.bottleneck else "basic"
        return f"{kind}, {self.n_C_prev} -> {self.n_C}, s={self.stride}"


def inception_cost(
    n_H: int, n_W: int, n_C_prev: int, n_C: int, f: int, bottleneck: int | None = None
) -> int:
    """Multiplies of one "same" f x f convolution branch, naive or after a 1x1 bottleneck.

    Naive: n_H*n_W*n_C * f*f*n_C_prev. With a 1x1 reduction to b channels:
    n_H*n_W*b * n_C_prev + n_H*n_W*n_C * f*f*b. The article's example, 28x28x192
    to 32 filters of 5x5: 120,422,400 naive, 12,443,648 with b = 16.

    >>> inception_cost(28, 28, 192, 32, 5), inception_cost(28, 28, 192, 32, 5, bottleneck=16)
    (120422400, 12443648)
    """
    if bottleneck is None:
        return n_H * n_W * n_C * f * f * n_C_prev
    return n_H * n_W * bottleneck * n_C_prev + n_H * n_W * n_C * f * f * bottleneck


class InceptionModule(Module):
    """An Inception module (Szegedy et al., "Going Deeper with Convolutions", 2014,
    arXiv:1409.4842): parallel branches concatenated along the channels.

    Branches: 1x1 conv; 3x3 conv; 5x5 conv; 3x3 max pool (stride 1, pad 1).
    Every conv has a bias and is followed by ReLU; "same" padding keeps n_H, n_W.
    With ``reduce=True`` (the paper's final form) 1x1 convolutions cut the
    channels before the 3x3 and 5x5 convolutions and after the pool, which is
    what makes the module affordable (see :meth:`cost`); with ``reduce=False``
    it is the naive form and the pool branch passes all n_C_prev channels on.
    Output channels: n1x1 + n3x3 + n5x5 + (pool_proj if reduced, else n_C_prev).

    Shapes
    ------
    A_prev: (m, n_H, n_W, n_C_prev)
    A: (m, n_H, n_W, n1x1 + n3x3 + n5x5 + pool_proj) (n_C_prev for the pool branch if naive)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> inception = nn.InceptionModule(192, 64, 96, 128, 16, 32, 32, rng=np.random.default_rng(0))
    >>> inception.output_shape((28, 28, 192))  # GoogLeNet's 3a: 64 + 128 + 32 + 32 channels
    (28, 28, 256)
    >>> inception.num_parameters()
    163696
    >>> inception(Tensor(np.zeros((1, 28, 28, 192), np.float32))).shape
    (1, 28, 28, 256)
    """

    def __init__(
        self,
        n_C_prev: int,
        n1x1: int,
        n3x3_reduce: int,
        n3x3: int,
        n5x5_reduce: int,
        n5x5: int,
        pool_proj: int,
        *,
        rng: np.random.Generator,
        reduce: bool = True,
        init: str = "he_normal",
    ) -> None:
        super().__init__()
        self.n_C_prev = n_C_prev
        self.widths = (n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj)
        self.reduce = reduce

        def conv(c_in: int, c_out: int, f: int) -> Conv2D:
            return Conv2D(c_in, c_out, f, padding=f // 2, rng=rng, init=init)

        def branch(c_out: int, f: int, reduced_to: int | None = None) -> Sequential:
            if reduced_to is None:
                return Sequential({"conv": conv(n_C_prev, c_out, f), "relu": ReLU()})
            return Sequential(
                {
                    "reduce": conv(n_C_prev, reduced_to, 1),
                    "reduce_relu": ReLU(),
                    "conv": conv(reduced_to, c_out, f),
                    "relu": ReLU(),
                }
            )

        pool: dict[str, Module] = {"pool": MaxPool2D(3, 1, 1)}
        if reduce:
            pool |= {"proj": conv(n_C_prev, pool_proj, 1), "proj_relu": ReLU()}
        self.branches = [
            branch(n1x1, 1),
            branch(n3x3, 3, n3x3_reduce if reduce else None),
            branch(n5x5, 5, n5x5_reduce if reduce else None),
            Sequential(pool),
        ]
        self.n_C = n1x1 + n3x3 + n5x5 + (pool_proj if reduce else n_C_prev)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The branches by what they are: "1x1", "3x3", "5x5" and "pool"."""
        yield from zip(BRANCH_NAMES, self.branches, strict=True)

    def legacy_names(self) -> dict[str, str]:
        """Parameter names of checkpoints written before the branches had names."""
        return {
            f"branches.{i}.{k}": f"{name}.{key}"
            for i, (name, branch) in enumerate(self.named_children())
            for k, key in enumerate(branch.layers)  # the layers kept their order
        }

    def forward(self, x: Tensor) -> Tensor:
        return F.concat([branch(x) for branch in self.branches], axis=-1)

    def output_shape(self, input_shape: Shape) -> Shape:
        shapes = [branch.output_shape(input_shape) for branch in self.branches]
        if len({s[:2] for s in shapes}) != 1:
            raise self.fail(f"branches disagree on n_H, n_W: {shapes}")
        return (*shapes[0][:2], sum(s[2] for s in shapes))

    def cost(self, input_shape: Shape) -> dict[str, int]:
        """Multiply-accumulates per example of the naive and the reduced forms (inception_cost)."""
        n_H, n_W, n_C_prev = input_shape
        n1x1, r3, n3, r5, n5, proj = self.widths
        pointwise = inception_cost(n_H, n_W, n_C_prev, n1x1, 1)
        naive = pointwise + sum(
            inception_cost(n_H, n_W, n_C_prev, n, f) for n, f in ((n3, 3), (n5, 5))
        )
        reduced = pointwise + inception_cost(n_H, n_W, n_C_prev, proj, 1)
        reduced += inception_cost(n_H, n_W, n_C_prev, n3, 3, bottleneck=r3)
        reduced += inception_cost(n_H, n_W, n_C_prev, n5, 5, bottleneck=r5)
        return {"naive": naive, "reduced": reduced}

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        text = f"{len(self.branches)} parallel branches ({self.details()}):"
        rows.append(self.heading(input_shape, text, depth))
        outputs = [branch.describe_into(rows, input_shape, depth + 1) for branch in self.branches]
        out = self.output_shape(input_shape)
        cost = self.cost(input_shape)
        channels = " + ".join(str(o[2]) for o in outputs)
        formulas = [
            f"concatenate along channels: n_C = {channels} = {out[2]} -> {out}",
            f"cost with the 1x1 reductions: {cost['reduced']:,} multiply-accumulates;"
            f" naive (3x3 and 5x5 on all {input_shape[2]} channels): {cost['naive']:,}"
            f" ({cost['naive'] / cost['reduced']:.1f}x)",
        ]
        backward = [
            f"dA {out} splits along the channels: {channels}, one slice per branch",
            f"dA_prev {tuple(input_shape)} = the sum of the {len(self.branches)} branches'"
            " gradients (every branch reads the same input)",
        ]
        rows.append(
            self.joining_row("concat", "Concatenate", input_shape, out, formulas, depth, backward)
        )
        return out

    def details(self) -> str:
        form = "with 1x1 reductions" if self.reduce else "naive"
        return f"{self.n_C_prev} -> {self.n_C}, {form}"


class SqueezeExcitation(Module):
    """A squeeze-and-excitation block (Hu, Shen and Sun, 2017, arXiv:1709.01507), as
    torchvision's ``SqueezeExcitation``: each channel of A_prev scaled by a gate s_c in (0, 1).

    s = gate(fc2(activation(fc1(mean over n_H, n_W of A_prev)))), A = A_prev * s,

    with fc1 and fc2 1x1 convolutions with biases (n_C -> n_squeeze -> n_C) on the
    (1, 1, n_C) mean; the product broadcasts s (m, 1, 1, n_C) over the map.
    MobileNetV3 uses ``activation="relu"``, ``gate="hard_sigmoid"``;
    EfficientNet ``"silu"`` and ``"sigmoid"``.

    Shapes
    ------
    A_prev: (m, n_H, n_W, n_C);  s: (m, 1, 1, n_C)
    A: (m, n_H, n_W, n_C); parameters (n_C + 1)*n_squeeze + (n_squeeze + 1)*n_C

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> se = nn.SqueezeExcitation(16, 4, gate="hard_sigmoid", rng=np.random.default_rng(0))
    >>> se.output_shape((8, 8, 16))
    (8, 8, 16)
    >>> se.num_parameters()  # (16 + 1)*4 + (4 + 1)*16
    148
    >>> A_prev = Tensor(np.ones((2, 8, 8, 16), np.float32))
    >>> bool((se(A_prev).data <= 1).all())  # each channel scaled by its gate in [0, 1]
    True
    """

    def __init__(
        self,
        n_C: int,
        n_squeeze: int,
        activation: str = "relu",
        gate: str = "sigmoid",
        *,
        rng: np.random.Generator,
        init: str = "he_normal",
    ) -> None:
        super().__init__()
        self.n_C = positive_int(n_C, "SqueezeExcitation n_C")
        self.n_squeeze = positive_int(n_squeeze, "SqueezeExcitation n_squeeze")
        self.squeeze = Sequential(
            {
                "pool": SpatialMean(),
                "fc1": Conv2D(n_C, n_squeeze, 1, rng=rng, init=init),
                "act": activation_named(activation, "SqueezeExcitation activation"),
                "fc2": Conv2D(n_squeeze, n_C, 1, rng=rng, init=init),
                "gate": activation_named(gate, "SqueezeExcitation gate"),
            }
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.squeeze(x)

    def output_shape(self, input_shape: Shape) -> Shape:
        n_C = volume(self, input_shape)[2]
        if n_C != self.n_C:
            raise self.fail(f"expected n_C={self.n_C} but the input has shape {input_shape}")
        self.squeeze.output_shape(input_shape)
        return tuple(input_shape)

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        out = self.output_shape(input_shape)
        rows.append(self.heading(input_shape, f"squeeze and excite ({self.details()}):", depth))
        gate = self.squeeze.describe_into(rows, input_shape, depth + 1)
        formulas = [
            f"A = A_prev * s: {out} times the gate s {gate}, one number per channel spread over"
            f" the {out[0]}*{out[1]} positions -> {out}"
        ]
        backward = [
            f"dA_prev {out} = dA * s (the product) + the squeeze path's gradient (A_prev is read"
            " twice: its gradients add up)",
            f"ds {gate} = sum over the {out[0]}*{out[1]} positions of dA * A_prev, into the gate",
        ]
        rows.append(
            self.joining_row("scale", "Multiply", input_shape, out, formulas, depth, backward)
        )
        return out

    def details(self) -> str:
        return f"{self.n_C} -> {self.n_squeeze} -> {self.n_C}"


class InvertedResidual(Module):
    """MobileNet's inverted residual block (Sandler et al. 2018, arXiv:1801.04381; with the
    squeeze-and-excitation of MobileNetV3, Howard et al. 2019, arXiv:1905.02244).

    expand: 1x1 conv n_C_prev -> ``expanded`` + BN + activation (left out when
    expanded = n_C_prev); depthwise: f x f conv with the stride, one filter per
    channel (groups = expanded) + BN + activation; optionally a
    :class:`SqueezeExcitation` of ``se_squeeze`` channels; project: 1x1 conv
    expanded -> n_C + BN, with no activation (the linear bottleneck). When the
    stride is 1 and n_C_prev = n_C the input is added back: a_out = z + a.
    Convolutions have no bias (BN follows each).

    Shapes
    ------
    A_prev: (m, n_H_prev, n_W_prev, n_C_prev)
    A: (m, n_H, n_W, n_C), n_H = floor((n_H_prev + 2*(f//2) - f)/s) + 1, the same for n_W

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> rng = np.random.default_rng(0)
    >>> block = nn.InvertedResidual(16, 16, expanded=64, rng=rng)  # MobileNetV2, t = 4
    >>> block.residual, block.output_shape((14, 14, 16))
    (True, (14, 14, 16))
    >>> v3 = nn.InvertedResidual(
    ...     16, 24, 2, expanded=72, f=5, activation="hard_swish", se_squeeze=24, rng=rng
    ... )
    >>> v3.residual, v3.output_shape((28, 28, 16))
    (False, (14, 14, 24))
    >>> v3(Tensor(np.zeros((2, 28, 28, 16), np.float32))).shape
    (2, 14, 14, 24)
    """

    def __init__(
        self,
        n_C_prev: int,
        n_C: int,
        stride: int = 1,
        *,
        rng: np.random.Generator,
        expanded: int | None = None,
        f: int = 3,
        activation: str = "relu6",
        se_squeeze: int | None = None,
        se_activation: str = "relu",
        se_gate: str = "hard_sigmoid",
        eps: float = 1e-5,
        init: str = "he_normal_fan_out",
    ) -> None:
        super().__init__()
        self.n_C_prev = positive_int(n_C_prev, "InvertedResidual n_C_prev")
        self.n_C = positive_int(n_C, "InvertedResidual n_C")
        self.stride = positive_int(stride, "InvertedResidual stride")
        wide = 6 * n_C_prev if expanded is None else expanded
        self.expanded = positive_int(wide, "InvertedResidual expanded")
        self.f = positive_int(f, "InvertedResidual f")
        where = "InvertedResidual activation"

        def conv(c_in: int, c_out: int, f: int, s: int = 1, groups: int = 1) -> Conv2D:
            return Conv2D(
                c_in, c_out, f, s, padding=f // 2, groups=groups, bias=False, rng=rng, init=init
            )

        layers: dict[str, Module] = {}
        if self.expanded != n_C_prev:
            layers |= {
                "expand": conv(n_C_prev, self.expanded, 1),
                "bn1": BatchNorm2D(self.expanded, eps=eps),
                "act1": activation_named(activation, where),
            }
        layers |= {
            "depthwise": conv(self.expanded, self.expanded, f, stride, groups=self.expanded),
            "bn2": BatchNorm2D(self.expanded, eps=eps),
            "act2": activation_named(activation, where),
        }
        if se_squeeze is not None:
            layers["se"] = SqueezeExcitation(
                self.expanded, se_squeeze, se_activation, se_gate, rng=rng
            )
        layers |= {"project": conv(self.expanded, n_C, 1), "bn3": BatchNorm2D(n_C, eps=eps)}
        self.main = Sequential(layers)
        self.residual = self.stride == 1 and n_C_prev == n_C

    def forward(self, x: Tensor) -> Tensor:
        z = self.main(x)
        return z + x if self.residual else z

    def output_shape(self, input_shape: Shape) -> Shape:
        return self.main.output_shape(input_shape)

    def describe_into(self, rows: list[LayerInfo], input_shape: Shape, depth: int) -> Shape:
        heading = self.heading(input_shape, f"inverted residual ({self.details()}):", depth)
        if self.residual:
            heading = dataclasses.replace(
                heading,
                backward=(
                    f"da {tuple(input_shape)} = the main path's gradient + dA (the input is"
                    " added back: its gradients add up)",
                ),
            )
        rows.append(heading)
        out = self.main.describe_into(rows, input_shape, depth + 1)
        if self.residual:
            formulas = [
                f"a_out = z + a: {out} + {tuple(input_shape)} -> {out}, no activation after the"
                " sum (a linear bottleneck)"
            ]
            backward = [f"dA {out} goes unchanged to both: dz = dA and da = dA"]
            rows.append(self.joining_row("add", "Add", input_shape, out, formulas, depth, backward))
        return out

    def details(self) -> str:
        se = ", SE" if any(name == "se" for name, _ in self.main.named_children()) else ""
        skip = ", residual" if self.residual else ""
        return (
            f"{self.n_C_prev} -> {self.expanded} -> {self.n_C}, {self.f}x{self.f} depthwise,"
            f" s={self.stride}{se}{skip}"
        )

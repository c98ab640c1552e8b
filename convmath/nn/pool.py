"""The POOL layers: max and average over f x f windows, adaptive, and the global average.

Each slides a window over every channel separately (n_C unchanged) and has
no parameters to learn; each is a thin :class:`Module` around an op of
``convmath.functional``. Shapes are per example: (n_H, n_W, n_C).
"""

from __future__ import annotations

import convmath.functional as F
from convmath import limits
from convmath.errors import InvalidArgumentError
from convmath.nn.module import Module, Shape, volume
from convmath.shapes import adaptive_bins, conv_output_size, pair, size_formula, tap_index
from convmath.tensor import Tensor


class _Pool(Module):
    statistic = ""  # what each window gives: "max" or "average"
    output_symbol = "A"  # no activation follows a POOL layer: its output is A^[l]
    starts_layer = True

    def _window_text(self) -> tuple[str, str]:
        """(plain, TeX): the window's values, in the article's 1-based indices."""
        row = tap_index("x", "i", self.stride[0])
        col = tap_index("y", "j", self.stride[1])
        plain, tex = f"A^[l-1]_({row}, {col}, c)", f"A^{{[l-1]}}_{{{row},\\,{col},\\,c}}"
        if any(self.padding):  # the indices are those of the padded input, as a CONV's are
            p_h, p_w = self.padding
            return f"{plain} (A^[l-1] padded by {p_h}, {p_w})", (
                f"{tex}\\ \\text{{(}}A^{{[l-1]}}\\text{{ padded by }}{p_h},{p_w}\\text{{)}}"
            )
        return plain, tex

    def window_formula(self) -> tuple[str, str]:
        """(plain, TeX) of A^[l]_(x,y,c) from its window."""
        raise NotImplementedError

    def __init__(
        self,
        f: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.f = pair(f, f"{type(self).__name__} f")
        self.stride = self.f if stride is None else pair(stride, f"{type(self).__name__} stride")
        self.padding = pair(padding, f"{type(self).__name__} padding", minimum=0)
        if any(p > f // 2 for p, f in zip(self.padding, self.f, strict=True)):
            raise InvalidArgumentError(
                f"{type(self).__name__}: padding {self.padding} must be at most half the window"
                f" f={self.f}, otherwise some windows would hold only padding"
            )

    def output_shape(self, input_shape: Shape) -> Shape:
        n_H_prev, n_W_prev, n_C = volume(self, input_shape)
        n_H = conv_output_size(
            n_H_prev, self.f[0], self.padding[0], self.stride[0], axis="n_H", op=self.label
        )
        n_W = conv_output_size(
            n_W_prev, self.f[1], self.padding[1], self.stride[1], axis="n_W", op=self.label
        )
        return (n_H, n_W, n_C)

    def formulas(self, input_shape: Shape) -> list[str]:
        out = self.output_shape(input_shape)
        (f_h, f_w), (s_h, s_w), (p_h, p_w) = self.f, self.stride, self.padding
        return [
            self.window_formula()[0],
            f"{self.statistic} of each {f_h}x{f_w} window, per channel:"
            f" n_C = {input_shape[2]} unchanged",
            size_formula("n_H", input_shape[0], f_h, (p_h, p_h), s_h, 1, out[0]),
            size_formula("n_W", input_shape[1], f_w, (p_w, p_w), s_w, 1, out[1]),
            f"output volume A^[l] {out}; no parameters to learn",
        ]

    def equations(self, input_shape: Shape) -> list[str]:
        self.output_shape(input_shape)
        return [self.window_formula()[1]]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        out = self.output_shape(input_shape)
        (f_h, f_w), overlap = self.f, self.stride[0] < self.f[0] or self.stride[1] < self.f[1]
        where = "overlapping windows add up" if overlap else "the windows do not overlap"
        return [
            f"dA^[l] {out} arrives from the layer above",
            f"dA^[l-1] {tuple(input_shape)}: {self.routing(f_h * f_w)}; {where}",
        ]

    def details(self) -> str:
        return f"f={self.f[0]}, s={self.stride[0]}, p={self.padding[0]}, no parameters"


class MaxPool2D(_Pool):
    """POOL layer: the max of each f x f window, per channel (stride s defaults to f).

    Shapes
    ------
    A_prev = A^[l-1]: (m, n_H_prev, n_W_prev, n_C)
    A^[l]: (m, n_H, n_W, n_C), n_H = floor((n_H_prev + 2p - f)/s) + 1 (the same for n_W);
    n_C unchanged, no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> pool = nn.MaxPool2D(2)  # f = 2, s = 2: halves n_H and n_W
    >>> pool.output_shape((28, 28, 6))
    (14, 14, 6)
    >>> A = Tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    >>> print(A.data[0, :, :, 0])
    [[ 0.  1.  2.  3.]
     [ 4.  5.  6.  7.]
     [ 8.  9. 10. 11.]
     [12. 13. 14. 15.]]
    >>> print(pool(A).data[0, :, :, 0])  # the max of each 2x2 window
    [[ 5.  7.]
     [13. 15.]]
    """

    statistic = "max"

    def window_formula(self) -> tuple[str, str]:
        (f_h, f_w), (plain, tex) = self.f, self._window_text()
        return (
            f"A^[l]_(x,y,c) = max over i = 1..{f_h}, j = 1..{f_w} of {plain}",
            f"A^{{[l]}}_{{x,y,c}} = \\max_{{1 \\le i \\le {f_h},\\, 1 \\le j \\le {f_w}}} {tex}",
        )

    def backward_equations(self, input_shape: Shape) -> list[str]:
        _, tex = self._window_text()
        return [
            f"dA^{{[l-1]}}_{{\\ldots}} = \\sum_{{x,y}} dA^{{[l]}}_{{x,y,c}}\\,"
            f" [\\,{tex} \\text{{ is the window's max}}\\,]"
        ]

    def routing(self, taps: int) -> str:
        return (
            "each value of dA^[l] goes to its window's maximum (the argmax mask; the first maximum"
            " when several tie), 0 elsewhere"
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.f, self.stride, self.padding)


class AvgPool2D(_Pool):
    """POOL layer: the average of each f x f window, per channel (stride s defaults to f).

    Shapes
    ------
    A_prev = A^[l-1]: (m, n_H_prev, n_W_prev, n_C)
    A^[l]: (m, n_H, n_W, n_C), n_H = floor((n_H_prev + 2p - f)/s) + 1 (the same for n_W);
    n_C unchanged, no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> pool = nn.AvgPool2D(2)
    >>> A = Tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    >>> print(pool(A).data[0, :, :, 0])  # (0 + 1 + 4 + 5)/4 = 2.5, ...
    [[ 2.5  4.5]
     [10.5 12.5]]
    >>> nn.AvgPool2D(3, stride=2, padding=1).output_shape((7, 7, 3))
    (4, 4, 3)
    """

    statistic = "average"

    def window_formula(self) -> tuple[str, str]:
        (f_h, f_w), (plain, tex) = self.f, self._window_text()
        taps = f_h * f_w
        return (
            f"A^[l]_(x,y,c) = (1/{taps}) sum_(i=1..{f_h}) sum_(j=1..{f_w}) {plain}",
            f"A^{{[l]}}_{{x,y,c}} = \\frac{{1}}{{{taps}}} \\sum_{{i=1}}^{{{f_h}}}"
            f" \\sum_{{j=1}}^{{{f_w}}} {tex}",
        )

    def routing(self, taps: int) -> str:
        if self.count_include_pad or self.padding == (0, 0):
            return (
                f"each value of dA^[l] is shared equally by its window's {taps} positions:"
                f" dA^[l]/{taps}"
            )
        return "each value of dA^[l] is shared equally by its window's real (unpadded) positions"

    def __init__(
        self,
        f: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(f, stride, padding)
        self.count_include_pad = count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(
            x, self.f, self.stride, self.padding, count_include_pad=self.count_include_pad
        )


class GlobalAvgPool2D(Module):
    """(n_H, n_W, n_C) -> (n_C,): the mean of each channel over the whole map.

    Shapes
    ------
    A_prev = A^[l-1]: (m, n_H, n_W, n_C)
    A^[l]: (m, n_C), ready for a :class:`Dense` layer; no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> gap = nn.GlobalAvgPool2D()
    >>> gap.output_shape((8, 8, 64))
    (64,)
    >>> A = Tensor(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    >>> print(gap(A).data)  # channel 0 holds 0, 2, 4, 6 and channel 1 holds 1, 3, 5, 7
    [[3. 4.]]
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.global_avg_pool2d(x)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (volume(self, input_shape)[2],)

    starts_layer = True

    def formulas(self, input_shape: Shape) -> list[str]:
        n_H, n_W, _ = volume(self, input_shape)
        return [
            f"A^[l]_c = (1/({n_H}*{n_W})) sum_(x=1..{n_H}) sum_(y=1..{n_W}) A^[l-1]_(x,y,c):"
            " the mean of each channel; no parameters"
        ]

    def equations(self, input_shape: Shape) -> list[str]:
        n_H, n_W, _ = volume(self, input_shape)
        return [
            f"A^{{[l]}}_c = \\frac{{1}}{{{n_H} \\cdot {n_W}}} \\sum_{{x=1}}^{{{n_H}}}"
            f" \\sum_{{y=1}}^{{{n_W}}} A^{{[l-1]}}_{{x,y,c}}"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        n_H, n_W, _ = volume(self, input_shape)
        return [
            f"dA^[l-1]_(x,y,c) = dA^[l]_c/({n_H}*{n_W}) at every position of its channel:"
            f" {tuple(input_shape)}"
        ]


class AdaptiveAvgPool2D(Module):
    """POOL layer to a fixed output size (o_H, o_W): the mean of each bin, per channel.

    Bin a of n_H is rows floor(a n_H/o_H) to ceil((a + 1) n_H/o_H) - 1 (PyTorch's
    AdaptiveAvgPool2d), the same for the columns: torchvision's classifiers end
    with it ((7, 7) before VGG's and AlexNet's FC layers, (1, 1) elsewhere).

    Shapes
    ------
    A_prev = A^[l-1]: (m, n_H, n_W, n_C)
    A^[l]: (m, o_H, o_W, n_C); no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> pool = nn.AdaptiveAvgPool2D((2, 3))
    >>> pool.output_shape((5, 7, 16))
    (2, 3, 16)
    >>> A = Tensor(np.arange(7.0).reshape(1, 1, 7, 1))
    >>> print(nn.AdaptiveAvgPool2D((1, 3))(A).data.ravel())  # bins [0, 3), [2, 5), [4, 7)
    [1. 3. 5.]
    """

    starts_layer = True  # a POOL layer: its output is A^[l]

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = pair(output_size, "AdaptiveAvgPool2D output_size")
        if max(self.output_size) > limits.MAX_SIDE:  # each bin is a row of an averaging matrix
            raise InvalidArgumentError(
                f"AdaptiveAvgPool2D output_size must be at most {limits.MAX_SIDE} a side,"
                f" got {self.output_size}"
            )

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*self.output_size, volume(self, input_shape)[2])

    def scratch_bytes(
        self, input_shape: Shape, batch: int, itemsize: int, *, training: bool
    ) -> int:
        """The default's temporaries, and the two averaging matrices P_H and P_W."""
        n_H, n_W, _ = volume(self, input_shape)
        matrices = (self.output_size[0] * n_H + self.output_size[1] * n_W) * itemsize
        return super().scratch_bytes(input_shape, batch, itemsize, training=training) + matrices

    def _bins(self, n: int, o: int) -> str:
        bins = adaptive_bins(n, o, first=4)
        shown = ", ".join(f"[{a}, {b})" for a, b in bins[:4]) + (", ..." if o > 4 else "")
        return f"{o} bins of {n}: [floor(i*{n}/{o}), ceil((i + 1)*{n}/{o})) = {shown}"

    def formulas(self, input_shape: Shape) -> list[str]:
        n_H, n_W, n_C = volume(self, input_shape)
        (o_H, o_W), out = self.output_size, self.output_shape(input_shape)
        return [
            "A^[l]_(x,y,c) = the mean of A^[l-1]_(.,.,c) over bin (x, y), per channel:"
            f" n_C = {n_C} unchanged",
            f"n_H: {self._bins(n_H, o_H)}",
            f"n_W: {self._bins(n_W, o_W)}",
            f"output volume A^[l] {out}; no parameters to learn",
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        out = self.output_shape(input_shape)
        return [
            f"dA^[l] {out} arrives from the layer above",
            f"dA^[l-1] {tuple(input_shape)} = P_H^T dA^[l] P_W per channel: each value of"
            " dA^[l] shared equally by its bin's positions (overlapping bins add up)",
        ]

    def details(self) -> str:
        return f"output {self.output_size}, no parameters"


class SpatialMean(Module):
    """(n_H, n_W, n_C) -> (1, 1, n_C): the mean of each channel, kept as a volume.

    The global average pool of a squeeze-and-excitation block, whose result
    scales the map channel by channel (and ONNX's ReduceMean over the spatial
    axes with keepdims, or its GlobalAveragePool before a 1x1 convolution).

    Shapes
    ------
    A_prev = A^[l-1]: (m, n_H, n_W, n_C)
    A^[l]: (m, 1, 1, n_C); no parameters

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> A = Tensor(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    >>> nn.SpatialMean()(A).shape
    (1, 1, 1, 2)
    >>> print(nn.SpatialMean()(A).data.ravel())  # channel 0: 0, 2, 4, 6; channel 1: 1, 3, 5, 7
    [3. 4.]
    """

    starts_layer = True  # a POOL layer: its output is A^[l]

    def forward(self, x: Tensor) -> Tensor:
        return F.global_avg_pool2d(x, keepdims=True)

    def output_shape(self, input_shape: Shape) -> Shape:
        return (1, 1, volume(self, input_shape)[2])

    def formulas(self, input_shape: Shape) -> list[str]:
        n_H, n_W, _ = volume(self, input_shape)
        return [
            f"A^[l]_(1,1,c) = (1/({n_H}*{n_W})) sum_(x=1..{n_H}) sum_(y=1..{n_W}) A^[l-1]_(x,y,c):"
            f" the mean of each channel, kept as a volume {self.output_shape(input_shape)};"
            " no parameters"
        ]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        n_H, n_W, _ = volume(self, input_shape)
        return [
            f"dA^[l-1]_(x,y,c) = dA^[l]_(1,1,c)/({n_H}*{n_W}) at every position of its channel:"
            f" {tuple(input_shape)}"
        ]

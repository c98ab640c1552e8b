"""Pooling: max, average, adaptive average and global average, per channel, no parameters.

A pooling window of f x f slides with stride s over each channel separately,
so n_C is unchanged and
n_H = floor((n_H_prev + 2p - f) / s) + 1  (the same formula as convolution).
The window loops run over the f*f kernel offsets, never over pixels.
"""

from __future__ import annotations

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.ops.shape import reshape
from convmath.ops.windows import (
    add_windows,
    crop_padding,
    offset_slice,
    spatial_padding,
    window_view,
)
from convmath.shapes import Pair, adaptive_bins, conv_output_size, pair
from convmath.tensor import Function, Tensor, equations_from

_NO_DILATION = (1, 1)


def _offsets(f: Pair) -> list[tuple[int, int]]:
    return [(i, j) for i in range(f[0]) for j in range(f[1])]


class MaxPool2D(Function):
    """Z[i, h, w, c] = max over the window (u, v) of A_pad[i, h*s_h + u, w*s_w + v, c].

    Shapes: A (m, n_H_prev, n_W_prev, n_C) -> Z (m, n_H, n_W, n_C).
    Padding uses -inf, so a padded position never wins.

    Forward: the f_h*f_w taps of every window side by side, (m, n_H, n_W, f_h*f_w, n_C);
    the winner of a window is its first maximum in row-major order (as PyTorch
    picks), and Z is the value there. A NaN wins its window (so it propagates).

    Backward: the mask of the winners routes each dZ to its window's winning
    position, M[i, h, w, (u, v), c] = [(u, v) wins] dZ[i, h, w, c], and
    col2im adds the routed values back into dA_pad (overlapping windows add
    up); the padding is cropped.
    """

    def forward(self, a: np.ndarray, *, f: Pair, s: Pair, padding: Pair, n_out: Pair) -> np.ndarray:
        sides = ((padding[0], padding[0]), (padding[1], padding[1]))
        a_pad = spatial_padding(a, sides, value=-np.inf)
        windows = window_view(a_pad, f, s, _NO_DILATION, n_out)
        taps = windows.reshape(len(a), *n_out, f[0] * f[1], a.shape[3])
        winner = taps.argmax(axis=3)[:, :, :, None]
        self.winner, self.geometry = winner, (a.shape, a_pad.shape, f, s, sides, n_out)
        return np.take_along_axis(taps, winner, axis=3)[:, :, :, 0]

    def backward(self, dz: np.ndarray) -> np.ndarray:
        a_shape, pad_shape, f, s, sides, n_out = self.geometry
        taps = np.arange(f[0] * f[1])[:, None]
        routed = (self.winner == taps) * dz[:, :, :, None]  # (m, n_H, n_W, f_h*f_w, n_C)
        da_pad = np.zeros(pad_shape, dtype=dz.dtype)
        add_windows(da_pad, routed.reshape(*dz.shape[:3], *f, dz.shape[3]), s, _NO_DILATION, n_out)
        return crop_padding(da_pad, sides, a_shape[1:3])


class AvgPool2D(Function):
    """Z[i, h, w, c] = (1/N) * sum over the window (u, v) of A_pad[i, h*s_h + u, w*s_w + v, c].

    Shapes: A (m, n_H_prev, n_W_prev, n_C) -> Z (m, n_H, n_W, n_C).
    N = f_h*f_w when padded zeros count (``count_include_pad=True``, PyTorch's
    default), else the number of real (unpadded) positions in each window.

    Backward: every position of a window receives dZ / N; overlaps add up.
    """

    def forward(
        self,
        a: np.ndarray,
        *,
        f: Pair,
        s: Pair,
        padding: Pair,
        n_out: Pair,
        count_include_pad: bool,
    ) -> np.ndarray:
        sides = ((padding[0], padding[0]), (padding[1], padding[1]))
        a_pad = spatial_padding(a, sides)
        offsets = _offsets(f)
        total = a_pad[offset_slice(0, 0, s, _NO_DILATION, n_out)].copy()
        for i, j in offsets[1:]:
            total += a_pad[offset_slice(i, j, s, _NO_DILATION, n_out)]
        if count_include_pad or padding == (0, 0):
            divisor = np.asarray(len(offsets), dtype=a.dtype)
        else:
            real = spatial_padding(np.ones((1, *a.shape[1:3], 1), dtype=a.dtype), sides)
            divisor = sum(real[offset_slice(i, j, s, _NO_DILATION, n_out)] for i, j in offsets)
        self.divisor = divisor
        self.geometry = (a.shape, a_pad.shape, f, s, sides, n_out)
        return total / divisor

    def backward(self, grad: np.ndarray) -> np.ndarray:
        a_shape, pad_shape, f, s, sides, n_out = self.geometry
        share = grad / self.divisor
        da_pad = np.zeros(pad_shape, dtype=grad.dtype)
        for i, j in _offsets(f):
            da_pad[offset_slice(i, j, s, _NO_DILATION, n_out)] += share
        return crop_padding(da_pad, sides, a_shape[1:3])


class GlobalAvgPool2D(Function):
    """Z[i, c] = (1 / (n_H n_W)) * sum over h, w of A[i, h, w, c].

    Shapes: A (m, n_H, n_W, n_C) -> Z (m, n_C), ready for a dense layer.
    Backward: dA[i, h, w, c] = dZ[i, c] / (n_H n_W).
    """

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.shape = a.shape
        return a.mean(axis=(1, 2))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        count = self.shape[1] * self.shape[2]
        return np.broadcast_to((grad / count)[:, None, None, :], self.shape)


def averaging_matrix(n: int, o: int, dtype: np.dtype) -> np.ndarray:
    """P (o, n): P[i, h] = 1/(end_i - start_i) for h in bin i of :func:`adaptive_bins`, else 0."""
    p = np.zeros((o, n), dtype=dtype)
    for i, (start, end) in enumerate(adaptive_bins(n, o)):
        p[i, start:end] = 1 / (end - start)
    return p


class AdaptiveAvgPool2D(Function):
    """Z[i, a, b, c] = mean of A[i, h, w, c] over h in bin a of n_H and w in bin b of n_W.

    Bin a of n positions cut into o is [floor(a n/o), ceil((a + 1) n/o)) (PyTorch's
    rule; :func:`convmath.shapes.adaptive_bins`). A window is a product of a row
    bin and a column bin, so its mean is two averaging matrices P_H (o_H, n_H)
    and P_W (o_W, n_W), applied along the rows and along the columns:

    Z[i, :, :, c] = P_H A[i, :, :, c] P_W^T,   dA[i, :, :, c] = P_H^T dZ[i, :, :, c] P_W.

    Shapes: A (m, n_H, n_W, n_C) -> Z (m, o_H, o_W, n_C). With (1, 1) it is the
    global average; when o divides n, the average pooling of f = s = n/o.
    """

    def forward(self, a: np.ndarray, *, output_size: Pair) -> np.ndarray:
        m, n_H, n_W, n_C = a.shape
        self.p_h = averaging_matrix(n_H, output_size[0], a.dtype)
        self.p_w = averaging_matrix(n_W, output_size[1], a.dtype)
        rows = self.p_h @ a.reshape(m, n_H, n_W * n_C)  # (m, o_H, n_W n_C): P_H A
        return self.p_w @ rows.reshape(m, output_size[0], n_W, n_C)  # (m, o_H, o_W, n_C)

    def backward(self, dz: np.ndarray) -> np.ndarray:
        m, o_H, _, n_C = dz.shape
        n_H, n_W = self.p_h.shape[1], self.p_w.shape[1]
        columns = self.p_w.T @ dz  # (m, o_H, n_W, n_C): dZ P_W
        return (self.p_h.T @ columns.reshape(m, o_H, n_W * n_C)).reshape(m, n_H, n_W, n_C)


def _pool_geometry(
    a: Tensor, f: int | Pair, stride: int | Pair | None, padding: int | Pair, name: str
) -> tuple[Pair, Pair, Pair, Pair]:
    if a.ndim != 4:
        raise ShapeError(
            f"{name} expects A of shape (m, n_H_prev, n_W_prev, n_C), got {a.shape} ({a.ndim} axes)"
        )
    f_pair = pair(f, f"{name} f")
    s_pair = f_pair if stride is None else pair(stride, f"{name} stride")
    p_pair = pair(padding, f"{name} padding", minimum=0)
    if p_pair[0] > f_pair[0] // 2 or p_pair[1] > f_pair[1] // 2:
        raise InvalidArgumentError(
            f"{name}: padding {p_pair} must be at most half the window f={f_pair}, otherwise"
            f" some windows would hold only padding"
        )
    n_out = (
        conv_output_size(a.shape[1], f_pair[0], p_pair[0], s_pair[0], axis="n_H", op=name),
        conv_output_size(a.shape[2], f_pair[1], p_pair[1], s_pair[1], axis="n_W", op=name),
    )
    return f_pair, s_pair, p_pair, n_out


@equations_from(MaxPool2D)
def max_pool2d(
    a: Tensor, f: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> Tensor:
    """Max pooling with an f x f window, stride s (default f) and -inf padding p <= f/2.

    Example: f = 2, s = 2 halves n_H and n_W.

    Shapes
    ------
    A: (m, n_H_prev, n_W_prev, n_C)
    Z: (m, n_H, n_W, n_C), n_H = floor((n_H_prev + 2p - f)/s) + 1, the same for n_W

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> image = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]])
    >>> A = Tensor(image.reshape(1, 4, 4, 1))  # (m, n_H_prev, n_W_prev, n_C)
    >>> print(F.max_pool2d(A, f=2, stride=2).data[0, :, :, 0].astype(int))
    [[9 2]
     [6 3]]
    >>> F.max_pool2d(Tensor(np.zeros((8, 28, 28, 6))), 2).shape
    (8, 14, 14, 6)
    """
    f_pair, s_pair, p_pair, n_out = _pool_geometry(a, f, stride, padding, "max_pool2d")
    return MaxPool2D.apply(a, f=f_pair, s=s_pair, padding=p_pair, n_out=n_out)


@equations_from(AvgPool2D)
def avg_pool2d(
    a: Tensor,
    f: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    *,
    count_include_pad: bool = True,
) -> Tensor:
    """Average pooling with an f x f window, stride s (default f) and zero padding p <= f/2.

    Padded zeros count in the average by default (``count_include_pad=True``,
    as in PyTorch).

    Shapes
    ------
    A: (m, n_H_prev, n_W_prev, n_C)
    Z: (m, n_H, n_W, n_C), n_H = floor((n_H_prev + 2p - f)/s) + 1, the same for n_W

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> image = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]])
    >>> A = Tensor(image.reshape(1, 4, 4, 1))  # (m, n_H_prev, n_W_prev, n_C)
    >>> print(F.avg_pool2d(A, f=2, stride=2).data[0, :, :, 0])  # (1 + 3 + 2 + 9)/4 = 3.75
    [[3.75 1.25]
     [3.75 2.  ]]
    """
    f_pair, s_pair, p_pair, n_out = _pool_geometry(a, f, stride, padding, "avg_pool2d")
    return AvgPool2D.apply(
        a,
        f=f_pair,
        s=s_pair,
        padding=p_pair,
        n_out=n_out,
        count_include_pad=bool(count_include_pad),
    )


@equations_from(GlobalAvgPool2D)
def global_avg_pool2d(a: Tensor, keepdims: bool = False) -> Tensor:
    """Average each channel over the whole n_H x n_W map: (m, n_H, n_W, n_C) -> (m, n_C).

    With ``keepdims`` the result stays a volume (m, 1, 1, n_C), ready to scale
    the map channel by channel (a squeeze-and-excitation gate) or for a 1x1
    convolution; ONNX's GlobalAveragePool and ReduceMean over (H, W) give it.

    Shapes
    ------
    A: (m, n_H, n_W, n_C);  Z: (m, n_C), or (m, 1, 1, n_C) with ``keepdims``

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(8).reshape(1, 2, 2, 2))  # channel 0: 0, 2, 4, 6; channel 1: 1, 3, 5, 7
    >>> print(F.global_avg_pool2d(A).data)
    [[3. 4.]]
    >>> F.global_avg_pool2d(A, keepdims=True).shape
    (1, 1, 1, 2)
    """
    if a.ndim != 4:
        raise ShapeError(f"global_avg_pool2d expects A of shape (m, n_H, n_W, n_C), got {a.shape}")
    z = GlobalAvgPool2D.apply(a)
    return reshape(z, (a.shape[0], 1, 1, a.shape[3])) if keepdims else z


@equations_from(AdaptiveAvgPool2D)
def adaptive_avg_pool2d(a: Tensor, output_size: int | Pair) -> Tensor:
    """Average pooling to a fixed output size (o_H, o_W), whatever n_H and n_W are.

    Shapes
    ------
    A: (m, n_H, n_W, n_C);  Z: (m, o_H, o_W, n_C)

    Example
    -------
    >>> import numpy as np
    >>> import convmath.functional as F
    >>> from convmath import Tensor
    >>> A = Tensor(np.arange(7.0).reshape(1, 1, 7, 1))  # 0 1 2 3 4 5 6 along n_W
    >>> print(F.adaptive_avg_pool2d(A, (1, 3)).data[0, 0, :, 0])  # bins [0,3) [2,5) [4,7)
    [1. 3. 5.]
    """
    if a.ndim != 4:
        raise ShapeError(
            f"adaptive_avg_pool2d expects A of shape (m, n_H, n_W, n_C), got {a.shape}"
        )
    return AdaptiveAvgPool2D.apply(a, output_size=pair(output_size, "adaptive_avg_pool2d size"))

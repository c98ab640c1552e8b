"""The convolution product over volumes, with padding, stride, dilation and groups."""

from __future__ import annotations

import numpy as np

from convmath.errors import InvalidArgumentError, ShapeError
from convmath.ops.im2col import Im2col
from convmath.ops.reduce import column_sums, wide_rows
from convmath.parallel import OrderedSum, chunk_bounds, run_chunks
from convmath.shapes import PaddingSpec, Pair, conv_output_size, pair, resolve_padding
from convmath.tensor import Function, Tensor, equations_from, same_dtype


class Conv2D(Function):
    r"""Z = conv(A_prev, W) + b, channels-last (a CNN's "convolution" is a cross-correlation).

    Notation
    --------
    A_prev (m, n_H_prev, n_W_prev, n_C_prev)   input volume
    W      (f_h, f_w, n_C_prev / g, n_C)        filters, g = groups
    b      (n_C,)                               biases
    Z      (m, n_H, n_W, n_C)                   output volume
    n_H = floor((n_H_prev + p_top + p_bottom - d_h*(f_h-1) - 1) / s_h) + 1, same for n_W.

    Forward
    -------
    With A_pad the zero-padded input and channel c of group k = c // (n_C/g),

        Z[i, h, w, c] = b[c] + sum_{u, v, c'} A_pad[i, h*s_h + u*d_h, w*s_w + v*d_w,
                                                  k*n_C_prev/g + c'] * W[u, v, c', c]

    computed as im2col (:mod:`convmath.ops.im2col`): the windows of A_pad
    are copied into a matrix ``cols`` of shape (g, rows, f_h*f_w*n_C_prev/g)
    and multiplied by W reshaped to (g, f_h*f_w*n_C_prev/g, n_C/g), one GEMM
    per group; channels-last, the product lands directly in Z's layout. The
    batch is cut into chunks whose matrix fits in cache (:mod:`convmath.parallel`),
    and each chunk's matrix is used and dropped at once.

    Backward
    --------
    With dZ reshaped to (g, rows, n_C/g), chunk by chunk:

        db      = sum over i, h, w of dZ
        dW      = sum over chunks of cols^T dZ       (cols rebuilt from A_prev)
        dA_prev = at stride 1, the convolution of dZ with W turned 180 degrees
                  (see :func:`_input_gradient_convolution`); otherwise
                  col2im(dZ W^T): each window's share is added back at the
                  positions it was read from, then the padding is cropped.

    Only A_prev is kept for backward, not the f_h*f_w times larger cols,
    except for small layers (all of cols within KEEP_COLS_BYTES, as LeNet's
    at batch 64), where keeping it costs less than building it again.

    With ``activation="relu"`` (``relu=True`` here) the op is A = max(0, Z),
    the CONV layer with its activation: the ReLU is applied to each chunk of
    Z while it is in cache, and backward starts from dZ = dA * [A > 0],
    chunk by chunk, so that neither pass walks the whole volume once more.
    """

    def forward(
        self,
        a_prev: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None = None,
        *,
        stride: Pair,
        padding: tuple[Pair, Pair],
        dilation: Pair,
        groups: int,
        n_out: Pair,
        relu: bool = False,
    ) -> np.ndarray:
        im2col = Im2col(
            a_prev.shape,
            w.shape,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            n_out=n_out,
            itemsize=a_prev.itemsize,
        )
        w_groups = _grouped_filters(w, groups)
        z = np.empty((a_prev.shape[0], *n_out, w.shape[3]), dtype=a_prev.dtype)
        chunks = chunk_bounds(len(a_prev), im2col.bytes_per_example)
        keep = self.needs_grad[1] and len(a_prev) * im2col.bytes_per_example <= KEEP_COLS_BYTES
        kept: dict[int, np.ndarray] = {}

        def forward_chunk(chunk: range, _worker: int) -> None:
            cols = im2col.matrix(a_prev[chunk.start : chunk.stop])
            if keep:
                kept[chunk.start] = cols
            z_chunk = z[chunk.start : chunk.stop]
            np.matmul(cols, w_groups, out=_grouped_rows(z_chunk, groups))
            if b is not None:  # on wide rows: few channels make short rows (see wide_rows)
                rows, k = wide_rows(z_chunk.reshape(-1, z_chunk.shape[3]))
                rows += np.tile(b, k)
            if relu:  # while the chunk is in cache
                np.maximum(z_chunk, 0, out=z_chunk)

        run_chunks(chunks, forward_chunk)
        self.im2col, self.w_groups, self.w = im2col, w_groups, w
        self.a_prev = a_prev if self.needs_grad[1] and not keep else None
        self.kept_cols = (chunks, kept) if keep else None
        self.activated = z if relu else None
        return z

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        im2col, w_groups = self.im2col, self.w_groups
        groups = im2col.groups
        da_prev = dual = None
        work_per_example = im2col.bytes_per_example
        if self.needs_grad[0]:
            da_prev = np.empty(im2col.a_shape, dtype=grad.dtype)
            dual = _input_gradient_convolution(im2col, self.w, grad.shape, grad.itemsize)
            if dual is not None and dual[0].bytes_per_example > DUAL_SIZE_LIMIT * work_per_example:
                dual = None  # e.g. LeNet's 5x5 "valid" conv: col2im offset by offset is cheaper
            if dual is not None:
                work_per_example = max(work_per_example, dual[0].bytes_per_example)
        chunks = chunk_bounds(len(grad), work_per_example)
        kept: dict[int, np.ndarray] = {}
        if self.kept_cols is not None:  # the forward chunks, whose matrices are at hand
            chunks, kept = self.kept_cols
        needs_db = len(self.needs_grad) == 3 and self.needs_grad[2]
        dw_total, db_total = OrderedSum(chunks), OrderedSum(chunks)  # in batch order

        def backward_chunk(chunk: range, _worker: int) -> None:
            part = slice(chunk.start, chunk.stop)
            dz_part = grad[part]
            if self.activated is not None:  # through the ReLU: dZ = dA * [A > 0]
                dz_part = dz_part * (self.activated[part] > 0)
            dz = _grouped_rows(dz_part, groups)
            if needs_db:
                db_total.add(chunk, column_sums(dz_part.reshape(-1, dz_part.shape[3])))
            if self.needs_grad[1]:
                cols = kept[chunk.start] if kept else im2col.matrix(self.a_prev[part])
                dw_total.add(chunk, np.matmul(cols.transpose(0, 2, 1), dz))
            if dual is not None:
                dual_im2col, dual_w_groups = dual
                np.matmul(
                    dual_im2col.matrix(dz_part),
                    dual_w_groups,
                    out=_grouped_rows(da_prev[part], groups),
                )
            elif da_prev is not None:
                da_prev[part] = im2col.gradient(dz, w_groups)

        run_chunks(chunks, backward_chunk)
        dw = db = None
        if self.needs_grad[1]:
            dw = dw_total.result().transpose(1, 0, 2).reshape(im2col.w_shape)
        if needs_db:
            db = db_total.result()
        return (da_prev, dw) if len(self.needs_grad) == 2 else (da_prev, dw, db)


KEEP_COLS_BYTES = 8 << 20  # smaller im2col matrices are kept from forward: cheaper than a rebuild
DUAL_SIZE_LIMIT = 3  # measured: the dual convolution pays while its im2col is at most ~3x larger


def _input_gradient_convolution(
    im2col: Im2col, w: np.ndarray, dz_shape: tuple[int, ...], itemsize: int
) -> tuple[Im2col, np.ndarray] | None:
    """At stride 1, dA_prev = conv(dZ, W_dual) with "full" padding; None where that does not hold.

    From Z[h] = sum_u A_pad[h + u*d] W[u] (one axis shown), A_prev's row y
    receives dZ[y + p_top - u*d] W[u]^T from each offset u. Reading u' = f-1-u,
    that is the convolution of dZ, padded by d*(f-1) - p on each side, with
    the filters turned 180 degrees and their channel axes swapped:

        W_dual[u', v', j, k*n_C_prev/g + c'] = W[f_h-1-u', f_w-1-v', c', k*n_C/g + j]

    so dA_prev is one more im2col GEMM, with no col2im. (Padding wider than
    d*(f-1) would need a negative one: None.)
    """
    if im2col.stride != (1, 1):
        return None
    f_h, f_w, n_C_group, n_C = w.shape
    (d_h, d_w), g = im2col.dilation, im2col.groups
    (top, bottom), (left, right) = im2col.padding
    sides = (
        (d_h * (f_h - 1) - top, d_h * (f_h - 1) - bottom),
        (d_w * (f_w - 1) - left, d_w * (f_w - 1) - right),
    )
    if min(sides[0] + sides[1]) < 0:
        return None
    w_dual = w[::-1, ::-1].reshape(f_h, f_w, n_C_group, g, n_C // g).transpose(0, 1, 4, 3, 2)
    w_dual = w_dual.reshape(f_h, f_w, n_C // g, g * n_C_group)
    dual = Im2col(
        dz_shape,
        w_dual.shape,
        stride=(1, 1),
        padding=sides,
        dilation=im2col.dilation,
        groups=g,
        n_out=im2col.a_shape[1:3],
        itemsize=itemsize,
    )
    return dual, _grouped_filters(w_dual, g)


def _grouped_filters(w: np.ndarray, groups: int) -> np.ndarray:
    """W (f_h, f_w, n_C_prev/g, n_C) as g matrices (g, f_h*f_w*n_C_prev/g, n_C/g), a view."""
    f_h, f_w, n_C_group, n_C = w.shape
    return w.reshape(f_h * f_w * n_C_group, groups, n_C // groups).transpose(1, 0, 2)


def _grouped_rows(z: np.ndarray, groups: int) -> np.ndarray:
    """Z (c, n_H, n_W, n_C) as (g, c*n_H*n_W, n_C/g): group k's columns, a view when Z is."""
    n_C = z.shape[3]
    return z.reshape(-1, groups, n_C // groups).transpose(1, 0, 2)


@equations_from(Conv2D)
def conv2d(
    a_prev: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    activation: str | None = None,
) -> Tensor:
    """Convolve a batch of volumes with a bank of filters.

    Parameters
    ----------
    a_prev: (m, n_H_prev, n_W_prev, n_C_prev)
    w: (f_h, f_w, n_C_prev / groups, n_C)
    b: (n_C,) or None
    stride: s, an int or a pair (s_h, s_w).
    padding: p zeros on each side: an int, a pair (p_h, p_w), a pair of
        pairs ((top, bottom), (left, right)), ``"valid"`` (p = 0) or ``"same"``.
        "same" gives n_H = ceil(n_H_prev / s), so at s = 1 the size is kept;
        when the total padding is odd (at s = 1 that is d*(f-1): an even f
        with d = 1) the extra row/column goes at the bottom/right, as PyTorch
        and TensorFlow do.
    dilation: d, gaps between filter taps (d = 1: a plain filter).
    groups: g; the n_C_prev input channels and n_C filters are split into g
        groups convolved separately; g = n_C_prev is a depthwise convolution.
    activation: None, or ``"relu"`` for A = max(0, Z) computed in the same op
        (the same values and gradients as ``relu(conv2d(...))``, one pass fewer).

    Returns Z of shape (m, n_H, n_W, n_C).

    Example
    -------
    >>> import numpy as np
    >>> A = Tensor(np.ones((1, 6, 6, 1)))
    >>> W = Tensor(np.ones((3, 3, 1, 2)))
    >>> conv2d(A, W, padding=1).shape
    (1, 6, 6, 2)
    """
    inputs = [a_prev, w] if b is None else [a_prev, w, b]
    same_dtype(inputs, "conv2d")
    if a_prev.ndim != 4:
        raise ShapeError(
            f"conv2d expects A_prev of shape (m, n_H_prev, n_W_prev, n_C_prev), got {a_prev.shape}"
            f" ({a_prev.ndim} axes); add a batch axis with A[None] or a channel axis with"
            f" A[..., None]"
        )
    if w.ndim != 4:
        raise ShapeError(
            f"conv2d expects W of shape (f_h, f_w, n_C_prev/groups, n_C), got {w.shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
        raise InvalidArgumentError(f"conv2d: groups must be a positive int, got {groups!r}")
    _, n_H_prev, n_W_prev, n_C_prev = a_prev.shape
    f_h, f_w, n_C_group, n_C = w.shape
    if n_C_prev % groups or n_C % groups:
        raise ShapeError(
            f"conv2d with groups={groups} needs n_C_prev and n_C divisible by {groups};"
            f" got n_C_prev={n_C_prev}, n_C={n_C}"
        )
    if n_C_group * groups != n_C_prev:
        raise ShapeError(
            f"conv2d: W of shape {w.shape} expects n_C_prev = {n_C_group * groups}"
            f" ({n_C_group} per group x {groups} groups) but A_prev of shape {a_prev.shape} has"
            f" n_C_prev = {n_C_prev}"
        )
    if b is not None and b.shape != (n_C,):
        raise ShapeError(
            f"conv2d expects b of shape ({n_C},) for W of shape {w.shape}, got {b.shape}"
        )
    if activation not in (None, "relu"):
        raise InvalidArgumentError(f"conv2d: activation must be None or 'relu', got {activation!r}")
    s = pair(stride, "conv2d stride")
    d = pair(dilation, "conv2d dilation")
    p = resolve_padding(padding, (n_H_prev, n_W_prev), (f_h, f_w), s, d)
    n_out = (
        conv_output_size(n_H_prev, f_h, p[0], s[0], d[0], axis="n_H", op="conv2d"),
        conv_output_size(n_W_prev, f_w, p[1], s[1], d[1], axis="n_W", op="conv2d"),
    )
    return Conv2D.apply(
        *inputs,
        stride=s,
        padding=p,
        dilation=d,
        groups=int(groups),
        n_out=n_out,
        relu=activation == "relu",
    )

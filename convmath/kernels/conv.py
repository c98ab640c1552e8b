"""The convolution kernel: chunked im2col GEMMs, the dual convolution, and CONV+ReLU fused."""

from __future__ import annotations

import numpy as np

import convmath.functional as F
from convmath.dispatch import kernel_for, kernels_enabled
from convmath.kernels import autotune, rules
from convmath.kernels.depthwise import DepthwiseTaps, is_depthwise
from convmath.kernels.im2col import Im2col
from convmath.kernels.parallel import OrderedSum, chunk_bounds, get_threads, run_chunks
from convmath.kernels.products import batched_product
from convmath.kernels.rows import column_sums, wide_rows
from convmath.kernels.winograd import Winograd, winograd_applies, winograd_computes
from convmath.ops import conv as ops
from convmath.ops.conv import conv_geometry, grouped_filters, grouped_rows
from convmath.shapes import PaddingSpec, Pair
from convmath.tensor import Tensor


class Conv2DKernel(ops.Conv2D):
    """Computes :class:`convmath.ops.conv.Conv2D`, chunk by chunk in cache, on the workers.

    Forward: the batch is cut into chunks whose im2col matrix fits in cache
    (:mod:`convmath.kernels.parallel`); each chunk's matrix is built,
    multiplied by W and dropped at once. Only A_prev is kept for backward,
    not the f_h*f_w times larger matrix, except for small layers (all of it
    within rules.KEEP_COLS_BYTES, as LeNet's at batch 64), where keeping it costs
    less than building it again.

    Backward, chunk by chunk: db and dW are summed over chunks in batch order
    (the same bits on any number of workers); dA_prev is, at stride 1, the
    dual convolution of dZ with W turned 180 degrees
    (:func:`_input_gradient_convolution`), otherwise col2im(dZ W^T).

    Wide 3x3 stride-1 layers (:func:`convmath.kernels.winograd.winograd_applies`)
    run the forward pass and the dual convolution on Winograd's F(2x2, 3x3)
    instead; their dW stays im2col, from the kept A_prev.

    Depthwise layers (g = n_C_prev: one input channel per group, k = n_C / g
    filters each) run tap by tap ("taps", :mod:`convmath.kernels.depthwise`):
    forward, dW and dA_prev, with no im2col matrix.

    Those are the rules; under :mod:`convmath.kernels.autotune`'s "measure"
    policy the forward algorithm ("im2col", "winograd" or "taps") and the input
    gradient's ("col2im", "dual", "dual-winograd" or "taps") are timed per layer
    instead, on first use, among those that compute it.
    """

    relu = False  # Conv2DReLU: A = max(0, Z) applied to each chunk while it is in cache
    compiled = False  # CompiledConv2D: Winograd's transforms compiled, and the rule's threshold
    winograd_class: type[Winograd] = Winograd
    taps_class: type[DepthwiseTaps] = DepthwiseTaps

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
    ) -> np.ndarray:
        geometry = {
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "n_out": n_out,
        }
        candidates = ["im2col"]
        if winograd_computes(w.shape, stride, dilation, groups, padding):
            candidates.append("winograd")
        rule = (
            "winograd"
            if winograd_applies(w.shape, **geometry, compiled=self.compiled)
            else "im2col"
        )
        if is_depthwise(w.shape, groups):
            candidates.append("taps")
            rule = "taps" if rules.DEPTHWISE_TAPS else rule
        key = (a_prev.shape, w.shape, a_prev.dtype.str, b is None, self.relu, self.needs_grad)
        key = (*key, self.compiled)
        algorithm = autotune.choose(
            "conv2d forward",
            (*key, *geometry.values(), get_threads()),
            lambda: _layer(a_prev.shape, w.shape, stride, padding, self.relu, any(self.needs_grad)),
            candidates,
            rule,
            lambda name: self._forward(a_prev, w, b, name, **geometry),
        )
        return self._forward(a_prev, w, b, algorithm, **geometry)

    def _forward(
        self,
        a_prev: np.ndarray,
        w: np.ndarray,
        b: np.ndarray | None,
        algorithm: str,
        *,
        stride: Pair,
        padding: tuple[Pair, Pair],
        dilation: Pair,
        groups: int,
        n_out: Pair,
    ) -> np.ndarray:
        relu = self.relu
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
        w_groups = grouped_filters(w, groups)
        z = np.empty((a_prev.shape[0], *n_out, w.shape[3]), dtype=a_prev.dtype)
        winograd = taps = None
        work = im2col.bytes_per_example
        if algorithm == "winograd":
            winograd = self.winograd_class(a_prev.shape, w, padding, n_out)
            work = winograd.bytes_per_example
        if is_depthwise(w.shape, groups):  # backward may take taps, whatever forward took
            taps = self.taps_class(
                a_prev.shape, w, stride=stride, padding=padding, dilation=dilation, n_out=n_out
            )
            if algorithm == "taps":
                work = taps.bytes_per_example
        chunks = chunk_bounds(len(a_prev), work)
        keep = (
            self.needs_grad[1]
            and algorithm == "im2col"
            and rules.keeps_columns(len(a_prev) * im2col.bytes_per_example)
        )
        kept: dict[int, np.ndarray] = {}

        def forward_chunk(chunk: range, _worker: int) -> None:
            a_chunk, z_chunk = a_prev[chunk.start : chunk.stop], z[chunk.start : chunk.stop]
            if winograd is not None:
                winograd.convolve(a_chunk, z_chunk)
            elif algorithm == "taps":
                taps.forward(a_chunk, z_chunk)
            else:
                cols = im2col.matrix(a_chunk)
                if keep:
                    kept[chunk.start] = cols
                np.matmul(cols, w_groups, out=grouped_rows(z_chunk, groups))
            if b is not None:  # on wide rows: few channels make short rows (see wide_rows)
                rows, k = wide_rows(z_chunk.reshape(-1, z_chunk.shape[3]))
                rows += np.tile(b, k)
            if relu:  # while the chunk is in cache
                np.maximum(z_chunk, 0, out=z_chunk)

        run_chunks(chunks, forward_chunk)
        self.im2col, self.w_groups, self.w, self.winograd = im2col, w_groups, w, winograd
        self.taps, self.forward_algorithm = taps, algorithm
        self.a_prev = a_prev if self.needs_grad[1] and not keep else None
        self.kept_cols = (chunks, kept) if keep else None
        self.activated = z if relu else None
        return z

    def backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        im2col = self.im2col
        dual = None
        candidates, rule = ["col2im"], "col2im"
        if self.needs_grad[0]:
            dual = _input_gradient_convolution(im2col, self.w, grad.shape, grad.itemsize)
        if dual is not None:
            candidates.append("dual")
            if rules.dual_pays(dual[0].bytes_per_example, im2col.bytes_per_example):
                rule = "dual"
            dual_geometry = ((1, 1), im2col.dilation, im2col.groups, dual[0].padding)
            if winograd_computes(dual[0].w_shape, *dual_geometry):
                candidates.append("dual-winograd")
                compiled = self.compiled
                forward_rule = winograd_applies(
                    self.w.shape, *dual_geometry[:3], im2col.padding, im2col.n_out, compiled
                )  # (the forward's stride is 1 too: the dual exists)
                dual_rule = winograd_applies(
                    dual[0].w_shape, *dual_geometry, im2col.a_shape[1:3], compiled
                )
                if rule == "dual" and forward_rule and dual_rule:
                    rule = "dual-winograd"  # the dual is 3x3 at stride 1 too
        if self.taps is not None and self.kept_cols is None:  # taps' dW reads A_prev
            candidates.append("taps")
            rule = "taps" if self.forward_algorithm == "taps" else rule
        key = (grad.shape, self.w.shape, grad.dtype.str, self.relu, self.needs_grad, self.compiled)
        geometry = (im2col.stride, im2col.padding, im2col.dilation, im2col.groups)
        algorithm = autotune.choose(
            "conv2d input gradient",
            (*key, *geometry, self.kept_cols is not None, get_threads()),
            lambda: _layer(
                im2col.a_shape, self.w.shape, im2col.stride, im2col.padding, self.relu, True
            ),
            candidates,
            rule,
            lambda name: self._backward(grad, name, dual),
        )
        return self._backward(grad, algorithm, dual)

    def _backward(
        self, grad: np.ndarray, algorithm: str, dual: tuple[Im2col, np.ndarray] | None
    ) -> tuple[np.ndarray | None, ...]:
        im2col, w_groups = self.im2col, self.w_groups
        groups = im2col.groups
        da_prev = dual_winograd = None
        work_per_example = im2col.bytes_per_example
        if self.needs_grad[0]:
            da_prev = np.empty(im2col.a_shape, dtype=grad.dtype)
        if algorithm in ("col2im", "taps"):
            dual = None
        elif dual is not None:
            work_per_example = max(work_per_example, dual[0].bytes_per_example)
        taps = self.taps if algorithm == "taps" else None
        if taps is not None:
            work_per_example = taps.bytes_per_example
        if algorithm == "dual-winograd":  # offered only where the dual exists
            w_dual, sides = _dual_filters(self.w, groups), dual[0].padding
            dual_winograd = self.winograd_class(grad.shape, w_dual, sides, im2col.a_shape[1:3])
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
            dz = grouped_rows(dz_part, groups)
            if needs_db:
                db_total.add(chunk, column_sums(dz_part.reshape(-1, dz_part.shape[3])))
            if taps is not None:
                if self.needs_grad[1]:
                    dw_total.add(chunk, taps.filter_gradient(self.a_prev[part], dz_part))
                if da_prev is not None:
                    taps.input_gradient(dz_part, da_prev[part])
                return
            if self.needs_grad[1]:
                cols = kept[chunk.start] if kept else im2col.matrix(self.a_prev[part])
                dw_total.add(chunk, batched_product(cols.transpose(0, 2, 1), dz))
            if dual_winograd is not None:
                dual_winograd.convolve(dz_part, da_prev[part])
            elif dual is not None:
                dual_im2col, dual_w_groups = dual
                np.matmul(
                    dual_im2col.matrix(dz_part),
                    dual_w_groups,
                    out=grouped_rows(da_prev[part], groups),
                )
            elif da_prev is not None:
                da_prev[part] = im2col.gradient(dz, w_groups)

        run_chunks(chunks, backward_chunk)
        dw = db = None
        if self.needs_grad[1] and taps is not None:  # (f_h, f_w, 1, n_C), summed in float64
            dw = dw_total.result().astype(grad.dtype)
        elif self.needs_grad[1]:
            dw = dw_total.result().transpose(1, 0, 2).reshape(im2col.w_shape)
        if needs_db:
            db = db_total.result()
        return (da_prev, dw) if len(self.needs_grad) == 2 else (da_prev, dw, db)


def _layer(
    a_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride: Pair,
    padding: tuple[Pair, Pair],
    relu: bool,
    training: bool,
) -> str:
    """A convolution layer in a line, e.g. "32x32x16 -> 16, 3x3 s1 p1 +ReLU, batch 128"."""
    m, n_H_prev, n_W_prev, n_C_prev = a_shape
    f_h, f_w, _, n_C = w_shape
    (top, bottom), (left, right) = padding
    pads = {top, bottom, left, right}
    pad = str(top) if len(pads) == 1 else f"{top},{bottom},{left},{right}"
    steps = str(stride[0]) if stride[0] == stride[1] else f"{stride[0]},{stride[1]}"
    layer = f"{n_H_prev}x{n_W_prev}x{n_C_prev} -> {n_C}, {f_h}x{f_w} s{steps} p{pad}"
    return f"{layer}{' +ReLU' if relu else ''}, batch {m}{'' if training else ', no grad'}"


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
    f_h, f_w = w.shape[:2]
    (d_h, d_w), g = im2col.dilation, im2col.groups
    (top, bottom), (left, right) = im2col.padding
    sides = (
        (d_h * (f_h - 1) - top, d_h * (f_h - 1) - bottom),
        (d_w * (f_w - 1) - left, d_w * (f_w - 1) - right),
    )
    if min(sides[0] + sides[1]) < 0:
        return None
    w_dual = _dual_filters(w, g)
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
    return dual, grouped_filters(w_dual, g)


def _dual_filters(w: np.ndarray, groups: int) -> np.ndarray:
    """W_dual (f_h, f_w, n_C/g, n_C_prev): W turned 180 degrees, channel axes swapped per group."""
    f_h, f_w, n_C_group, n_C = w.shape
    w_dual = w[::-1, ::-1].reshape(f_h, f_w, n_C_group, groups, n_C // groups)
    return w_dual.transpose(0, 1, 4, 3, 2).reshape(f_h, f_w, n_C // groups, groups * n_C_group)


class Conv2DReLU(Conv2DKernel):
    """Computes relu(conv2d(A_prev, W, b)): the ReLU applied to each chunk of Z in cache.

    Backward starts from dZ = dA * [A > 0], chunk by chunk, so that neither
    pass walks the whole volume once more.
    """

    relu = True


def conv2d_relu(
    a_prev: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: PaddingSpec = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """relu(conv2d(...)) in one op (the same values and gradients, one pass fewer).

    With kernels off, the two ops of the equation.
    """
    if not kernels_enabled():
        z = F.conv2d(a_prev, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return F.relu(z)
    inputs = [a_prev, w] if b is None else [a_prev, w, b]
    return kernel_for(Conv2DReLU).apply(  # or its compiled twin
        *inputs, **conv_geometry(a_prev, w, b, stride, padding, dilation, groups)
    )

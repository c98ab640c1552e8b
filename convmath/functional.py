"""Every CNN operation as a function of tensors: ``import convmath.functional as F``.

All take and return :class:`convmath.Tensor`; images are channels-last
(m, n_H, n_W, n_C) and convolution weights (f, f, n_C_prev, n_C). Each
function's docstring (and its op class) gives the shapes and the forward and
backward equations.
"""

from convmath.ops.activation import (
    clip,
    gelu,
    hard_sigmoid,
    hard_swish,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from convmath.ops.conv import conv2d
from convmath.ops.dropout import dropout
from convmath.ops.elementwise import add, div, exp, log, maximum, mul, neg, pow, sqrt, sub
from convmath.ops.linalg import dense, matmul
from convmath.ops.loss import softmax_cross_entropy
from convmath.ops.normalization import batch_norm, layer_norm
from convmath.ops.pool import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d
from convmath.ops.reduce import max, mean, sum
from convmath.ops.shape import (
    channel_shuffle,
    concat,
    flatten,
    getitem,
    pad,
    reshape,
    split,
    transpose,
)
from convmath.shapes import conv_output_size

__all__ = [
    "adaptive_avg_pool2d",
    "add",
    "avg_pool2d",
    "batch_norm",
    "channel_shuffle",
    "clip",
    "concat",
    "conv2d",
    "conv_output_size",
    "dense",
    "div",
    "dropout",
    "exp",
    "flatten",
    "gelu",
    "getitem",
    "global_avg_pool2d",
    "hard_sigmoid",
    "hard_swish",
    "layer_norm",
    "leaky_relu",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "max_pool2d",
    "maximum",
    "mean",
    "mul",
    "neg",
    "pad",
    "pow",
    "relu",
    "relu6",
    "reshape",
    "sigmoid",
    "silu",
    "softmax",
    "softmax_cross_entropy",
    "split",
    "sqrt",
    "sub",
    "sum",
    "tanh",
    "transpose",
]

"""The convolution kernel with Winograd's compiled tile transforms and compiled depthwise taps.

Everything else of :class:`~convmath.kernels.conv.Conv2DKernel` (im2col GEMMs,
the dual convolution, dW) is BLAS already and stays as it is.
"""

from __future__ import annotations

from convmath.kernels.compiled.depthwise import CompiledDepthwiseTaps
from convmath.kernels.compiled.winograd import CompiledWinograd
from convmath.kernels.conv import Conv2DKernel, Conv2DReLU


class CompiledConv2D(Conv2DKernel):
    """Computes :class:`convmath.ops.conv.Conv2D`; its Winograd layers transform compiled, its
    depthwise layers run on compiled loops.

    The rule takes Winograd from rules.WINOGRAD_MIN_CHANNELS_COMPILED channels on.
    """

    compiled = True
    winograd_class = CompiledWinograd
    taps_class = CompiledDepthwiseTaps


class CompiledConv2DReLU(CompiledConv2D, Conv2DReLU):
    """Computes relu(conv2d(A_prev, W, b)) (see Conv2DReLU), Winograd transforms compiled."""

    relu = True

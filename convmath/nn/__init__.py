"""Layers, blocks and containers: CNNs as modules that compose ``convmath.functional``."""

from convmath.nn.activation import (
    GELU,
    Clip,
    HardSigmoid,
    HardSwish,
    LeakyReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Tanh,
)
from convmath.nn.blocks import (
    InceptionModule,
    InvertedResidual,
    ResidualBlock,
    SqueezeExcitation,
    inception_cost,
)
from convmath.nn.conv import Conv2D
from convmath.nn.dropout import Dropout
from convmath.nn.init import INITIALIZERS, initialize
from convmath.nn.layout import ChannelShuffle, ChannelSlice, Flatten
from convmath.nn.linear import Dense, LayerScale
from convmath.nn.module import LayerInfo, Module, Parameter, Sequential
from convmath.nn.normalization import BatchNorm2D, LayerNorm
from convmath.nn.pool import (
    AdaptiveAvgPool2D,
    AvgPool2D,
    GlobalAvgPool2D,
    MaxPool2D,
    SpatialMean,
)

__all__ = [
    "GELU",
    "INITIALIZERS",
    "AdaptiveAvgPool2D",
    "AvgPool2D",
    "BatchNorm2D",
    "ChannelShuffle",
    "ChannelSlice",
    "Clip",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "HardSigmoid",
    "HardSwish",
    "InceptionModule",
    "InvertedResidual",
    "LayerInfo",
    "LayerNorm",
    "LayerScale",
    "LeakyReLU",
    "MaxPool2D",
    "Module",
    "Parameter",
    "ReLU",
    "ReLU6",
    "ResidualBlock",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SpatialMean",
    "SqueezeExcitation",
    "Tanh",
    "inception_cost",
    "initialize",
]

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
from convmath.nn.blocks import InceptionModule, ResidualBlock, inception_cost
from convmath.nn.conv import Conv2D
from convmath.nn.dropout import Dropout
from convmath.nn.init import INITIALIZERS, initialize
from convmath.nn.layout import Flatten
from convmath.nn.linear import Dense
from convmath.nn.module import LayerInfo, Module, Parameter, Sequential
from convmath.nn.normalization import BatchNorm2D
from convmath.nn.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D

__all__ = [
    "GELU",
    "INITIALIZERS",
    "AvgPool2D",
    "BatchNorm2D",
    "Clip",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "HardSigmoid",
    "HardSwish",
    "InceptionModule",
    "LayerInfo",
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
    "Tanh",
    "inception_cost",
    "initialize",
]

"""Layers, blocks and containers: CNNs as modules that compose ``convmath.functional``."""

from convmath.nn.blocks import InceptionModule, ResidualBlock, inception_cost
from convmath.nn.elementwise import BatchNorm2D, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from convmath.nn.init import INITIALIZERS, initialize
from convmath.nn.layers import AvgPool2D, Conv2D, Dense, Flatten, GlobalAvgPool2D, MaxPool2D
from convmath.nn.module import LayerInfo, Module, Parameter, Sequential

__all__ = [
    "INITIALIZERS",
    "AvgPool2D",
    "BatchNorm2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "InceptionModule",
    "LayerInfo",
    "LeakyReLU",
    "MaxPool2D",
    "Module",
    "Parameter",
    "ReLU",
    "ResidualBlock",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "inception_cost",
    "initialize",
]

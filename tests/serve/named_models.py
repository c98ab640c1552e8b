"""Servers of the named architectures with fresh weights, for the page's overview tests.

A model need not be trained for its overview: what the page draws is its
graph and its maps for an input, whatever the weights.
"""

import numpy as np

from convmath import models
from convmath.data.preprocessing import Preprocessing
from convmath.nn import (
    Conv2D,
    Dense,
    Flatten,
    InvertedResidual,
    Sequential,
    SqueezeExcitation,
)
from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import RunningServer, start

SHAPES = {
    "digits_cnn": (8, 8, 1),
    "lenet5": (28, 28, 1),
    "googlenet_small": (28, 28, 1),
    "resnet": (32, 32, 3),
    "blocks_of_today": (28, 28, 1),
}


def blocks_of_today(input_shape, num_classes, *, rng):
    """A small model of squeeze-and-excitation and MobileNet blocks (no named model has them)."""
    n_H, n_W, n_C = input_shape
    return Sequential(
        {
            "conv": Conv2D(n_C, 8, 3, stride=2, padding=1, rng=rng),
            "se": SqueezeExcitation(8, 2, rng=rng),
            "ir": InvertedResidual(8, 8, 1, rng=rng, se_squeeze=2),
            "down": InvertedResidual(8, 16, 2, rng=rng),
            "flat": Flatten(),
            "fc": Dense(16 * (n_H // 4) * (n_W // 4), num_classes, rng=rng),
        }
    ).name_modules()


def untrained(name: str) -> ServedModel:
    """The named model on its usual input, fresh weights (seed 0), classes 0..9."""
    shape = SHAPES[name]
    rng = np.random.default_rng(0)
    if name == "blocks_of_today":
        model = blocks_of_today(shape, 10, rng=rng)
    else:
        model = models.build(name, shape, 10, rng=rng)
    model.eval()
    n_C = shape[2]
    classes = tuple(str(k) for k in range(10))
    preprocessing = Preprocessing(
        shape, 1 / 255, np.full(n_C, 0.5, np.float32), np.full(n_C, 0.25, np.float32), classes
    )
    made = getattr(model, "config", None)  # a named model says how it was built
    config = {"model": made, "preprocessing": preprocessing.to_dict(), "dataset": None}
    return ServedModel(model, preprocessing, config, f"{name} (fresh weights)", [])


def serve_untrained(name: str, runs: str) -> RunningServer:
    return start(App(untrained(name), LiveTraining(runs)))

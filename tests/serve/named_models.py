"""Servers of the named architectures with fresh weights, for the page's overview tests.

A model need not be trained for its overview: what the page draws is its
graph and its maps for an input, whatever the weights.
"""

import numpy as np

from convmath import models
from convmath.data.preprocessing import Preprocessing
from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import RunningServer, start

SHAPES = {
    "digits_cnn": (8, 8, 1),
    "lenet5": (28, 28, 1),
    "googlenet_small": (28, 28, 1),
    "resnet": (32, 32, 3),
}


def untrained(name: str) -> ServedModel:
    """The named model on its usual input, fresh weights (seed 0), classes 0..9."""
    shape = SHAPES[name]
    model = models.build(name, shape, 10, rng=np.random.default_rng(0))
    model.eval()
    n_C = shape[2]
    classes = tuple(str(k) for k in range(10))
    preprocessing = Preprocessing(
        shape, 1 / 255, np.full(n_C, 0.5, np.float32), np.full(n_C, 0.25, np.float32), classes
    )
    config = {"model": model.config, "preprocessing": preprocessing.to_dict(), "dataset": None}
    return ServedModel(model, preprocessing, config, f"{name} (fresh weights)", [])


def serve_untrained(name: str, runs: str) -> RunningServer:
    return start(App(untrained(name), LiveTraining(runs)))

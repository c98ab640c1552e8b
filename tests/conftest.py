import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# The same examples on every run, so CI never meets a case the developer did not.
settings.register_profile("deterministic", derandomize=True)
settings.load_profile("deterministic")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261126)


SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def pytest_configure(config):
    # Tests and CI read MNIST from the shared read-only copy; no test downloads anything.
    if SHARED_DATASETS.is_dir():
        os.environ["CONVMATH_DATA"] = str(SHARED_DATASETS)


@pytest.fixture
def mnist_dir() -> Path:
    if not (SHARED_DATASETS / "mnist").is_dir():
        pytest.skip("the shared MNIST copy (../shared/datasets/mnist) is not here")
    return SHARED_DATASETS

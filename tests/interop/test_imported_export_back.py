"""A model imported from ONNX and fine-tuned exports back to ONNX (onnxruntime
agrees) and to PyTorch weights (the state_dict of the model's PyTorch twin, which then agrees)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from layer_cases import CASES, case  # noqa: E402
from onnx_cases import forward, named_model  # noqa: E402
from test_onnx_export_layers import IMPORTER_REFUSES  # noqa: E402

import convmath.functional as F  # noqa: E402
from convmath import Tensor  # noqa: E402
from convmath.interop.onnx import from_onnx, to_onnx  # noqa: E402
from convmath.interop.torch import to_torch_state_dict  # noqa: E402
from convmath.nn import Module  # noqa: E402
from convmath.optim import SGD  # noqa: E402

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
MODELS = ["digits_cnn", "lenet5", "resnet_projection", "googlenet_small"]
LAYERS = [key for key in CASES if key not in IMPORTER_REFUSES]  # every layer that comes back
# The importer reads a Reshape of a volume to a vector as a Flatten (the same function), whose
# Dense reader the PyTorch layout permutes to NCHW's order; the original's twin reshapes
# channels-last. Each state_dict fits its own twin; the names match, the row order does not.
RESHAPED_TO_A_FLATTEN = {"reshape, a volume to a volume and to a vector"}


def original(key: str) -> tuple[Module, tuple[int, int, int]]:
    return named_model(key) if key in MODELS else case(key)


def fine_tuned(model: Module, shape: tuple[int, int, int], steps: int = 3) -> Module:
    """``model`` after a few SGD steps on random examples (its batch norms' statistics move too)."""
    rng = np.random.default_rng(2)
    optimizer = SGD(model.parameters(), lr=0.05)
    model.train()
    for _ in range(steps):
        x = rng.standard_normal((4, *shape)).astype(np.float32)
        out = model(Tensor(x))
        logits = F.reshape(out, (4, int(np.prod(out.shape[1:]))))  # a volume: one class a value
        labels = rng.integers(0, logits.shape[-1], 4)
        optimizer.zero_grad()
        F.softmax_cross_entropy(logits, labels).backward()
        optimizer.step()
    return model.eval()


def imported_and_fine_tuned(key: str) -> tuple[Module, Module, tuple[int, int, int]]:
    model, shape = original(key)
    proto = to_onnx(model, shape)
    imported = from_onnx(proto).model
    before = to_torch_state_dict(imported, shape)
    fine_tuned(imported, shape)
    after = to_torch_state_dict(imported, shape)
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # it did learn
    return model, imported, shape


def channels_last(y: np.ndarray) -> np.ndarray:
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y


def example(shape: tuple[int, int, int]) -> np.ndarray:
    return np.random.default_rng(9).standard_normal((3, *shape)).astype(np.float32)


@pytest.mark.parametrize("key", MODELS + LAYERS)
def test_the_fine_tuned_import_exports_back_to_onnx(key: str) -> None:
    _, imported, shape = imported_and_fine_tuned(key)
    proto = to_onnx(imported, shape)
    onnx.checker.check_model(proto, full_check=True)
    runner = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = example(shape)
    np.testing.assert_allclose(runner.run(None, {"input": x})[0], forward(imported, x), **TOLERANCE)


@pytest.mark.parametrize("key", MODELS + LAYERS)
def test_the_fine_tuned_import_has_its_originals_torch_names(key: str) -> None:
    model, imported, shape = imported_and_fine_tuned(key)
    ours, theirs = to_torch_state_dict(imported, shape), to_torch_state_dict(model, shape)
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


@pytest.mark.parametrize(
    "key", MODELS + [key for key in LAYERS if key not in RESHAPED_TO_A_FLATTEN]
)
def test_the_torch_twin_of_the_original_runs_the_fine_tuned_weights(key: str) -> None:
    model, imported, shape = imported_and_fine_tuned(key)
    _check_twin(model, imported, shape)


def _check_twin(built_from, imported, shape) -> None:
    """The PyTorch twin of ``built_from``, given the imported model's weights, computes its
    logits."""
    torch = pytest.importorskip("torch")
    from convmath.interop.torch_models import torch_module_for

    twin = torch_module_for(built_from, shape)
    state = to_torch_state_dict(imported, shape)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    twin.eval()
    x = example(shape)
    with torch.no_grad():
        got = twin(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    np.testing.assert_allclose(channels_last(got), forward(imported, x), **TOLERANCE)


@pytest.mark.parametrize("key", MODELS + LAYERS)
def test_the_torch_twin_of_the_import_itself_runs_its_weights(key: str) -> None:
    _, imported, shape = imported_and_fine_tuned(key)
    _check_twin(imported, imported, shape)

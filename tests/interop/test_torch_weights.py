"""convmath.interop.torch: weights as a PyTorch state_dict in safetensors, both ways.

The names and layouts, the round trip and the file checks need no torch; the
tests that compare logits with a torch module import it (and skip without it).
Every named model is compared at a small input shape, with random weights and
random batch-norm parameters and running statistics, in eval mode.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from convmath import Tensor, limits, no_grad
from convmath.errors import CheckpointError, DTypeError, InvalidArgumentError, ShapeError
from convmath.interop.torch import (
    from_torch_state_dict,
    load_torch_weights,
    save_torch_weights,
    to_torch_state_dict,
)
from convmath.models import MODELS, build
from convmath.nn import (
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Module,
    Parameter,
    ReLU,
    Sequential,
)
from convmath.tensor import Tensor as TensorType

# name, input shape, options: small enough to keep the file fast
CASES = [
    pytest.param("digits_cnn", (8, 8, 1), {"width": 4}, id="digits_cnn"),
    pytest.param("lenet5", (28, 28, 1), {}, id="lenet5"),
    pytest.param("mnist_cnn", (28, 28, 1), {"dropout": 0.5}, id="mnist_cnn"),
    pytest.param("wide_cnn", (28, 28, 1), {"width": 4}, id="wide_cnn"),
    pytest.param("resnet", (8, 8, 3), {"depth": 8}, id="resnet-pad"),
    pytest.param("resnet", (8, 8, 3), {"depth": 8, "shortcut": "projection"}, id="resnet-proj"),
    pytest.param("googlenet_small", (8, 8, 3), {}, id="googlenet_small"),
]
TORCH_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def randomized(model: Module, seed: int) -> Module:
    """Random biases, batch-norm gamma and beta, and running statistics (weights are random)."""
    rng = np.random.default_rng(seed)
    for _, module in model.named_modules():
        if isinstance(module, BatchNorm2D):
            module.gamma.data[...] = rng.uniform(0.5, 1.5, module.n_C)
            module.beta.data[...] = rng.normal(0, 0.1, module.n_C)
            module.running_mean[...] = rng.normal(0, 0.1, module.n_C)
            module.running_var[...] = rng.uniform(0.5, 2.0, module.n_C)
        elif isinstance(module, Conv2D | Dense) and module.b is not None:
            module.b.data[...] = rng.normal(0, 0.1, module.b.shape)
    return model


def built(name: str, shape: tuple[int, int, int], options: dict, seed: int = 0) -> Module:
    return randomized(build(name, shape, 10, rng=np.random.default_rng(seed), **options), seed)


def logits(model: Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with no_grad():
        return model(Tensor(x)).data


def example(shape: tuple[int, ...], seed: int = 1, m: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((m, *shape)).astype(np.float32)


def assert_same_logits(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def assert_same_state(a: Module, b: Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert np.array_equal(sa[key], sb[key]), key


def write_safetensors(path: Path, header: dict, body: bytes) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + body)
    return path


# ---------------------------------------------------------------- without torch
def test_cases_cover_every_named_model():
    assert {case.values[0] for case in CASES} == set(MODELS)


@pytest.mark.parametrize(("name", "shape", "options"), CASES)
def test_names_and_layouts(name, shape, options):
    model = built(name, shape, options)
    state = to_torch_state_dict(model, shape)
    own = model.state_dict()
    renamed = {"W": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}
    expected = set()
    for key in own:
        path, _, attr = key.rpartition(".")
        expected.add(f"{path}.{renamed.get(attr, attr)}")
        if attr == "running_var":
            expected.add(f"{path}.num_batches_tracked")
    assert set(state) == expected
    for key, array in state.items():
        assert key.endswith(TORCH_SUFFIXES)
        assert array.flags.c_contiguous
        if key.endswith("num_batches_tracked"):
            assert array.dtype == np.int64
            assert array.shape == ()
            assert array == 0
            continue
        assert array.dtype == np.float32
        path, _, attr = key.rpartition(".")
        original = own[f"{path}.W"] if attr == "weight" and f"{path}.W" in own else None
        if original is not None and original.ndim == 4:
            f_h, f_w, n_in, n_out = original.shape
            assert array.shape == (n_out, n_in, f_h, f_w)
            assert np.array_equal(array, original.transpose(3, 2, 0, 1))
        elif original is not None:
            assert array.shape == original.shape[::-1]


def test_the_names_of_digits_cnn():
    model = built("digits_cnn", (8, 8, 1), {"width": 4})
    state = to_torch_state_dict(model, (8, 8, 1))
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(state) == [
        "conv1.weight",
        *(f"bn1.{k}" for k in bn),
        "conv2.weight",
        *(f"bn2.{k}" for k in bn),
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert state["conv1.weight"].shape == (4, 1, 3, 3)
    assert state["fc1.weight"].shape == (64, 4 * 4 * 8)


@pytest.mark.parametrize(("name", "shape", "options"), CASES)
def test_round_trip_is_bit_identical(name, shape, options, tmp_path):
    original = built(name, shape, options, seed=0)
    copy = build(name, shape, 10, rng=np.random.default_rng(99), **options)
    from_torch_state_dict(copy, to_torch_state_dict(original, shape), shape)
    assert_same_state(copy, original)
    from_file = build(name, shape, 10, rng=np.random.default_rng(98), **options)
    written = save_torch_weights(original, shape, tmp_path / "w.safetensors")
    assert written == tmp_path / "w.safetensors"
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temporary file left
    load_torch_weights(from_file, written, shape)
    assert_same_state(from_file, original)


def test_flatten_order_is_permuted_not_reshaped():
    """A torch Linear reads the NCHW flatten: (c, h, w) order, not convmath's (h, w, c)."""
    shape = (2, 3, 4)
    model = randomized(
        Sequential({"flatten": Flatten(), "fc": Dense(24, 5, rng=np.random.default_rng(0))}), 1
    )
    x = example(shape)
    state = to_torch_state_dict(model, shape)
    x_torch_order = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # nn.Flatten of NCHW
    permuted = x_torch_order @ state["fc.weight"].T + state["fc.bias"]
    assert_same_logits(permuted, logits(model, x))
    plain = x_torch_order @ model["fc"].W.data + state["fc.bias"]  # W.T as a plain reshape
    assert not np.allclose(plain, logits(model, x), atol=1e-3)
    assert not np.array_equal(state["fc.weight"], model["fc"].W.data.T)


def test_flatten_of_a_vector_is_not_permuted():
    rng = np.random.default_rng(0)
    model = Sequential(
        {
            "conv": Conv2D(2, 6, 3, padding=1, rng=rng),
            "gap": GlobalAvgPool2D(),
            "flatten": Flatten(),
            "fc": Dense(6, 3, rng=rng),
        }
    )
    state = to_torch_state_dict(model, (5, 5, 2))
    assert np.array_equal(state["fc.weight"], model["fc"].W.data.T)


def test_batch_norm_between_flatten_and_dense_is_permuted_too():
    rng = np.random.default_rng(0)
    model = randomized(
        Sequential(
            {
                "flatten": Flatten(),
                "bn": BatchNorm2D(12),
                "relu": ReLU(),
                "drop": Dropout(0.5, rng=rng),
                "fc": Dense(12, 4, rng=rng),
            }
        ),
        2,
    )
    shape = (2, 2, 3)
    state = to_torch_state_dict(model, shape)
    order = np.arange(12).reshape(2, 2, 3).transpose(2, 0, 1).reshape(-1)  # (c, h, w) of (h, w, c)
    for attr, key in [("gamma", "weight"), ("beta", "bias"), ("running_mean", "running_mean")]:
        value = getattr(model["bn"], attr)
        value = value.data if isinstance(value, TensorType) else value
        assert np.array_equal(state[f"bn.{key}"], value[order])
    copy = Sequential(
        {
            "flatten": Flatten(),
            "bn": BatchNorm2D(12),
            "relu": ReLU(),
            "drop": Dropout(0.5, rng=rng),
            "fc": Dense(12, 4, rng=rng),
        }
    )
    from_torch_state_dict(copy, state, shape)
    assert_same_state(copy, model)


def test_float16_and_float64_are_cast_to_float32():
    model = built("digits_cnn", (8, 8, 1), {"width": 4})
    state = to_torch_state_dict(model, (8, 8, 1))
    half = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in state.items()}
    double = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in state.items()}
    for given, rounding in [(half, np.float16), (double, np.float64)]:
        copy = build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(5), width=4)
        from_torch_state_dict(copy, given, (8, 8, 1))
        for key, value in copy.state_dict().items():
            assert value.dtype == np.float32
            expected = model.state_dict()[key].astype(rounding).astype(np.float32)
            assert np.array_equal(value, expected), key


def test_num_batches_tracked_may_be_absent():
    model = built("digits_cnn", (8, 8, 1), {"width": 4})
    state = to_torch_state_dict(model, (8, 8, 1))
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    copy = build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(5), width=4)
    from_torch_state_dict(copy, state, (8, 8, 1))
    assert_same_state(copy, model)


# ---------------------------------------------------------------- errors, in memory
@pytest.fixture
def lenet():
    return built("lenet5", (28, 28, 1), {})


def mutated(model: Module, **changes) -> dict[str, np.ndarray]:
    state = to_torch_state_dict(model, (28, 28, 1))
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del state[key]
        else:
            state[key] = value
    return state


BAD_STATES = [
    pytest.param({"fc3__bias": None}, ShapeError, r"missing \['fc3\.bias'\]", id="missing"),
    pytest.param(
        {"fc4__weight": np.zeros((2, 2), np.float32)},
        ShapeError,
        r"unexpected \['fc4\.weight'\]",
        id="unexpected",
    ),
    pytest.param(
        {"fc3__weight": np.zeros((84, 10), np.float32)},
        ShapeError,
        r"'fc3\.weight': expected \(10, 84\), got \(84, 10\)",
        id="wrong-shape",
    ),
    pytest.param(
        {"conv1__weight": np.zeros((6, 1, 5, 5), np.int32)},
        DTypeError,
        r"'conv1\.weight' is int32, expected float16, float32 or float64",
        id="integer",
    ),
    pytest.param(
        {"fc1__bias": np.full(120, np.nan, np.float32)},
        InvalidArgumentError,
        r"'fc1\.bias' holds 120 NaN",
        id="nan",
    ),
    pytest.param(
        {"fc1__bias": np.full(120, 1e39)},
        InvalidArgumentError,
        r"'fc1\.bias' holds 120 NaN, infinite or beyond-float32",
        id="beyond-float32",
    ),
    pytest.param(
        {"fc1__bias": np.array(["x"] * 120)},
        DTypeError,
        r"'fc1\.bias' is <U1",
        id="strings",
    ),
]


@pytest.mark.parametrize(("changes", "error", "message"), BAD_STATES)
def test_bad_state_dicts_are_refused_before_anything_changes(lenet, changes, error, message):
    before = lenet.state_dict()
    with pytest.raises(error, match=message):
        from_torch_state_dict(lenet, mutated(lenet, **changes), (28, 28, 1))
    assert_same_state(lenet, built("lenet5", (28, 28, 1), {}))
    assert before.keys() == lenet.state_dict().keys()


def test_a_counter_that_is_not_an_integer_is_refused():
    model = built("digits_cnn", (8, 8, 1), {"width": 4})
    state = to_torch_state_dict(model, (8, 8, 1))
    state["bn1.num_batches_tracked"] = np.zeros((), np.float32)
    with pytest.raises(DTypeError, match=r"'bn1\.num_batches_tracked' is float32"):
        from_torch_state_dict(model, state, (8, 8, 1))


def test_not_a_mapping_is_refused(lenet):
    with pytest.raises(InvalidArgumentError, match="got list"):
        from_torch_state_dict(lenet, [], (28, 28, 1))


def test_an_input_shape_that_does_not_fit_is_refused(lenet):
    with pytest.raises(ShapeError, match="fc1"):
        to_torch_state_dict(lenet, (32, 32, 1))
    with pytest.raises(ShapeError, match=r"input_shape must be \(n_H, n_W, n_C\).*\(28, 28\)"):
        to_torch_state_dict(lenet, (28, 28))


class Scale(Module):
    """A user's layer with its own parameter, which has no known PyTorch layout."""

    def __init__(self) -> None:
        super().__init__()
        self.s = Parameter(np.ones(1, dtype=np.float32))

    def forward(self, x):
        return x * self.s

    def output_shape(self, input_shape):
        return tuple(input_shape)


class Head(Module):
    """A user's container, not a Sequential, hiding a Flatten and a Dense."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = Flatten()
        self.fc = Dense(12, 2, rng=np.random.default_rng(0))

    def forward(self, x):
        return self.fc(self.flatten(x))

    def output_shape(self, input_shape):
        return (2,)


class Shuffle(Module):
    """A user's parameter-free layer that may reorder the features."""

    def forward(self, x):
        return x[:, ::-1]

    def output_shape(self, input_shape):
        return tuple(input_shape)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        pytest.param({"scale": Scale()}, r"Scale 'scale' holds \['s'\]", id="own-parameter"),
        pytest.param({"head": Head()}, "Head 'head' holds a Flatten and a Dense", id="container"),
        pytest.param(
            {
                "flatten": Flatten(),
                "shuffle": Shuffle(),
                "fc": Dense(12, 2, rng=np.random.default_rng(0)),
            },
            "Dense 'fc' reads the features of Flatten 'flatten' through Shuffle 'shuffle'",
            id="reorder",
        ),
    ],
)
def test_layers_without_a_known_layout_are_refused(layers, message):
    with pytest.raises(InvalidArgumentError, match=message):
        to_torch_state_dict(Sequential(layers), (2, 2, 3))


# ---------------------------------------------------------------- errors, files
@pytest.fixture
def lenet_file(lenet, tmp_path):
    return save_torch_weights(lenet, (28, 28, 1), tmp_path / "lenet.safetensors")


@pytest.mark.parametrize(("changes", "error", "message"), BAD_STATES[:4])
def test_bad_files_name_the_file_and_the_tensor(lenet, tmp_path, changes, error, message):
    from safetensors.numpy import save_file

    path = tmp_path / "bad.safetensors"
    save_file(mutated(lenet, **changes), path)
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + message):
        load_torch_weights(lenet, path, (28, 28, 1))
    assert_same_state(lenet, built("lenet5", (28, 28, 1), {}))


def test_a_bfloat16_tensor_is_refused_naming_it(lenet, tmp_path):
    header = {
        "__metadata__": {"format": "pt"},
        "fc3.bias": {"dtype": "BF16", "shape": [10], "data_offsets": [0, 20]},
    }
    path = write_safetensors(tmp_path / "bf16.safetensors", header, bytes(20))
    with pytest.raises(CheckpointError, match=r"bf16\.safetensors: tensor 'fc3\.bias'.*bfloat16"):
        load_torch_weights(lenet, path, (28, 28, 1))


def test_not_a_safetensors_file(lenet, tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_bytes(b"these are not the weights you are looking for\n")
    with pytest.raises(
        CheckpointError, match=r"notes\.safetensors: header size .* not a safetensors"
    ):
        load_torch_weights(lenet, path, (28, 28, 1))
    path.write_bytes(b"\x04\x00\x00\x00\x00\x00\x00\x00[1] ")
    with pytest.raises(
        CheckpointError, match=r"notes\.safetensors: the header is not a JSON object"
    ):
        load_torch_weights(lenet, path, (28, 28, 1))
    path.write_bytes(b"\x04\x00\x00\x00\x00\x00\x00\x00{x: ")
    with pytest.raises(CheckpointError, match=r"notes\.safetensors: unreadable header"):
        load_torch_weights(lenet, path, (28, 28, 1))


@pytest.mark.parametrize("cut", [1, 100, 10_000])
def test_a_truncated_file(lenet, lenet_file, cut):
    data = lenet_file.read_bytes()
    lenet_file.write_bytes(data[:-cut])
    with pytest.raises(CheckpointError, match=r"lenet\.safetensors: .*(truncated|bytes)"):
        load_torch_weights(lenet, lenet_file, (28, 28, 1))
    lenet_file.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match=r"lenet\.safetensors: truncated \(5 bytes\)"):
        load_torch_weights(lenet, lenet_file, (28, 28, 1))


def test_hostile_tables_are_refused(lenet, tmp_path):
    path = tmp_path / "hostile.safetensors"
    cases = [
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, 8, "needs 8 bytes"),
        (
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            8,
            "overlapping or missing bytes",
        ),
        ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 8, "bytes after"),
        ({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}}, 4, "dtype Q7"),
        ({"a": {"dtype": "F32", "shape": [1]}}, 4, r"tensor 'a' must be a mapping"),
        (
            {"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}},
            4,
            "needs",
        ),
        ({"__metadata__": {"format": 1}}, 0, "__metadata__ is not a mapping of strings"),
    ]
    for header, body, message in cases:
        write_safetensors(path, header, bytes(body))
        with pytest.raises(CheckpointError, match=r"hostile\.safetensors: .*" + message):
            load_torch_weights(lenet, path, (28, 28, 1))


def test_a_folder_is_not_a_weights_file(lenet, tmp_path):
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_torch_weights(lenet, tmp_path, (28, 28, 1))
    with pytest.raises(CheckpointError, match=r"absent\.safetensors: cannot read"):
        load_torch_weights(lenet, tmp_path / "absent.safetensors", (28, 28, 1))


def test_a_file_over_the_limit_is_refused_before_reading(lenet, lenet_file, monkeypatch):
    monkeypatch.setattr(limits, "max_checkpoint_bytes", lambda: 1000)
    with pytest.raises(CheckpointError, match=r"lenet\.safetensors: .* bytes, over the 1,000"):
        load_torch_weights(lenet, lenet_file, (28, 28, 1))


def test_more_values_than_a_model_may_have_are_refused(lenet, lenet_file, monkeypatch):
    monkeypatch.setattr(limits, "max_parameters", lambda: 1000)
    monkeypatch.setattr(limits, "MAX_BUFFER_ELEMENTS", 0)
    with pytest.raises(CheckpointError, match=r"lenet\.safetensors: the tensors hold 61,7"):
        load_torch_weights(lenet, lenet_file, (28, 28, 1))


def test_the_model_faults_are_not_blamed_on_the_file(lenet, lenet_file):
    with pytest.raises(ShapeError, match="input_shape"):
        load_torch_weights(lenet, lenet_file, (28, 28))


# ---------------------------------------------------------------- against torch
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def nchw(torch, x: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def torch_logits(torch, module, x: np.ndarray) -> np.ndarray:
    module.eval()
    with torch.no_grad():
        return module(nchw(torch, x)).numpy()


def randomize_torch(torch, module, seed: int):
    generator = torch.Generator().manual_seed(seed)
    for child in module.modules():
        if isinstance(child, torch.nn.modules.batchnorm._BatchNorm):
            n = child.num_features
            child.weight.data = torch.rand(n, generator=generator) + 0.5
            child.bias.data = torch.randn(n, generator=generator) * 0.1
            child.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            child.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            child.num_batches_tracked.fill_(7)
    return module


@pytest.mark.parametrize(("name", "shape", "options"), CASES)
def test_convmath_weights_in_torch_give_the_same_logits(torch, name, shape, options, tmp_path):
    from safetensors.torch import load_file

    from convmath.interop.torch_models import torch_module

    model = built(name, shape, options)
    path = save_torch_weights(model, shape, tmp_path / "w.safetensors")
    module = torch_module(name, shape, 10, **options)
    module.load_state_dict(load_file(path), strict=True)
    x = example(shape)
    assert_same_logits(torch_logits(torch, module, x), logits(model, x))


@pytest.mark.parametrize(("name", "shape", "options"), CASES)
def test_torch_weights_in_convmath_give_the_same_logits(torch, name, shape, options, tmp_path):
    from safetensors.torch import save_file

    from convmath.interop.torch_models import torch_module

    torch.manual_seed(3)
    module = randomize_torch(torch, torch_module(name, shape, 10, **options), 4)
    path = tmp_path / "from_torch.safetensors"
    save_file(module.state_dict(), path)
    model = build(name, shape, 10, rng=np.random.default_rng(7), **options)
    load_torch_weights(model, path, shape)
    x = example(shape)
    expected = torch_logits(torch, module, x)
    assert_same_logits(logits(model, x), expected)
    # the torch tensors themselves, without a file
    other = build(name, shape, 10, rng=np.random.default_rng(8), **options)
    from_torch_state_dict(other, module.state_dict(), shape)
    assert_same_logits(logits(other, x), expected)


def test_a_plain_reshape_would_not_match_torch(torch):
    from convmath.interop.torch_models import torch_module

    model = built("lenet5", (28, 28, 1), {})
    state = to_torch_state_dict(model, (28, 28, 1))
    module = torch_module("lenet5", (28, 28, 1), 10)
    x = example((28, 28, 1))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    assert_same_logits(torch_logits(torch, module, x), logits(model, x))
    plain = dict(state, **{"fc1.weight": np.ascontiguousarray(model["fc1"].W.data.T)})
    module.load_state_dict({k: torch.from_numpy(v) for k, v in plain.items()}, strict=True)
    assert not np.allclose(torch_logits(torch, module, x), logits(model, x), atol=1e-3)


def test_batch_norm_on_flattened_features_matches_torch(torch):
    from convmath.interop.torch_models import torch_module_for

    rng = np.random.default_rng(0)
    model = randomized(
        Sequential(
            {
                "conv": Conv2D(2, 3, 3, padding=1, rng=rng),
                "relu1": ReLU(),
                "flatten": Flatten(),
                "bn": BatchNorm2D(48),
                "relu2": ReLU(),
                "drop": Dropout(0.3, rng=rng),
                "fc": Dense(48, 5, rng=rng),
            }
        ),
        3,
    )
    module = torch_module_for(model, (4, 4, 2))
    assert isinstance(module.bn, torch.nn.BatchNorm1d)
    state = to_torch_state_dict(model, (4, 4, 2))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    x = example((4, 4, 2))
    assert_same_logits(torch_logits(torch, module, x), logits(model, x))


@pytest.mark.parametrize(
    ("f", "stride", "padding"),
    [(4, 1, "same"), (3, 2, "same"), (2, 1, ((0, 1), (1, 0)))],
)
def test_asymmetric_padding_matches_torch(torch, f, stride, padding):
    from convmath.interop.torch_models import torch_module_for

    rng = np.random.default_rng(0)
    model = randomized(
        Sequential({"conv": Conv2D(2, 3, f, stride, padding=padding, rng=rng), "relu": ReLU()}), 1
    )
    module = torch_module_for(model, (6, 7, 2))
    state = to_torch_state_dict(model, (6, 7, 2))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    x = example((6, 7, 2))
    expected = logits(model, x).transpose(0, 3, 1, 2)
    assert_same_logits(torch_logits(torch, module, x), expected)


def test_a_bfloat16_torch_tensor_is_refused(torch, tmp_path):
    from safetensors.torch import save_file

    from convmath.interop.torch_models import torch_module

    module = torch_module("digits_cnn", (8, 8, 1), 10, width=4)
    state = module.state_dict()
    state["fc2.weight"] = state["fc2.weight"].bfloat16()
    model = build("digits_cnn", (8, 8, 1), 10, rng=np.random.default_rng(0), width=4)
    with pytest.raises(DTypeError, match=r"'fc2\.weight'.*bfloat16.*tensor\.float\(\)"):
        from_torch_state_dict(model, state, (8, 8, 1))
    path = tmp_path / "half.safetensors"
    save_file(state, path)
    with pytest.raises(CheckpointError, match=r"half\.safetensors: tensor 'fc2\.weight'.*BF16"):
        load_torch_weights(model, path, (8, 8, 1))


def test_torch_module_refuses_what_build_refuses(torch):
    from convmath.interop.torch_models import torch_module, torch_module_for

    with pytest.raises(InvalidArgumentError, match="unknown model 'vgg'"):
        torch_module("vgg", (28, 28, 1), 10)
    with pytest.raises(InvalidArgumentError, match="does not take the options"):
        torch_module("lenet5", (28, 28, 1), 10, width=3)
    with pytest.raises(InvalidArgumentError, match="Scale 'scale': convmath knows no PyTorch"):
        torch_module_for(Sequential({"scale": Scale()}), (2, 2, 1))

"""explain, gradcheck and the pictures, through the library and the commands."""

import json

import numpy as np
import pytest

import convmath as cm
from convmath import models, nn
from convmath.cli import main
from convmath.inspect import explain
from convmath.inspect.summary import summary_rows, summary_table

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

SHAPES = {"digits_cnn": (8, 8, 1), "resnet": (32, 32, 3)}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "3", "--out", str(out)]) == 0
    return out


def test_explain_lenet5_shows_every_formula_with_numbers(capsys):
    assert main(["explain", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "n_H = floor((28 + 2*2 - 5)/1) + 1 = 28" in out
    assert "parameters (f*f*n_C_prev + 1)*n_C = (5*5*1 + 1)*6 = 156" in out
    assert "multiply-accumulates n_H*n_W*n_C*f*f*n_C_prev = 28*28*6*5*5*1 = 117,600" in out
    assert "n_H = floor((28 + 2*0 - 2)/2) + 1 = 14" in out
    assert "no parameters to learn" in out
    assert "parameters (n_in + 1)*n_out = (400 + 1)*120 = 48,120" in out
    assert "total: 61,706 parameters, 416,520 multiply-accumulates" in out
    # The article's notation: each row names its output, the layer numbers filled in.
    assert "conv1 (Conv2D) -> Z^[1] (28, 28, 6)" in out
    assert "Z^[1] = W^[1] * A^[0] + b^[1], then A^[1] = psi(Z^[1])" in out
    assert (
        "Z^[1]_(x,y,c) = sum_(i=1..5) sum_(j=1..5) sum_(k=1..1) W^[1]_(i,j,k,c)"
        " A^[0]_(x+i-1, y+j-1, k) + b^[1]_c (A^[0] zero-padded)"
    ) in out
    assert "relu1 (ReLU) -> A^[1] (28, 28, 6)" in out
    assert "A^[1] = psi(Z^[1]) = max(0, Z^[1])" in out
    assert "pool1 (MaxPool2D) -> A^[2] (14, 14, 6)" in out
    assert "A^[2]_(x,y,c) = max over i = 1..2, j = 1..2 of A^[1]_(2(x-1)+i, 2(y-1)+j, c)" in out
    assert "Z^[3]_(x,y,c) = sum_(i=1..5) sum_(j=1..5) sum_(k=1..6)" in out
    assert "fc1 (Dense) -> Z^[5] (120,)" in out
    assert "Z^[5]_j = sum_(i=1..400) A^[4]_i W^[5]_(i,j) + b^[5]_j" in out
    assert main(["summary", "lenet5"]) == 0
    assert "61,706 parameters" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_explain_agrees_with_the_real_model(name):
    shape = SHAPES.get(name, (28, 28, 1))
    model = models.build(name, shape, 10, rng=np.random.default_rng(0))
    explanation = explain(model, shape)
    assert explanation.error is None
    assert explanation.parameters == model.num_parameters()
    assert explanation.output_shape == (10,)
    assert explanation.macs == sum(row.macs for row in model.describe(shape))
    for row in explanation.rows:  # every volume stated equals the one the layer produces
        if row.output_shape is not None and row.kind in ("Conv2D", "MaxPool2D", "AvgPool2D"):
            assert f"{row.output_shape}" in "\n".join(row.formulas)


def test_explain_residual_and_inception_details(capsys):
    assert main(["explain", "resnet", "--input-shape", "32,32,3"]) == 0
    out = capsys.readouterr().out
    assert "shortcut: a[:, ::2, ::2] + zero channels (option A) -> (16, 16, 32)" in out
    assert "8 + 8 zero channels" in out
    assert "a[l+2] = relu(z[l+2] + shortcut(a[l]))" in out
    assert main(["explain", "googlenet_small"]) == 0
    out = capsys.readouterr().out
    assert "concatenate along channels: n_C = 16 + 24 + 8 + 8 = 56" in out
    assert "cost with the 1x1 reductions" in out
    assert "naive" in out


def test_batch_norm_takes_z_and_gives_z_tilde_within_the_convolutions_layer():
    from convmath.inspect.notation import names

    rng = np.random.default_rng(0)
    model = nn.Sequential(
        {
            "conv": nn.Conv2D(1, 2, 3, bias=False, rng=rng),
            "bn": nn.BatchNorm2D(2),
            "relu": nn.ReLU(),
            "pool": nn.MaxPool2D(2),
            "flat": nn.Flatten(),
            "fc": nn.Dense(8, 3, rng=rng),
        }
    ).name_modules()
    explanation = explain(model, (6, 6, 1))
    found = [name.text for name in names(explanation.rows)]
    assert found == ["Z^[1]", "Z~^[1]", "A^[1]", "A^[2]", "A^[2]", "Z^[3]"]
    assert [name.tex for name in names(explanation.rows)][1] == "\\tilde{Z}^{[1]}"
    text = explanation.text()
    assert "bn (BatchNorm2D) -> Z~^[1] (4, 4, 2)" in text
    assert "Z~^[1] = gamma (Z^[1] - mu)/sqrt(var + 1e-05) + beta per channel" in text
    assert "A^[1] = psi(Z~^[1]) = max(0, Z~^[1])" in text  # psi acts on Z~ after batch norm
    backward = explanation.text(backward=True)
    assert "dZ^[1] = dZ~^[1] * gamma/sqrt(var + eps)" in backward
    assert "dZ~^[1] = dA^[1] * [Z~^[1] > 0]" in backward
    # The typeset equations carry the same numbers.
    conv = explanation.rows[0]
    assert "\\sum_{i=1}^{3}" in conv.equations[1]
    assert "A^{[l-1]}_{x+i-1" in conv.equations[1]


def test_explain_a_model_that_does_not_fit(capsys):
    assert main(["explain", "lenet5", "--input-shape", "8,8,1"]) == 2
    out = capsys.readouterr().out
    assert "conv1 (Conv2D) -> Z^[1] (8, 8, 6)" in out
    assert "does not fit: Conv2D 'conv2': the window does not fit: n_H_prev=4, f=5" in out
    assert "= 0 < 1" in out


class Scale(nn.Module):
    """A user's own layer: it says neither its output shape nor its formulas."""

    def __init__(self, n_C, rng):
        super().__init__()
        self.gain = nn.Parameter(rng.uniform(0.5, 2.0, n_C).astype(np.float32))
        self.bn = nn.BatchNorm2D(n_C)

    def forward(self, x):
        return self.bn(x) * self.gain


def test_a_users_own_module_is_summarised_and_explained_by_the_same_rows():
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        {"conv": nn.Conv2D(1, 3, 3, rng=rng), "scale": Scale(3, rng), "flat": nn.Flatten()}
    ).name_modules()
    before = model["scale"].bn.running_mean.copy()
    explanation = explain(model, (6, 6, 1))
    assert explanation.error is None
    row = next(r for r in explanation.rows if r.name == "scale")
    assert row.output_shape == (4, 4, 3)
    assert row.parameters == 3 + 2 * 3  # its gain, and its batch norm's gamma and beta
    assert "Scale.forward as written" in row.formulas[0]
    assert explanation.output_shape == (48,)
    np.testing.assert_array_equal(model["scale"].bn.running_mean, before)  # shapes found in eval
    assert model["scale"].training  # and the mode restored
    table = summary_table(model, (6, 6, 1))
    assert any(line.split()[:2] == ["scale", "Scale"] for line in table.splitlines())
    assert f"{model.num_parameters():,} parameters" in table
    assert [r.name for r in summary_rows(model, (6, 6, 1))] == ["conv", "scale", "flat"]


def test_a_users_module_that_does_not_fit_names_itself():
    class Broken(nn.Module):
        def forward(self, x):
            return cm.Tensor(np.ones((1, 2, 3), np.float32)) + x

    with pytest.raises(cm.ShapeError, match=r"Broken 'b' could not run forward on one example"):
        nn.Sequential({"b": Broken()}).name_modules().describe((4, 4, 1))


def test_gradcheck_command_passes_on_a_model_and_fails_on_a_broken_one(capsys, monkeypatch):
    assert main(["gradcheck", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 11 of 11 tensors agree" in out
    from convmath.dispatch import kernel_for
    from convmath.ops.pool import MaxPool2D

    running = kernel_for(MaxPool2D)  # the commands run the kernels (compiled, where numba is)
    original = running.backward
    monkeypatch.setattr(running, "backward", lambda self, grad: original(self, grad) * 1.01)
    assert main(["gradcheck", "lenet5"]) == 1
    out = capsys.readouterr().out
    verdicts = {
        line.split()[0]: line.split()[-1] for line in out.splitlines() if line[:1].isalpha()
    }
    # the layers before a max pool see a wrong gradient, those after it do not
    assert verdicts["conv1.W"] == verdicts["conv2.W"] == verdicts["input"] == "FAIL"
    assert verdicts["fc1.W"] == verdicts["fc3.b"] == "ok"
    assert "FAIL: " in out


BIAS_BEFORE_BATCH_NORM = """
from convmath.nn import BatchNorm2D, Conv2D, Dense, Flatten, ReLU, Sequential

def build(input_shape, num_classes, *, rng):
    n_H, n_W, n_C = input_shape
    return Sequential({
        "conv": Conv2D(n_C, 4, 3, rng=rng),  # its bias b: batch norm subtracts it again
        "bn": BatchNorm2D(4),
        "relu": ReLU(),
        "flatten": Flatten(),
        "fc": Dense(4 * (n_H - 2) * (n_W - 2), num_classes, rng=rng),
    })
"""


@pytest.fixture
def bias_before_batch_norm(tmp_path, monkeypatch):
    """The builder ``bias_bn:build`` of a model whose conv bias feeds a batch norm."""
    import sys

    (tmp_path / "bias_bn.py").write_text(BIAS_BEFORE_BATCH_NORM)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "bias_bn", raising=False)
    yield models.import_builder("bias_bn:build")
    sys.modules.pop("bias_bn", None)


def rel_err_column(table: str) -> dict[str, str]:
    return {line[:28].strip(): line[-17:-4].strip() for line in table.splitlines()[1:]}


def test_a_zero_gradient_has_no_relative_error_to_show(bias_before_batch_norm):
    from convmath.inspect import model_gradcheck

    model = bias_before_batch_norm((8, 8, 1), 10, rng=np.random.default_rng(0))
    for seed in (0, 2, 3):  # 2 and 3: the difference is exactly 0 and backprop 1e-16 (1e+284)
        rng = np.random.default_rng(seed)
        x, labels = rng.standard_normal((2, 8, 8, 1)), rng.integers(0, 10, 2)
        report = model_gradcheck(model, x, labels, rng=rng)
        bias = next(c for c in report.comparisons if c.name == "conv.b")
        assert bias.zero == "both ~0"
        assert bias.passed
        assert all(c.rel_error <= 2 for c in report.comparisons)
        assert rel_err_column(report.table())["conv.b"] == "both ~0"
        assert float(rel_err_column(report.table())["conv.W"]) < 1e-6


def test_a_gradient_that_is_exactly_zero_on_both_sides_says_so(rng):
    from convmath.inspect.gradcheck import gradcheck

    report = gradcheck(
        lambda x, b: x * 2.0 + b * 0.0, [rng.normal(size=(2, 3)), np.ones(3)], rng=rng
    )
    x, b = report.comparisons
    assert (b.zero, b.max_abs_error, b.rel_error, b.passed) == ("both zero", 0.0, 0.0, True)
    assert x.zero == ""
    assert x.rel_error < 1e-6
    assert rel_err_column(report.table())["input 0"] == f"{x.rel_error:.3e}"
    assert "both zero  ok" in report.table()


def test_gradcheck_command_says_both_zero_for_a_bias_before_batch_norm(
    bias_before_batch_norm, capsys
):
    assert main(["gradcheck", "bias_bn:build", "--input-shape", "8,8,1", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "PASS: 7 of 7 tensors agree" in out
    columns = rel_err_column(out.split("\n\n")[1])
    assert columns["conv.b"] == "both ~0"
    assert all(float(v) < 1e-6 for k, v in columns.items() if k != "conv.b")


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_gradcheck_passes_on_every_named_model(name, capsys):
    shape = {"resnet": "16,16,3", "mnist_cnn": "12,12,1", "wide_cnn": "8,8,1"}.get(name)
    argv = ["gradcheck", name] + (["--input-shape", shape] if shape else [])
    assert main(argv) == 0, capsys.readouterr().out


def png_size(path):
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        return picture.size


def test_training_curves_come_with_every_run_and_from_plot(run_dir, tmp_path, capsys):
    assert png_size(run_dir / "curves.png") == (1000, 400)
    assert main(["plot", str(run_dir / "history.json"), "--out", str(tmp_path / "c.png")]) == 0
    assert png_size(tmp_path / "c.png") == (1000, 400)


def test_filters_featuremaps_and_confusion(run_dir, tmp_path, capsys):
    assert main(["filters", str(run_dir / "best.safetensors")]) == 0
    assert png_size(run_dir / "filters.png") == (1060, 300)  # 16 filters: 2 rows of 8
    digit = tmp_path / "digit.png"
    from convmath.data import load_digits

    Image.fromarray((load_digits()[0][4] * 15).astype(np.uint8)).save(digit)
    assert main(["featuremaps", str(run_dir / "best.safetensors"), str(digit)]) == 0
    out = capsys.readouterr().out
    assert "every channel of conv1 (8, 8, 16), conv2 (8, 8, 32), pool (4, 4, 32)" in out
    assert "digit.png: predicted '4' (" in out
    assert png_size(run_dir / "featuremaps.png")[0] == 1000
    assert main(["confusion", str(run_dir / "best.safetensors")]) == 0
    assert png_size(run_dir / "confusion.png") == (800, 700)
    assert png_size(run_dir / "misclassified.png")[0] == 800


def test_picture_command_errors(run_dir, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["plot", str(tmp_path / "bad.json")]) == 2
    assert "not a readable history.json" in capsys.readouterr().err
    assert main(["filters", str(run_dir / "best.safetensors"), "--layer", "fc1"]) == 2
    assert "the CONV layers are ['conv1', 'conv2']" in capsys.readouterr().err
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "history[0] must be a mapping of up to 32 names"),
        ('[{"epoch": 1, "train_loss": NaN}]', "NaN (JSON has no NaN or infinities)"),
        ('[{"epoch": 1, "train_loss": "low"}]', "history[0].train_loss must be a finite"),
        ('[{"epoch": 1}]', "history rows need"),
        ("\udcff", "not a readable history"),
    ],
)
def test_plot_refuses_malformed_histories(tmp_path, capsys, content, message):
    path = tmp_path / "history.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert main(["plot", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_layers_mosaic_holds_every_channel_in_its_place():
    from convmath.inspect.plots import channel_mosaic

    volume = np.arange(3 * 2 * 40, dtype=np.float64).reshape(3, 2, 40)
    mosaic = channel_mosaic(volume, columns=16)
    assert mosaic.shape == (3 * 4 - 1, 16 * 3 - 1)  # 40 channels: 3 rows of 16, 1-pixel gaps
    for k in (0, 15, 16, 39):
        top, left = (k // 16) * 4, (k % 16) * 3
        np.testing.assert_array_equal(mosaic[top : top + 3, left : left + 2], volume[:, :, k])
    assert np.isnan(mosaic[3]).all()  # the gap between the first two rows
    assert np.isnan(mosaic[8:, 8 * 3 :]).all()  # no channel 40 and up


def test_filters_and_feature_maps_of_huge_layers_draw_a_bounded_picture(tmp_path, monkeypatch):
    from convmath.inspect import plots

    Image = pytest.importorskip("PIL.Image")
    monkeypatch.setattr(plots, "MAX_FILTERS_DRAWN", 16)  # the real caps are 128 and 64
    monkeypatch.setattr(plots, "MAX_LAYERS_DRAWN", 3)

    def size(path):
        with Image.open(path) as picture:
            return picture.size

    rng = np.random.default_rng(0)
    filters = [
        size(plots.plot_filters(rng.standard_normal((3, 3, 1, n_C)), tmp_path / f"f{n_C}.png"))
        for n_C in (16, 1000)
    ]
    assert filters[0] == filters[1]  # the first 16 of 1000, not a picture 60 times as tall
    maps = [(f"conv{k}", rng.standard_normal((4, 4, 2))) for k in range(200)]
    unit = rng.uniform(size=(8, 8, 1))
    small = size(plots.plot_feature_maps(unit, maps[:3], tmp_path / "m3.png"))
    assert size(plots.plot_feature_maps(unit, maps, tmp_path / "m200.png")) == small
    monkeypatch.setattr(plots, "MAX_MOSAIC_VALUES", 1000)
    wide = [("conv", rng.standard_normal((64, 64, 2000)))]  # 2,000 channels of 64x64
    width, height = size(plots.plot_feature_maps(unit, wide, tmp_path / "wide.png"))
    assert width == 1000
    assert height <= 100 * 1.5 * plots.MAX_FIGURE_INCHES


@pytest.mark.parametrize("name", ["lenet5", "resnet", "googlenet_small"])
def test_explain_backward_states_the_shapes_back_propagation_really_gives(name):
    shape = SHAPES.get(name, (28, 28, 1))
    model = models.build(name, shape, 10, rng=np.random.default_rng(0)).name_modules()
    x = cm.Tensor(np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32))
    import convmath.functional as F

    F.softmax_cross_entropy(model(x), np.array([1, 2])).backward()
    rows = {row.name: row for row in explain(model, shape).rows}
    modules = dict(model.named_modules())
    checked = 0
    for row_name, row in rows.items():
        module = modules.get(row_name)
        if isinstance(module, nn.Conv2D | nn.Dense):
            dw_line = next(line for line in row.backward if line.startswith("dW"))
            assert f"{module.W.grad.shape}" in dw_line, (row_name, dw_line)
            checked += 1
        if isinstance(module, nn.Conv2D | nn.MaxPool2D | nn.AvgPool2D):
            da_line = next(line for line in row.backward if line.startswith("dA^[l-1]"))
            assert f"{row.input_shape}" in da_line
    assert checked >= 5


def test_explain_backward_command_starts_from_the_loss_and_walks_back(capsys):
    assert main(["explain", "lenet5", "--backward"]) == 0
    out = capsys.readouterr().out
    assert "dZ^[7] = (softmax(Z^[7]) - Q)/m, (10,) per example" in out
    assert out.index("fc3 (Dense)") < out.index("conv2 (Conv2D)") < out.index("conv1 (Conv2D)")
    # The article's sums over windows, the layer numbers filled in; col2im only as the how.
    assert (
        "dW^[1]_(i,j,k,c) = sum_(x=1..28) sum_(y=1..28) dZ^[1]_(x,y,c) A^[0]_(x+i-1, y+j-1, k),"
        " summed over the m examples (each window of A^[0] times its dZ): (5, 5, 1, 6)"
    ) in out
    assert "dA^[0]_(x',y',k) = sum over the windows (x, y) that read (x', y')" in out
    assert "col2im(" not in out
    assert "the code computes this sum as col2im of dZ W^T" in out
    assert "each value of dA^[4] goes to its window's maximum (the argmax mask; the first" in out
    assert "conv2 (Conv2D) -> Z^[3] (10, 10, 16)" in out
    assert "relu2 (ReLU) -> A^[3]" in out
    lenet = models.build("lenet5", (28, 28, 1), 10, rng=np.random.default_rng(0))
    explanation = explain(lenet, (28, 28, 1))
    first = explanation.rows[0].macs  # conv1's dA_prev is skipped: the input is data
    assert f"about {2 * explanation.macs - first:,} multiply-accumulates per example" in out


def test_filters_of_a_deeper_layer_say_what_they_draw(tmp_path):
    import contextlib
    import io

    from convmath.errors import InvalidArgumentError
    from convmath.inspect import plots
    from convmath.run import TrainConfig, run_training

    run_training(TrainConfig(epochs=1, train_limit=200), tmp_path / "run", log=lambda _: None)
    checkpoint = str(tmp_path / "run" / "best.safetensors")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            main(["filters", checkpoint, "--layer", "conv2", "--out", str(tmp_path / "a.png")]) == 0
        )
        assert main(["filters", checkpoint, "--layer", "conv2", "--channel", "5",
                     "--out", str(tmp_path / "b.png")]) == 0  # fmt: skip
    first, second = out.getvalue().splitlines()
    assert first.endswith("32 filters of Conv2D 'conv2', each the mean over its 16 input channels"
                          " (--channel K for one)")  # fmt: skip
    assert second.endswith("32 filters of Conv2D 'conv2', their slices for input channel 5")
    with pytest.raises(InvalidArgumentError, match="input channel 16 does not exist: the filters"
                       " have 16 input channels, 0 to 15"):  # fmt: skip
        plots.plot_filters(np.zeros((3, 3, 16, 4)), tmp_path / "c.png", input_channel=16)


def test_featuremaps_and_predict_read_a_dark_on_light_picture_alike(run_dir, tmp_path, capsys):
    from convmath.data import load_digits

    digit = tmp_path / "paper.png"  # dark ink on white paper, as a person draws a digit
    Image.fromarray(255 - (load_digits()[0][3] * 15).astype(np.uint8)).save(digit)
    checkpoint = str(run_dir / "best.safetensors")
    assert main(["predict", checkpoint, str(digit)]) == 0
    predicted = capsys.readouterr().out.split(": ", 1)[1].split()[0]
    assert main(["featuremaps", checkpoint, str(digit), "--out", str(tmp_path / "m.png")]) == 0
    assert f"predicted '{predicted}' (" in capsys.readouterr().out

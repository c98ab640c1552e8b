"""The activation layers psi: A^[l] = psi(Z^[l]), elementwise, shape unchanged, no parameters.

Each is a thin :class:`Module` around an op of ``convmath.functional``.
"""

from __future__ import annotations

import re

import numpy as np

import convmath.functional as F
from convmath.errors import InvalidArgumentError
from convmath.nn.module import Module, Shape
from convmath.tensor import Tensor


class _Activation(Module):
    # Written with the article's letters Z, A, dA (layer numbers are added: Z^[l]...).
    formula = ""  # psi(Z)
    derivative = ""  # dZ in terms of dA
    tex = ""  # psi(Z^{[l]}) typeset; "" for none (the text line then says it)
    tex_derivative = ""  # dZ^{[l]} in terms of dA^{[l]}, typeset

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def formulas(self, input_shape: Shape) -> list[str]:
        psi = layered(self.formula)
        return [f"A^[l] = psi(Z^[l]) = {psi}, elementwise; shape unchanged, no parameters"]

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [f"dZ^[l] = {layered(self.derivative)}, elementwise: {tuple(input_shape)}"]

    def equations(self, input_shape: Shape) -> list[str]:
        return ["A^{[l]} = \\psi(Z^{[l]})" + (f" = {self.tex}" if self.tex else "")]

    def backward_equations(self, input_shape: Shape) -> list[str]:
        return [f"dZ^{{[l]}} = {self.tex_derivative}"] if self.tex_derivative else []


class ReLU(_Activation):
    """psi(Z) = max(0, Z).

    Shapes
    ------
    Z: any shape, (m, n_H, n_W, n_C) or (m, n);  A = psi(Z): the same shape

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.ReLU()(Tensor([[-2.0, 0.0, 3.0]])).data)
    [[0. 0. 3.]]
    >>> nn.ReLU().output_shape((24, 24, 6))
    (24, 24, 6)
    """

    formula = "max(0, Z)"
    derivative = "dA * [Z > 0] (the kink at 0 takes gradient 0)"
    tex = "\\max(0, Z^{[l]})"
    tex_derivative = "dA^{[l]} \\odot [Z^{[l]} > 0]"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(_Activation):
    """psi(Z) = Z if Z > 0 else alpha Z.

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.LeakyReLU(alpha=0.1)(Tensor([[-2.0, 0.0, 3.0]])).data)
    [[-0.2  0.   3. ]]
    """

    # max(alpha Z, Z) would hold only for alpha <= 1
    formula = "Z where Z > 0, alpha Z elsewhere"
    tex = "\\begin{cases} Z^{[l]} & Z^{[l]} > 0 \\\\ \\alpha Z^{[l]} & \\text{else} \\end{cases}"

    def backward_formulas(self, input_shape: Shape) -> list[str]:
        return [
            f"dZ^[l] = dA^[l] where Z^[l] > 0, {self.alpha} dA^[l] elsewhere, elementwise:"
            f" {tuple(input_shape)}"
        ]

    def backward_equations(self, input_shape: Shape) -> list[str]:
        return [
            "dZ^{[l]} = \\begin{cases} dA^{[l]} & Z^{[l]} > 0 \\\\"
            f" {self.alpha}\\, dA^{{[l]}} & \\text{{else}} \\end{{cases}}"
        ]

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.alpha)

    def details(self) -> str:
        return f"alpha={self.alpha}"


class Sigmoid(_Activation):
    """psi(Z) = 1 / (1 + exp(-Z)).

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in (0, 1)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> print(np.round(nn.Sigmoid()(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[0.119 0.5   0.881]]
    """

    formula = "1/(1 + exp(-Z))"
    derivative = "dA * A * (1 - A)"
    tex = "\\frac{1}{1 + e^{-Z^{[l]}}}"
    tex_derivative = "dA^{[l]} \\odot A^{[l]} \\odot (1 - A^{[l]})"

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Activation):
    """psi(Z) = tanh(Z).

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in (-1, 1)

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> print(np.round(nn.Tanh()(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[-0.964  0.     0.964]]
    """

    formula = "tanh(Z)"
    derivative = "dA * (1 - A^2)"
    tex = "\\tanh(Z^{[l]})"
    tex_derivative = "dA^{[l]} \\odot (1 - (A^{[l]})^2)"

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU6(_Activation):
    """psi(Z) = min(max(0, Z), 6), MobileNetV2's activation.

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in [0, 6]

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.ReLU6()(Tensor([[-2.0, 3.0, 8.0]])).data)
    [[0. 3. 6.]]
    """

    formula = "min(max(0, Z), 6)"
    derivative = "dA * [0 < Z < 6] (the kinks at 0 and 6 take gradient 0, as PyTorch's)"
    tex = "\\min(\\max(0, Z^{[l]}), 6)"

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


class Clip(_Activation):
    """psi(Z) = min(max(Z, lo), hi), ONNX's Clip (None: no bound on that side).

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in [lo, hi]

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.Clip(-1.0, 1.0)(Tensor([[-2.0, 0.5, 3.0]])).data)
    [[-1.   0.5  1. ]]
    """

    def __init__(self, lo: float | None = None, hi: float | None = None) -> None:
        super().__init__()
        F.clip(Tensor(np.zeros(1, np.float32)), lo, hi)  # refuses bad bounds when built
        self.lo, self.hi = lo, hi

    @property
    def formula(self) -> str:  # type: ignore[override]
        return f"min(max(Z, {self.lo}), {self.hi})"

    @property
    def derivative(self) -> str:  # type: ignore[override]
        return f"dA * [{self.lo} <= Z <= {self.hi}] (a value on a bound passes dA, as torch.clamp)"

    def forward(self, x: Tensor) -> Tensor:
        return F.clip(x, self.lo, self.hi)

    def details(self) -> str:
        return f"lo={self.lo}, hi={self.hi}"


class HardSigmoid(_Activation):
    """psi(Z) = max(0, min(1, alpha Z + beta)); PyTorch's relu6(Z + 3)/6 by default.

    ONNX's HardSigmoid defaults to alpha = 0.2, beta = 0.5; PyTorch exports its
    own as alpha = 1/6, beta = 0.5 (the defaults here).

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape, values in [0, 1]

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.HardSigmoid()(Tensor([[-4.0, 0.0, 1.5, 4.0]])).data)
    [[0.   0.5  0.75 1.  ]]
    """

    def __init__(self, alpha: float = 1 / 6, beta: float = 0.5) -> None:
        super().__init__()
        F.hard_sigmoid(Tensor(np.zeros(1, np.float32)), alpha, beta)  # refuses bad numbers
        self.alpha, self.beta = alpha, beta

    @property
    def formula(self) -> str:  # type: ignore[override]
        return f"max(0, min(1, {self.alpha:.6g} Z + {self.beta:.6g}))"

    @property
    def derivative(self) -> str:  # type: ignore[override]
        return f"{self.alpha:.6g} dA * [0 < {self.alpha:.6g} Z + {self.beta:.6g} < 1]"

    def forward(self, x: Tensor) -> Tensor:
        return F.hard_sigmoid(x, self.alpha, self.beta)

    def details(self) -> str:
        return f"alpha={self.alpha:.6g}, beta={self.beta:.6g}"


class HardSwish(_Activation):
    """psi(Z) = Z relu6(Z + 3)/6, MobileNetV3's activation.

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape

    Example
    -------
    >>> from convmath import Tensor, nn
    >>> print(nn.HardSwish()(Tensor([[-1.5, 0.0, 1.5, 4.0]])).data)
    [[-0.375  0.     1.125  4.   ]]
    """

    formula = "Z relu6(Z + 3)/6"
    tex = "Z^{[l]}\\, \\mathrm{ReLU6}(Z^{[l]} + 3)/6"
    derivative = "dA * (0 where Z <= -3, (2Z + 3)/6 where -3 < Z < 3, 1 where Z >= 3)"

    def forward(self, x: Tensor) -> Tensor:
        return F.hard_swish(x)


class SiLU(_Activation):
    """psi(Z) = Z sigmoid(Z) (Swish), EfficientNet's activation.

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> print(np.round(nn.SiLU()(Tensor([[-2.0, 0.0, 2.0]])).data, 3))
    [[-0.238  0.     1.762]]
    """

    formula = "Z sigmoid(Z)"
    tex = "Z^{[l]}\\, \\sigma(Z^{[l]})"
    derivative = "dA * s (1 + Z (1 - s)), s = sigmoid(Z)"

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class GELU(_Activation):
    """psi(Z) = Z Phi(Z), Phi the standard normal distribution function; ConvNeXt's activation.

    ``approximate="tanh"`` uses Z (1 + tanh(sqrt(2/pi) (Z + 0.044715 Z^3)))/2 instead.

    Shapes
    ------
    Z: any shape;  A = psi(Z): the same shape

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor, nn
    >>> print(np.round(nn.GELU()(Tensor([[-2.0, 0.0, 1.0]])).data, 4))
    [[-0.0455  0.      0.8413]]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        F.gelu(Tensor(np.zeros(1, np.float32)), approximate)  # refuses an unknown form
        self.approximate = approximate

    @property
    def formula(self) -> str:  # type: ignore[override]
        if self.approximate == "tanh":
            return "Z (1 + tanh(sqrt(2/pi) (Z + 0.044715 Z^3)))/2"
        return "Z Phi(Z), Phi(Z) = (1 + erf(Z/sqrt(2)))/2"

    @property
    def derivative(self) -> str:  # type: ignore[override]
        if self.approximate == "tanh":
            return "dA * ((1 + t)/2 + Z (1 - t^2)/2 sqrt(2/pi) (1 + 0.134145 Z^2)), t = tanh(...)"
        return "dA * (Phi(Z) + Z phi(Z)), phi(Z) = exp(-Z^2/2)/sqrt(2 pi)"

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def details(self) -> str:
        return "" if self.approximate == "none" else "approximate=tanh"


def layered(text: str) -> str:
    """The article's letters Z, A, dZ, dA of ``text`` given the layer: Z^[l], (A^[l])^2...

    >>> layered("dA * (1 - A^2)"), layered("(2Z + 3)/6 where Phi(Z) > 0")
    ('dA^[l] * (1 - (A^[l])^2)', '(2Z^[l] + 3)/6 where Phi(Z^[l]) > 0')
    """
    powered = re.sub(r"(?<![A-Za-z_])(d?[ZA])\^(\d)", r"(\1^[l])^\2", text)
    return re.sub(r"(?<![A-Za-z_])(d?[ZA])(?![A-Za-z_^])", r"\1^[l]", powered)


class Softmax(Module):
    """softmax(z)_k = exp(z_k) / sum_j exp(z_j) over the last axis.

    Shapes
    ------
    Z: (m, K);  S: (m, K), each row summing to 1

    Example
    -------
    >>> import numpy as np
    >>> from convmath import Tensor
    >>> from convmath.nn.activation import Softmax
    >>> print(np.round(Softmax()(Tensor([[0.0, 1.0, 2.0]])).data, 2))
    [[0.09 0.24 0.67]]
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=-1)

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)


ACTIVATION_NAMES: dict[str, type[Module]] = {
    "relu": ReLU,
    "relu6": ReLU6,
    "hard_swish": HardSwish,
    "silu": SiLU,
    "gelu": GELU,
    "sigmoid": Sigmoid,
    "hard_sigmoid": HardSigmoid,
    "tanh": Tanh,
}


def activation_named(name: str, where: str) -> Module:
    """A new activation layer by its name (how blocks take theirs: plain text in a model file)."""
    if name not in ACTIVATION_NAMES:
        raise InvalidArgumentError(
            f"{where} must be one of {sorted(ACTIVATION_NAMES)}, got {str(name)[:40]!r}"
        )
    return ACTIVATION_NAMES[name]()

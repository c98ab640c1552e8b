"""The error function erf and the normal distribution's Phi, in NumPy alone (no SciPy).

GELU needs Phi(Z) = P(X <= Z) for X ~ N(0, 1):
Phi(Z) = (1 + erf(Z/sqrt(2)))/2 = erfc(-Z/sqrt(2))/2.

erf and erfc are the rational approximations of the Cephes library (Stephen
L. Moshier, public domain; the ones SciPy's ``ndtr`` compiles), accurate to
about 2e-16 relative in float64:

- |x| < 1:       erf(x) = x T(x^2) / U(x^2)
- 1 <= x < 8:    erfc(x) = exp(-x^2) P(x) / Q(x)
- x >= 8:        erfc(x) = exp(-x^2) R(x) / S(x)
- x < 0:         erfc(x) = 2 - erfc(-x)

(P, Q, R, S, T, U: the polynomials below, highest degree first; Q, S and U
have a leading coefficient 1.) Each branch is evaluated on the values it
applies to, picked by a mask, so no loop runs over values.
"""

from __future__ import annotations

import numpy as np

_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
      7.00332514112805075473e3, 5.55923013010394962768e4)  # fmt: skip
_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
      2.26290000613890934246e4, 4.92673942608635921086e4)  # fmt: skip
_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
      4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
      9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)  # fmt: skip
_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
      9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
      1.65666309194161350182e3, 5.57535340817727675546e2)  # fmt: skip
_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
      6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)  # fmt: skip
_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
      1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)  # fmt: skip


def _polynomial(x: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """c_0 x^n + c_1 x^(n-1) + ... + c_n, by Horner's rule, in x's dtype (in place: no
    temporary per step)."""
    total = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        total *= x
        total += c
    return total


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/sqrt(pi) * integral from 0 to x of exp(-t^2) dt, elementwise, in x's dtype.

    >>> import math
    >>> import numpy as np
    >>> x = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 4.0])
    >>> bool(np.allclose(erf(x), [math.erf(v) for v in x], rtol=1e-15, atol=0))
    True
    """
    x = np.asarray(x)
    out = 1 - erfc(x)
    near = np.abs(x) < 1
    out[near] = _erf_near_zero(x[near])  # without 1 - (1 - erf): no rounding near 0
    return out


def _erf_near_zero(x: np.ndarray) -> np.ndarray:
    """erf(x) for |x| < 1."""
    squared = x * x
    return x * _polynomial(squared, _T) / _polynomial(squared, _U)


def erfc(x: np.ndarray) -> np.ndarray:
    """erfc(x) = 1 - erf(x), without the cancellation of 1 - erf(x) for large x.

    Each branch is evaluated on its own values only (masks), so a polynomial
    costs nothing where another one applies.

    >>> import math
    >>> import numpy as np
    >>> x = np.array([-3.0, 0.5, 2.0, 10.0])
    >>> bool(np.allclose(erfc(x), [math.erfc(v) for v in x], rtol=1e-14, atol=0))
    True
    """
    x = np.asarray(x)
    a = np.abs(x)
    out = np.empty_like(x)
    near = a < 1
    middle = (a >= 1) & (a < 8)
    far = ~(near | middle)  # also NaN (which stays NaN) and the infinities
    out[near] = 1 - _erf_near_zero(x[near])
    out[middle] = _tail(a[middle], _P, _Q)
    out[far] = _tail(np.minimum(a[far], 30), _R, _S)  # erfc(30) = 0 in float64 already
    negative = (x < 0) & ~near
    out[negative] = 2 - out[negative]
    return out


def _tail(
    a: np.ndarray, numerator: tuple[float, ...], denominator: tuple[float, ...]
) -> np.ndarray:
    """erfc(a) = exp(-a^2) N(a) / D(a) for a >= 1."""
    with np.errstate(under="ignore"):
        return np.exp(-a * a) * _polynomial(a, numerator) / _polynomial(a, denominator)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Phi(z) = erfc(-z/sqrt(2))/2: precise in the far left tail too (no 1 + erf cancelling)."""
    z = np.asarray(z)
    return erfc(-z * np.sqrt(0.5).astype(z.dtype)) * z.dtype.type(0.5)

"""Data: file readers and datasets. Arrays in, arrays out."""

from convmath.data.digits import load_digits
from convmath.data.idx import read_idx

__all__ = ["load_digits", "read_idx"]

"""The version of convmath, defined once: ``convmath.__version__`` and the package metadata."""

__version__ = "0.1.0"

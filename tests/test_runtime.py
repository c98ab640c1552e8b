"""The allocator setting is applied once and is harmless to repeat."""

import sys

import pytest

from convmath import runtime


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_allocator_applies_once():
    assert runtime.tune_allocator() is True
    assert runtime.tune_allocator() is True

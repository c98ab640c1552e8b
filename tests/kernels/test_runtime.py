"""The allocator setting: applied once, with the thresholds it documents, where it can be."""

import sys

import pytest

from convmath.kernels import runtime


class FakeLibc:
    def __init__(self, result: int) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return self.result


@pytest.mark.parametrize(("result", "applied"), [(1, True), (0, False)])
def test_tune_allocator_sets_both_thresholds_once(monkeypatch, result, applied):
    libc = FakeLibc(result)
    monkeypatch.setattr(runtime, "_tuned", False)
    monkeypatch.setattr(runtime.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(runtime.ctypes.util, "find_library", lambda name: "libc.so.6")
    assert runtime.tune_allocator() is applied
    assert libc.calls[0] == (runtime.M_MMAP_THRESHOLD, 32 << 20)
    if applied:
        assert libc.calls == [
            (runtime.M_MMAP_THRESHOLD, 32 << 20),
            (runtime.M_TRIM_THRESHOLD, 1 << 30),
        ]
        assert runtime.tune_allocator() is True
        assert len(libc.calls) == 2  # not applied twice


def test_tune_allocator_without_a_c_library_is_a_no_op(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", False)
    monkeypatch.setattr(runtime.ctypes.util, "find_library", lambda name: None)
    assert runtime.tune_allocator() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tune_allocator_applies_on_this_glibc(monkeypatch):
    monkeypatch.setattr(runtime, "_tuned", False)
    assert runtime.tune_allocator() is True

"""The autotuner: the rule by default, the fastest when measuring, every candidate equal."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import convmath as cm
import convmath.functional as F
from convmath.errors import InvalidArgumentError
from convmath.kernels import autotune
from convmath.kernels import conv as conv_module


@pytest.fixture(autouse=True)
def fresh_table():
    autotune.clear()
    yield
    autotune.clear()


class FakeClock:
    """perf_counter for autotune: each candidate's run advances it by that candidate's cost."""

    def __init__(self, costs: dict[str, float]) -> None:
        self.now, self.costs, self.runs = 0.0, costs, []

    def __call__(self) -> float:
        return self.now

    def run(self, name: str) -> None:
        self.runs.append(name)
        self.now += self.costs[name]


def test_the_rule_decides_by_default_and_runs_nothing(monkeypatch):
    clock = FakeClock({"a": 1.0, "b": 0.1})
    monkeypatch.setattr(autotune.time, "perf_counter", clock)
    assert autotune.get_policy() == "rule"
    chosen = autotune.choose("op", ("k",), lambda: "layer k", ["a", "b"], "a", clock.run)
    assert chosen == "a"
    assert clock.runs == []
    assert [(c.op, c.layer, c.algorithm, c.seconds) for c in autotune.choices()] == [
        ("op", "layer k", "a", {})
    ]


def test_the_rules_listing_keeps_the_first_keys_only(monkeypatch):
    """A server meets a key per batch size: the listing stops growing, the rule still decides."""
    monkeypatch.setattr(autotune, "LISTED_RULES", 2)
    for k in range(4):
        assert autotune.choose("op", (k,), lambda k=k: f"key {k}", ["a", "b"], "b", None) == "b"
    assert [choice.layer for choice in autotune.choices()] == ["key 0", "key 1"]


def test_a_key_met_while_the_workers_are_busy_takes_the_rule_unkept(monkeypatch):
    """Timed while another caller holds the workers, the candidates would run on fewer."""
    import threading

    from convmath.kernels import parallel

    clock = FakeClock({"a": 1.0, "b": 0.1})
    monkeypatch.setattr(autotune.time, "perf_counter", clock)
    holding, release = threading.Event(), threading.Event()

    def hold(chunk, worker):
        holding.set()
        release.wait(5)

    with parallel.using_threads(2), autotune.using_policy("measure"):
        other = threading.Thread(target=parallel.run_chunks, args=([range(1), range(1, 2)], hold))
        other.start()
        try:
            assert holding.wait(5)
            assert not parallel.workers_at_hand()
            assert autotune.choose("op", ("k",), lambda: "k", ["a", "b"], "a", clock.run) == "a"
        finally:
            release.set()
            other.join(5)
        assert clock.runs == []
        assert autotune.choices() == []
        assert parallel.workers_at_hand()
        assert autotune.choose("op", ("k",), lambda: "k", ["a", "b"], "a", clock.run) == "b"


def test_measuring_times_every_candidate_and_keeps_the_fastest(monkeypatch):
    clock = FakeClock({"a": 1.0, "b": 0.25, "c": 0.5})
    monkeypatch.setattr(autotune.time, "perf_counter", clock)
    with autotune.using_policy("measure"):
        chosen = autotune.choose("op", ("k",), lambda: "layer k", ["a", "b", "c"], "a", clock.run)
        assert chosen == "b"
        assert sorted(clock.runs) == sorted(["a", "b", "c"] * autotune.REPEATS)
        clock.runs.clear()
        again = autotune.choose("op", ("k",), lambda: "layer k", ["a", "b", "c"], "a", clock.run)
        assert again == "b"
        assert clock.runs == []
        other = autotune.choose("op", ("j",), lambda: "layer j", ["a", "c"], "a", clock.run)
        assert other == "c"
    (first, second) = autotune.choices("measure")
    assert (first.layer, first.algorithm) == ("layer k", "b")
    assert first.seconds == {"a": 1.0, "b": 0.25, "c": 0.5}
    assert "b " in first.line()
    assert "250.00 ms" in first.line()
    assert second.algorithm == "c"
    assert autotune.get_policy() == "rule"  # restored after the block
    assert autotune.choices() == []  # the rule's list is its own


def test_the_best_run_counts_and_a_tie_goes_to_the_rule(monkeypatch):
    costs = iter([5.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # a's first run is slow (a cold cache)
    clock = FakeClock({})
    clock.run = lambda name: setattr(clock, "now", clock.now + next(costs))
    monkeypatch.setattr(autotune.time, "perf_counter", clock)
    monkeypatch.setattr(autotune, "REPEATS", 3)
    with autotune.using_policy("measure"):
        assert autotune.choose("op", (1,), lambda: "l", ["b", "a"], "a", clock.run) == "a"


def test_one_candidate_is_not_timed(monkeypatch):
    clock = FakeClock({"a": 1.0})
    monkeypatch.setattr(autotune.time, "perf_counter", clock)
    with autotune.using_policy("measure"):
        assert autotune.choose("op", (1,), lambda: "l", ["a"], "a", clock.run) == "a"
    assert clock.runs == []


def test_bad_policies_and_rules_are_refused():
    with pytest.raises(InvalidArgumentError, match=r"one of rule, measure, got 'fastest'"):
        autotune.set_policy("fastest")
    with pytest.raises(InvalidArgumentError, match=r"op: rule 'z' is not among \['a', 'b'\]"):
        autotune.choose("op", (1,), lambda: "l", ["a", "b"], "z", lambda name: None)


CONV_LAYERS = [  # (a_shape, w_shape, options): each reaches every algorithm it has
    ((2, 9, 7, 5), (3, 3, 5, 4), {"padding": 1}),  # winograd, dual, dual-winograd
    ((2, 8, 8, 3), (3, 3, 3, 6), {"padding": 0}),  # "valid": the dual pads by 2
    ((2, 9, 9, 4), (3, 3, 4, 3), {"padding": 1, "stride": 2}),  # im2col and col2im only
    ((2, 8, 8, 6), (5, 5, 6, 2), {"padding": 2}),  # dual, no Winograd
    ((2, 7, 6, 4), (3, 3, 2, 6), {"padding": 1, "groups": 2}),  # grouped: dual only
    ((1, 9, 9, 2), (3, 3, 2, 4), {"padding": 2, "dilation": 2}),  # dilated: dual only
    ((2, 8, 7, 4), (3, 3, 1, 4), {"padding": 1, "groups": 4}),  # depthwise: taps, dual
    ((2, 9, 9, 3), (3, 3, 1, 6), {"padding": 1, "stride": 2, "groups": 3}),  # 2 filters each
]
OFFERED = [  # the algorithms each of CONV_LAYERS has
    {"im2col", "winograd", "col2im", "dual", "dual-winograd"},
    {"im2col", "winograd", "col2im", "dual", "dual-winograd"},
    {"im2col", "col2im"},
    {"im2col", "col2im", "dual"},
    {"im2col", "col2im", "dual"},
    {"im2col", "col2im", "dual"},
    {"im2col", "taps", "col2im", "dual"},
    {"im2col", "taps", "col2im"},
]
EVERY_ALGORITHM = [  # each layer with each pair of algorithms it has
    (*layer, forward, input_gradient)
    for layer, offered in zip(CONV_LAYERS, OFFERED, strict=True)
    for forward, input_gradient in itertools.product(
        ["im2col", "winograd", "taps"], ["col2im", "dual", "dual-winograd", "taps"]
    )
    if {forward, input_gradient} <= offered
]


def _forced(
    monkeypatch, forward: str, input_gradient: str, chosen: list[str] | None = None
) -> list[str]:
    """Make conv2d use these algorithms where it can; returns the ones it was offered (and
    adds the ones it took to ``chosen``)."""
    offered: list[str] = []

    def choose(op, key, layer, candidates, rule, run):
        offered.extend(candidates)
        wanted = forward if op == "conv2d forward" else input_gradient
        taken = wanted if wanted in candidates else rule
        if chosen is not None:
            chosen.append(taken)
        return taken

    monkeypatch.setattr(conv_module.autotune, "choose", choose)
    return offered


@pytest.mark.parametrize(
    ("a_shape", "w_shape", "options", "forward", "input_gradient"), EVERY_ALGORITHM
)
def test_every_algorithm_equals_the_equation(
    rng, monkeypatch, a_shape, w_shape, options, forward, input_gradient
):
    """Whatever is chosen, Z, dA_prev, dW and db are the equation's (float64)."""
    a, w = rng.standard_normal(a_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[3])
    dz = None
    results = []
    if input_gradient == "taps":  # taps' dW reads A_prev: offered where no im2col matrix is kept
        monkeypatch.setattr("convmath.kernels.rules.KEEP_COLS_BYTES", 0)
    chosen: list[str] = []
    offered = _forced(monkeypatch, forward, input_gradient, chosen)
    for kernels in (True, False):
        with cm.use_kernels(kernels):
            tensors = [cm.Tensor(x, requires_grad=True) for x in (a, w, b)]
            z = F.conv2d(*tensors, **options)
            dz = np.cos(np.arange(z.size).reshape(z.shape)) if dz is None else dz
            z.backward(dz)
            results.append([z.data, *(t.grad for t in tensors)])
    assert {forward, input_gradient} <= set(offered)
    assert chosen == [forward, input_gradient]  # so this case ran what it names
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


def test_the_candidates_offered(monkeypatch, rng):
    """Winograd only where it computes the layer; the dual convolution only at stride 1."""
    for (a_shape, w_shape, options), expected in zip(CONV_LAYERS, OFFERED, strict=True):
        offered = _forced(monkeypatch, "im2col", "col2im")
        x = cm.Tensor(rng.standard_normal(a_shape), requires_grad=True)
        z = F.conv2d(x, cm.Tensor(rng.standard_normal(w_shape)), **options)
        z.backward(np.ones(z.shape))
        assert set(offered) == expected, (a_shape, w_shape, options)


@pytest.mark.parametrize("forward", ["im2col", "winograd"])
def test_a_choice_gives_the_same_bits_on_any_thread_count(rng, monkeypatch, tier, forward):
    a = rng.standard_normal((16, 12, 12, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    _forced(monkeypatch, forward, "dual-winograd" if forward == "winograd" else "dual")
    monkeypatch.setattr("convmath.kernels.rules.MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr("convmath.kernels.rules.CHUNK_BYTES", 4096)
    results = []
    for count in (1, 2, 3):
        with cm.using_threads(count):
            tensors = [cm.Tensor(x, requires_grad=True) for x in (a, w)]
            z = F.conv2d(*tensors, padding=1)
            z.backward(np.sin(z.data))
            results.append([z.data, *(t.grad for t in tensors)])
    for other in results[1:]:
        for got, want in zip(other, results[0], strict=True):
            np.testing.assert_array_equal(got, want)


def test_measuring_a_real_layer_lists_it_and_agrees_with_the_rule(rng):
    a = rng.standard_normal((4, 10, 10, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    results = []
    for policy in ("rule", "measure"):
        with autotune.using_policy(policy):
            tensors = [cm.Tensor(x, requires_grad=True) for x in (a, w)]
            z = F.conv2d(*tensors, padding=1)
            z.backward(np.sin(z.data))
            results.append([z.data, *(t.grad for t in tensors)])
    measured = autotune.choices("measure")
    assert [choice.op for choice in measured] == ["conv2d forward", "conv2d input gradient"]
    assert set(measured[0].seconds) == {"im2col", "winograd"}
    assert set(measured[1].seconds) == {"col2im", "dual", "dual-winograd"}
    assert measured[0].layer == "10x10x8 -> 8, 3x3 s1 p1, batch 4"
    assert all(seconds > 0 for choice in measured for seconds in choice.seconds.values())
    for got, want in zip(*results, strict=True):  # float32 rounding apart, whatever was chosen
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())

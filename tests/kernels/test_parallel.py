"""Batch chunks on worker threads: the split, the workers, and each chunked op against itself."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import convmath as cm
import convmath.functional as F
from convmath.inspect.gradcheck import assert_gradients_match
from convmath.kernels import parallel, rules
from convmath.kernels.conv import conv2d_relu
from convmath.kernels.normalization import batch_norm_relu


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Two workers and chunks of a few hundred bytes, so that every op really splits."""
    monkeypatch.setattr(rules, "CHUNK_BYTES", 256)
    monkeypatch.setattr(rules, "MIN_PARALLEL_BYTES", 0)
    with parallel.using_threads(2):
        yield


class TestChunkBounds:
    @pytest.mark.parametrize(
        ("m", "per_example", "threads"),
        [(1, 10, 2), (7, 100, 2), (128, 1 << 20, 2), (5, 1, 1), (0, 10, 2)],
    )
    def test_ranges_cover_the_batch_once_in_order(self, m, per_example, threads):
        with parallel.using_threads(threads):
            chunks = parallel.chunk_bounds(m, per_example, target=256)
        assert [i for chunk in chunks for i in chunk] == list(range(m))
        sizes = [len(chunk) for chunk in chunks]
        assert max(sizes) - min(sizes) <= 1

    @pytest.mark.parametrize("threads", [1, 2, 3])
    def test_the_split_does_not_depend_on_the_workers(self, threads):
        with parallel.using_threads(threads):
            assert len(parallel.chunk_bounds(64, 1 << 15)) == rules.MIN_CHUNKS  # 2 MiB: shared
            assert len(parallel.chunk_bounds(64, 1 << 20)) == 22  # 64 MiB in 3 MiB chunks
            assert len(parallel.chunk_bounds(64, 8)) == 1  # 512 bytes: not worth a hand-over

    def test_chunk_size_follows_the_target(self):
        chunks = parallel.chunk_bounds(100, 1000, target=10_000)
        assert len(chunks) == 10


class TestRunChunks:
    def test_each_chunk_runs_once_on_its_fixed_worker(self):
        chunks = [range(k, k + 1) for k in range(7)]
        seen: dict[int, tuple[int, str]] = {}

        def work(chunk, worker):
            seen[chunk.start] = (worker, threading.current_thread().name)

        with parallel.using_threads(2):
            parallel.run_chunks(chunks, work)
        assert sorted(seen) == list(range(7))
        assert all(worker == start % 2 for start, (worker, _) in seen.items())
        assert len({name for _, name in seen.values()}) == 2

    def test_an_error_in_a_worker_reaches_the_caller(self):
        def work(chunk, worker):
            if chunk.start == 3:
                raise cm.ShapeError("chunk 3 failed")

        with parallel.using_threads(2), pytest.raises(cm.ShapeError, match="chunk 3 failed"):
            parallel.run_chunks([range(k, k + 1) for k in range(6)], work)

    def test_nested_calls_run_on_the_calling_thread(self):
        names = []

        def inner(chunk, worker):
            names.append((threading.current_thread().name, worker))

        def outer(chunk, worker):
            parallel.run_chunks([range(0, 1), range(1, 2)], inner)

        with parallel.using_threads(2):
            parallel.run_chunks([range(0, 1), range(1, 2)], outer)
        assert all(worker == 0 for _, worker in names)
        assert len(names) == 4

    def test_sum_over_parts_adds_in_a_fixed_order(self, tiny_chunks):
        values = np.random.default_rng(0).standard_normal((1000, 3)).astype(np.float32)
        first = parallel.sum_over_parts(1000, 12, lambda part: values[part].sum(axis=0))
        for _ in range(5):
            again = parallel.sum_over_parts(1000, 12, lambda part: values[part].sum(axis=0))
            assert np.array_equal(first, again)
        np.testing.assert_allclose(first, values.sum(axis=0, dtype=np.float64), rtol=1e-5)


class TestThreads:
    @pytest.mark.parametrize("count", [1, 2])
    def test_blas_is_single_threaded_only_while_convmath_computes(self, count):
        before = _blas_threads()
        if max(before, default=1) == 1:
            pytest.skip("BLAS runs on one thread already: nothing to hold or give back")
        seen: list[list[int]] = []
        with parallel.using_threads(count):
            assert parallel.get_threads() == count
            assert _blas_threads() == before  # choosing a count changes no global setting
            parallel.run_chunks(
                [range(0, 1), range(1, 2)], lambda chunk, worker: seen.append(_blas_threads())
            )
        assert seen == [[1] * len(before)] * 2
        assert _blas_threads() == before
        assert parallel.get_threads() == parallel.available_cpus()

    def test_blas_is_given_back_when_the_last_thread_leaves(self):
        before = _blas_threads()
        if max(before, default=1) == 1:
            pytest.skip("BLAS runs on one thread already: nothing to hold or give back")
        entered, release = threading.Event(), threading.Event()

        def hold() -> None:
            with parallel.single_threaded_blas():
                entered.set()
                release.wait(10)

        other = threading.Thread(target=hold)
        other.start()
        entered.wait(10)
        try:
            with parallel.single_threaded_blas(), parallel.single_threaded_blas():
                assert all(count == 1 for count in _blas_threads())
            assert all(count == 1 for count in _blas_threads())  # the other thread still holds
        finally:
            release.set()
            other.join()
        assert _blas_threads() == before

    def test_a_loop_of_ones_own_holds_blas_in_modules_and_back_propagation(self, rng):
        from convmath import nn

        before, seen = _blas_threads(), []

        class Spy(nn.Module):
            def forward(self, x):
                seen.append(_blas_threads())
                return x

        dense = nn.Dense(4, 2, rng=rng)
        x = cm.Tensor(rng.standard_normal((3, 4)).astype(np.float32))
        J = nn.Sequential(Spy(), dense)(x).sum()
        J.backward()  # a bare op's graph: back propagation holds BLAS as modules do
        assert seen == [[1] * len(before)]
        assert _blas_threads() == before
        assert dense.W.grad is not None

    def test_workers_start_on_first_use_without_being_asked(self, rng):
        parallel.set_threads(None)  # the default a fresh process has: every available CPU
        if parallel.available_cpus() < 2:
            pytest.skip("one CPU: no workers to start")
        a = cm.Tensor(rng.standard_normal((64, 16, 16, 8)).astype(np.float32))
        w = cm.Tensor(rng.standard_normal((3, 3, 8, 8)).astype(np.float32))
        F.conv2d(a, w, padding=1)
        assert parallel._crew is not None
        assert parallel._crew.size == parallel.available_cpus()

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
    def test_bad_thread_counts(self, bad):
        with pytest.raises(cm.InvalidArgumentError, match="threads must be a positive int"):
            parallel.set_threads(bad)

    def test_default_is_every_available_cpu(self):
        with parallel.using_threads():
            assert parallel.get_threads() == parallel.available_cpus()


def _conv(stride=1, padding=1, dilation=1, groups=1):
    def op(a, w, b):
        return F.conv2d(a, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    return op


CHUNKED_OPS = {
    # name: (op, input shapes)
    "conv 3x3 same": (_conv(), [(5, 6, 6, 8), (3, 3, 8, 4), (4,)]),
    "conv few channels": (_conv(), [(5, 6, 6, 1), (3, 3, 1, 4), (4,)]),
    "conv strided dilated": (
        _conv(stride=2, dilation=2, padding=2),
        [(4, 9, 9, 4), (3, 3, 4, 6), (6,)],
    ),
    "conv groups": (_conv(groups=2), [(3, 5, 5, 4), (3, 3, 2, 6), (6,)]),
    "conv relu": (
        lambda a, w, b: conv2d_relu(a, w, b, padding=1),
        [(5, 6, 6, 3), (3, 3, 3, 4), (4,)],
    ),
    "batch norm relu": (
        lambda a, g, b: batch_norm_relu(a, g, b),
        [(6, 4, 4, 3), (3,), (3,)],
    ),
    "batch norm": (lambda a, g, b: F.batch_norm(a, g, b), [(6, 4, 4, 3), (3,), (3,)]),
    "relu": (lambda a: F.relu(a), [(7, 3, 3, 2)]),
    "max pool 2x2": (lambda a: F.max_pool2d(a, 2), [(5, 6, 6, 3)]),
    "max pool 3x3 overlapping": (lambda a: F.max_pool2d(a, 3, stride=1, padding=1), [(5, 5, 5, 2)]),
    "dense": (lambda a, w, b: F.dense(a, w, b), [(9, 5), (5, 4), (4,)]),
    "add sub mul": (lambda a, b: (a + b) * (a - b) * 3.0, [(6, 4, 3), (6, 4, 3)]),
    "mul broadcast": (lambda a, b: a * b, [(6, 4, 3), (3,)]),
    "squared error": (lambda a, b: F.mean((a - b) ** 2), [(6, 5, 2), (6, 5, 2)]),
    "concat channels": (lambda a, b: F.concat([a, b], axis=-1) * 2.0, [(5, 3, 3, 2), (5, 3, 3, 4)]),
}


@pytest.mark.parametrize("name", CHUNKED_OPS)
def test_chunked_ops_match_the_unsplit_op_and_their_gradients(rng, tiny_chunks, monkeypatch, name):
    op, shapes = CHUNKED_OPS[name]
    arrays = [rng.standard_normal(shape) for shape in shapes]
    tensors = [cm.Tensor(array, requires_grad=True) for array in arrays]
    out = op(*tensors)
    out.backward(np.cos(out.data))
    m, per_example = shapes[0][0], 8 * int(np.prod(shapes[0][1:]))
    assert len(parallel.chunk_bounds(m, per_example)) > 1  # the op above ran split
    # The reference runs unsplit: one chunk of the whole batch, on one thread.
    monkeypatch.setattr(rules, "CHUNK_BYTES", 1 << 40)
    monkeypatch.setattr(rules, "MIN_PARALLEL_BYTES", 1 << 40)
    with parallel.using_threads(1):
        assert list(parallel.chunk_bounds(m, per_example)) == [range(m)]
        reference = [cm.Tensor(array, requires_grad=True) for array in arrays]
        expected = op(*reference)
        expected.backward(np.cos(expected.data))
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)
    for got, want in zip(tensors, reference, strict=True):
        np.testing.assert_allclose(got.grad, want.grad, rtol=1e-10, atol=1e-12)
    assert_gradients_match(op, arrays, rng=rng)


@pytest.mark.parametrize("model_name", ["resnet", "lenet5"])
def test_a_seeded_training_run_gives_the_same_bits_on_any_number_of_workers(
    monkeypatch, model_name
):
    from convmath import models, optim

    monkeypatch.setattr(rules, "MIN_PARALLEL_BYTES", 0)
    monkeypatch.setattr(rules, "CHUNK_BYTES", 4096)

    def train(threads: int) -> np.ndarray:
        rng = np.random.default_rng(3)
        shape = (8, 8, 3) if model_name == "resnet" else (28, 28, 1)
        options = {"depth": 8} if model_name == "resnet" else {}
        model = models.build(model_name, shape, 10, rng=rng, **options)
        opt = optim.SGD(model.parameters(), 0.1, momentum=0.9)
        x = rng.standard_normal((6, *shape)).astype(np.float32)
        labels = rng.integers(0, 10, 6)
        with parallel.using_threads(threads):
            for _ in range(3):
                opt.zero_grad()
                F.softmax_cross_entropy(model(cm.Tensor(x)), labels).backward()
                opt.step()
        return np.concatenate([p.data.ravel() for p in model.parameters()])

    one = train(1)
    assert np.array_equal(one, train(2))
    assert np.array_equal(one, train(3))
    assert np.array_equal(one, train(1))


class TestReviewFindings:
    def test_zero_dimensional_tensors_through_chunked_elementwise_ops(self):
        x = cm.Tensor(np.array(3.0, dtype=np.float32), requires_grad=True)
        assert F.relu(x).data == 3.0
        (x**2).backward()
        assert x.grad == 6.0
        y = cm.Tensor(np.array(-2.0), requires_grad=True)
        F.relu(y).backward()
        assert y.grad == 0.0

    def test_run_chunks_with_no_chunks_does_nothing(self):
        calls = []
        with parallel.using_threads(2):
            parallel.run_chunks([], lambda chunk, worker: calls.append(chunk))
        parallel.run_chunks([], lambda chunk, worker: calls.append(chunk))
        assert calls == []

    def test_set_threads_inside_a_chunk_is_refused(self):
        def work(chunk, worker):
            parallel.set_threads(1)

        with (
            parallel.using_threads(2),
            pytest.raises(cm.InvalidArgumentError, match="inside a chunked op"),
        ):
            parallel.run_chunks([range(0, 1), range(1, 2)], work)
        assert parallel.get_threads() == parallel.available_cpus()

    def test_changing_threads_while_another_thread_computes(self, rng):
        a = cm.Tensor(rng.standard_normal((64, 16, 16, 8)).astype(np.float32))
        w = cm.Tensor(rng.standard_normal((3, 3, 8, 8)).astype(np.float32))
        expected = F.conv2d(a, w, padding=1).data
        failures: list[BaseException] = []
        stop = threading.Event()

        def compute() -> None:
            try:
                while not stop.is_set():
                    got = F.conv2d(a, w, padding=1).data  # BLAS's own threads may change last bits
                    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
            except BaseException as error:  # reported below
                failures.append(error)

        thread = threading.Thread(target=compute)
        thread.start()
        try:
            for count in [2, None, 3, 1, None, 2] * 5:
                parallel.set_threads(count)
        finally:
            parallel.set_threads(None)
            stop.set()
            thread.join()
        assert failures == []

    @pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
    def test_a_forked_child_starts_its_own_workers(self, rng):
        import os

        a = cm.Tensor(rng.standard_normal((64, 16, 16, 8)).astype(np.float32))
        w = cm.Tensor(rng.standard_normal((3, 3, 8, 8)).astype(np.float32))
        with parallel.using_threads(2):
            expected = F.conv2d(a, w, padding=1).data
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: compute, report, leave without cleanup
                ok = np.array_equal(F.conv2d(a, w, padding=1).data, expected)
                os.write(write_end, b"ok" if ok else b"no")
                os._exit(0)
            os.close(write_end)
            answer = os.read(read_end, 2)
            os.close(read_end)
            os.waitpid(pid, 0)
        assert answer == b"ok"


def test_max_pool_with_a_window_side_over_256(rng):
    a = cm.Tensor(rng.standard_normal((1, 1, 300, 2)), requires_grad=True)
    z = F.max_pool2d(a, (1, 300))
    np.testing.assert_allclose(z.data[0, 0, 0], a.data[0, 0].max(axis=0))
    z.sum().backward()
    assert a.grad.sum() == 2.0
    assert a.grad[0, 0, a.data[0, 0, :, 0].argmax(), 0] == 1.0


def test_subclasses_that_change_forward_are_not_fused():
    from convmath import nn

    class ShiftedConv(nn.Conv2D):
        def forward(self, x):
            return super().forward(x) + 1.0

    class DoubledNorm(nn.BatchNorm2D):
        def forward(self, x):
            return super().forward(x) * 2.0

    rng = np.random.default_rng(0)
    x = cm.Tensor(rng.standard_normal((2, 5, 5, 3)).astype(np.float32))
    for model in (
        nn.Sequential(ShiftedConv(3, 4, 3, padding=1, rng=rng), nn.ReLU()),
        nn.Sequential(nn.Conv2D(3, 4, 3, padding=1, rng=rng), DoubledNorm(4), nn.ReLU()),
    ):
        for training in (True, False):
            model.train(training)
            one_by_one = x
            for layer in model:
                one_by_one = layer(one_by_one)
            np.testing.assert_allclose(model(x).data, one_by_one.data, rtol=1e-6, atol=1e-6)


def test_ordered_sum_adds_in_batch_order_whatever_the_arrival_order():
    rng = np.random.default_rng(9)
    chunks = [range(k, k + 1) for k in range(6)]
    values = [rng.standard_normal(4).astype(np.float32) * 10.0**k for k in range(6)]
    expected = values[0].copy()
    for value in values[1:]:
        expected += value
    for arrival in ([5, 4, 3, 2, 1, 0], [1, 0, 3, 2, 5, 4], list(range(6))):
        total = parallel.OrderedSum(chunks)
        for index in arrival:
            total.add(chunks[index], values[index])
        assert np.array_equal(total.result(), expected)
    incomplete = parallel.OrderedSum(chunks)
    incomplete.add(chunks[1], values[1])
    with pytest.raises(RuntimeError, match="missing"):
        incomplete.result()


def test_two_callers_at_once_each_get_all_their_chunks():
    """One caller has the workers; the other runs its chunks on its own thread meanwhile."""
    start = threading.Barrier(2)
    seen: dict[str, list[int]] = {"a": [], "b": []}
    lock = threading.Lock()

    def caller(name: str) -> None:
        def work(chunk, worker):
            with lock:
                seen[name].append(chunk.start)

        start.wait()
        for _ in range(50):
            parallel.run_chunks([range(k, k + 1) for k in range(8)], work)

    with parallel.using_threads(2):
        threads = [threading.Thread(target=caller, args=(name,)) for name in seen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for starts in seen.values():
        assert sorted(starts) == sorted(list(range(8)) * 50)


def test_a_retired_crew_finishes_its_op_first():
    from convmath.kernels.crew import Crew

    crew = Crew(2)
    release = threading.Event()
    done: list[int] = []

    def job(worker: int) -> None:
        if worker == 1:
            release.wait(5)
        done.append(worker)

    assert crew.claim()
    runner = threading.Thread(target=crew.run, args=(job, 2))
    runner.start()
    retiring = threading.Thread(target=crew.retire)
    retiring.start()
    retiring.join(0.2)
    assert retiring.is_alive()  # waits for the op
    release.set()
    runner.join(5)
    retiring.join(5)
    assert sorted(done) == [0, 1]
    assert not crew.claim()  # retired: callers run alone


def test_an_op_interrupted_while_it_waits_leaves_the_next_one_whole(monkeypatch):
    """Ctrl-C while the caller waits for a worker: its late answer is not the next op's."""
    from convmath.kernels import crew as crew_module

    collect = crew_module._Member.collect
    interrupted: list[bool] = []

    def interrupted_once(member):
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return collect(member)

    def slow(chunk, worker):
        if worker == 1:
            threading.Event().wait(0.3)

    with parallel.using_threads(2):
        monkeypatch.setattr(crew_module._Member, "collect", interrupted_once)
        with pytest.raises(KeyboardInterrupt):
            parallel.run_chunks([range(0, 1), range(1, 2)], slow)
        monkeypatch.setattr(crew_module._Member, "collect", collect)
        for _ in range(3):
            written = np.zeros(4)

            def fill(chunk, worker, written=written):
                if worker == 1:
                    threading.Event().wait(0.05)
                written[chunk.start] = 1

            parallel.run_chunks([range(k, k + 1) for k in range(4)], fill)
            assert written.tolist() == [1, 1, 1, 1]

"""The one-process world, the shares of a batch, and sync batch norm's equations (no MPI needed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import convmath as cm
from convmath import data
from convmath.distributed import DataParallel, World, launched, world
from convmath.distributed.sync_batch_norm import synced_over
from convmath.distributed.world import FORWARD_WAIT_S, SAY_ONCE_WAIT_S
from convmath.errors import MissingDependencyError
from convmath.ops.normalization import BatchNorm


def test_without_a_launcher_the_world_is_one_process(monkeypatch) -> None:
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(name, raising=False)
    assert not launched()
    assert (world().rank, world().size, world().is_root) == (0, 1, True)
    assert not DataParallel(world(), seed=0).active


def test_every_example_of_a_batch_is_in_exactly_one_share() -> None:
    for size in (1, 2, 3, 7):
        for n in (7, 8, 37, 50):
            shares = [World.__new__(World) for _ in range(size)]
            for rank, share in enumerate(shares):
                share.rank, share.size = rank, size
            parts = [np.arange(n)[share.share(n)] for share in shares]
            assert np.array_equal(np.concatenate(parts), np.arange(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_the_shares_of_batches_are_the_global_batches_cut_in_rank_order() -> None:
    images = np.arange(23 * 4, dtype=np.uint8).reshape(23, 2, 2, 1)
    labels = np.arange(23)

    def batches(share=None):
        return data.Batches(images, labels, 6, rng=np.random.default_rng(5), share=share)

    whole = [y for _, y in batches()]
    ranks = [World.__new__(World) for _ in range(3)]
    for rank, share in enumerate(ranks):
        share.rank, share.size = rank, 3
    parts = [[y for _, y in batches(share.share)] for share in ranks]
    for k, y in enumerate(whole):
        assert np.array_equal(np.concatenate([part[k] for part in parts]), y)


def test_sync_batch_norm_on_one_process_is_batch_norm_forward_and_backward() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3, 3, 5)).astype(np.float64)
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    upstream = rng.normal(size=a.shape)
    results = []
    for op in (BatchNorm, synced_over(World())):
        with cm.dispatch.compute_across({BatchNorm: op} if op is not BatchNorm else {}):
            x, g, b = (cm.Tensor(v, requires_grad=True) for v in (a, gamma, beta))
            mean, var = np.zeros(5), np.ones(5)
            z = cm.functional.batch_norm(x, g, b, mean, var, training=True)
            (z * cm.Tensor(upstream)).sum().backward()
            results.append((z.data, x.grad, g.grad, b.grad, mean, var))
    for plain, synced in zip(*results, strict=True):
        np.testing.assert_allclose(synced, plain, rtol=1e-12, atol=1e-12)


def test_the_op_computed_across_processes_is_chosen_kernels_or_not() -> None:
    synced = synced_over(World())
    with cm.dispatch.compute_across({BatchNorm: synced}):
        assert cm.dispatch.kernel_for(BatchNorm) is synced
        with cm.use_kernels(False):
            assert cm.dispatch.kernel_for(BatchNorm) is synced
    assert cm.dispatch.kernel_for(BatchNorm) is not synced


def test_a_single_process_data_parallel_changes_nothing() -> None:
    replicas = DataParallel(World(), seed=0, sync_batch_norm=True)
    assert not replicas.active
    assert not replicas.sync_batch_norm


def test_convmath_mpi_0_keeps_one_process_whatever_the_launcher_says(monkeypatch) -> None:
    monkeypatch.setenv("PMIX_RANK", "0")
    monkeypatch.setenv("CONVMATH_MPI", "0")
    assert not launched()


@pytest.mark.parametrize(
    "variables",
    [{"SLURM_STEP_NUM_TASKS": "2"}, {"SLURM_NTASKS": "4", "PMIX_RANK": "1"}, {"PMIX_RANK": "0"}],
)
def test_a_launcher_without_mpi4py_is_refused_not_run_n_times(monkeypatch, variables) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if not installed
    world.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match="needs mpi4py"):
            world()
    finally:
        world.cache_clear()


def test_one_task_under_a_launcher_without_mpi4py_is_one_process(monkeypatch) -> None:
    monkeypatch.setenv("PMI_SIZE", "1")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    world.cache_clear()
    try:
        assert world().size == 1
    finally:
        world.cache_clear()


class TwoRanks:
    """The communicator of rank ``rank`` of two, as far as ``World`` asks."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return 2


@pytest.mark.parametrize(("rank", "waits"), [(0, []), (1, [SAY_ONCE_WAIT_S + FORWARD_WAIT_S])])
def test_an_error_is_said_by_rank_0_at_once_and_by_another_rank_after_a_wait(
    monkeypatch, capsys, rank, waits
) -> None:
    """Rank 0's abort ends the other ranks while they wait: what all meet is said once."""
    waited, aborted = [], []
    monkeypatch.setattr("time.sleep", waited.append)
    monkeypatch.setattr(World, "abort", lambda self, status: aborted.append(status))
    World(TwoRanks(rank)).stop("convmath train: error: the reason", 2)
    assert waited == waits
    assert aborted == [2]
    assert capsys.readouterr().err == "convmath train: error: the reason\n"


class AbortingRanks(TwoRanks):
    """Two ranks whose ``Abort`` is recorded, with what had been waited for before it."""

    def __init__(self, rank: int, waited: list[float]) -> None:
        super().__init__(rank)
        self.waited = waited
        self.aborts: list[tuple[int, list[float]]] = []

    def Abort(self, status: int) -> None:
        self.aborts.append((status, list(self.waited)))


def test_a_rank_gives_the_launcher_time_to_forward_its_words_before_it_aborts(
    monkeypatch,
) -> None:
    """An abort that beats the launcher's read of the rank's pipe loses the error message."""
    waited: list[float] = []
    monkeypatch.setattr("time.sleep", waited.append)
    monkeypatch.setattr("os.open", lambda *args: -1)  # keep the test's own standard error
    monkeypatch.setattr("os.dup2", lambda *fds: None)
    comm = AbortingRanks(0, waited)
    with pytest.raises(SystemExit) as stopped:
        World(comm).abort(2)
    assert comm.aborts == [(2, [FORWARD_WAIT_S])]
    assert stopped.value.code == 2
    assert FORWARD_WAIT_S >= 0.5
    assert SAY_ONCE_WAIT_S >= 2 * FORWARD_WAIT_S  # rank 0's abort still comes well first

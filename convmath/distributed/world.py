"""The processes of one training job: rank, size, and the few collectives data parallelism needs.

Started by ``mpiexec -n N`` (or ``srun``), convmath finds its rank and the
world size through mpi4py (the optional ``mpi`` extra). Started plainly, or
without mpi4py, the world is one process and every collective is the
identity, so a single process behaves exactly as before. Only buffer-based
collectives are used (NumPy arrays, no pickled objects).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Iterator
from functools import cache
from typing import Any, NoReturn

import numpy as np

from convmath.errors import ConvMathError, MissingDependencyError
from convmath.schema import printable

# Set by the launchers: MPICH and Intel MPI (PMI), Open MPI, Slurm's srun, PMIx.
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_STEP_NUM_TASKS")
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")
OPT_OUT = "CONVMATH_MPI"  # CONVMATH_MPI=0: one process, whatever the environment says
# A rank other than 0 waits this long before it says an error: if every rank met it, rank 0
# has said it by then and ended the job, so it is said once (after MPI_Init, ranks run in step).
SAY_ONCE_WAIT_S = 3.0
# What a rank writes reaches the user through the launcher, which reads the rank's pipes; an
# abort that comes before it has read them can lose the words (seen under load with MPICH's
# Hydra). So a rank that has said why waits this long before it aborts the job.
FORWARD_WAIT_S = 1.0


class World:
    """``size`` processes; this one is ``rank``. ``comm`` is mpi4py's, or None for one."""

    def __init__(self, comm: Any = None, local_size: int = 1) -> None:
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.local_size = local_size  # the ranks on this machine, which share its cores

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's contiguous part of n items: sizes differ by at most one, in rank order."""
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)

    def sum(self, array: np.ndarray) -> np.ndarray:
        """The element-wise sum of ``array`` over all ranks (the same result on every rank)."""
        array = np.ascontiguousarray(array)
        if self.comm is None:
            return array
        total = np.empty_like(array)
        self.comm.Allreduce(array, total)
        return total

    def broadcast(self, array: np.ndarray) -> None:
        """Overwrite ``array`` (the same shape and type on every rank) with the root's, in place."""
        if self.comm is not None:
            buffer = np.ascontiguousarray(array)
            self.comm.Bcast(buffer, root=0)
            if buffer is not array:
                array[...] = buffer.reshape(array.shape)

    def gather_rows(self, array: np.ndarray) -> np.ndarray:
        """Every rank's rows, concatenated in rank order (on every rank)."""
        if self.comm is None:
            return array
        array = np.ascontiguousarray(array)
        counts = self.sum(np.eye(self.size, dtype=np.int64)[self.rank] * len(array))
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        out = np.empty((int(counts.sum()), *array.shape[1:]), dtype=array.dtype)
        self.comm.Allgatherv(array, [out, counts * row])
        return out

    def barrier(self) -> None:
        if self.comm is not None:
            self.comm.Barrier()

    @contextlib.contextmanager
    def stop_all_on_error(self, label: str) -> Iterator[None]:
        """Under MPI, an exception on this rank ends every rank (they would wait for it forever).

        The rank says why on its standard error, as ``LABEL: error (rank r of N): ...``
        (a traceback for what is not a convmath error), then ``MPI_Abort`` ends the job
        with status 2 (1 for a bug, 130 for an interrupt). What every rank meets is said
        by rank 0 alone (:meth:`stop`).
        """
        if self.comm is None or self.size == 1:
            yield
            return
        where = f"(rank {self.rank} of {self.size})"
        try:
            yield
        except KeyboardInterrupt:
            self.stop(f"{label}: interrupted {where}", 130)
        except (ConvMathError, OSError) as error:
            self.stop(f"{label}: error {where}: {printable(' '.join(str(error).split()))}", 2)
        except Exception:
            self.stop(f"{label}: unexpected error {where}:\n{traceback.format_exc().rstrip()}", 1)

    def stop(self, message: str, status: int) -> NoReturn:
        """Say ``message`` on standard error and stop every rank with ``status``.

        An error that every rank meets (a bad option or value, the same missing file) is
        said once, by rank 0: any other rank waits :data:`SAY_ONCE_WAIT_S` (and the
        :data:`FORWARD_WAIT_S` rank 0 gives its words before it aborts) before it says its
        own, and rank 0's abort ends it while it waits. An error of one rank alone is said
        by that rank, after the wait.
        """
        if not self.is_root:
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: say it now
                time.sleep(SAY_ONCE_WAIT_S + FORWARD_WAIT_S)
        print(message, file=sys.stderr)
        self.abort(status)

    def abort(self, status: int) -> NoReturn:
        """Stop every rank now (after this rank has said why on its standard error)."""
        sys.stderr.flush()
        sys.stdout.flush()
        if self.comm is not None and self.size > 1:
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(FORWARD_WAIT_S)
            # MPI's own "Abort(2) on node 0 ..." would only repeat what this rank has said
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
            self.comm.Abort(status)
        raise SystemExit(status)


def stop_job(message: str, status: int) -> NoReturn:
    """Say ``message`` and end with ``status``: this process, or every rank under MPI, once.

    Started by an MPI launcher, the error is said by rank 0 alone when every rank meets it
    (:meth:`World.stop`); otherwise it is printed and ``SystemExit(status)`` raised.
    """
    try:
        here = world() if launched() else World()
    except ConvMathError:  # launched without mpi4py: as far as convmath knows, one process
        here = World()
    here.stop(message, status)


def launched() -> bool:
    """Whether an MPI launcher started this process (so mpi4py should be asked)."""
    if os.environ.get(OPT_OUT, "").strip() == "0":
        return False
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


@cache
def world() -> World:
    """The world of this process: MPI's when a launcher started it, else one process."""
    if not launched():
        return World()
    try:
        from mpi4py import MPI
    except ImportError:
        sizes = [os.environ[n].strip() for n in SIZE_VARIABLES if n in os.environ]
        if not sizes or any(size != "1" for size in sizes):  # a lone PMIX_RANK says nothing
            raise MissingDependencyError(
                "started by an MPI launcher, but data-parallel training needs mpi4py:"
                " pip install 'convmath[mpi]' (or set CONVMATH_MPI=0 for one process)"
            ) from None
        return World()
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return World()
    return World(comm, comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size())

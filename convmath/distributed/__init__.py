"""Training on many processes over MPI: ``mpiexec -n N convmath train ...``.

:func:`world` says which process this is; :class:`DataParallel` keeps N
replicas of a model identical while each computes its share of every
global mini-batch. Without a launcher (or without mpi4py) the world is one
process and nothing changes. See docs/DISTRIBUTED.md.
"""

from convmath.distributed.data_parallel import DataParallel
from convmath.distributed.world import World, launched, world

__all__ = ["DataParallel", "World", "launched", "world"]

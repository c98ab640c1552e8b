"""Run under mpiexec by the tests: trains, and after every step checks that all replicas agree.

    mpiexec -n N python replicas_check.py OUT MODEL

Each rank hashes its weights and optimizer state after every optimizer step; the
hashes are gathered and compared; rank 0 writes OUT/replicas.json with the
number of steps and the steps at which some replica differed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from convmath.distributed import world
from convmath.run import TrainConfig, run_training


def main() -> None:
    out, model = Path(sys.argv[1]), sys.argv[2]
    ranks = world()
    differing: list[int] = []
    steps = 0

    def check(trainer, epoch: int, step: int) -> None:
        nonlocal steps
        digest = hashlib.sha256()
        # The weights and the optimizer's slots; batch norm's running statistics follow each
        # rank's own share and are averaged before every evaluation and checkpoint.
        for _, p in trainer.named_parameters:
            digest.update(np.ascontiguousarray(p.data).tobytes())
        for _, array in sorted(trainer.optimizer.state_dict().items()):
            digest.update(np.ascontiguousarray(array).tobytes())
        mine = np.frombuffer(digest.digest(), dtype=np.uint8)[None]
        every = ranks.gather_rows(mine)
        steps += 1
        if not (every == every[0]).all():
            differing.append(steps)

    config = TrainConfig(epochs=2, train_limit=300, model=model, seed=4, batch_size=37)
    run_training(config, out, on_step=[check], log=lambda _: None)
    if ranks.is_root:
        (out / "replicas.json").write_text(
            json.dumps({"size": ranks.size, "steps": steps, "differing": differing})
        )


if __name__ == "__main__":
    main()

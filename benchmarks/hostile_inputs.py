"""How fast, and in how much memory, does convmath refuse hostile input? One real process a case.

Run from the repository root:

    python benchmarks/hostile_inputs.py

Runs the sample of tests/test_hostile_cli.py (one case of each class: hostile
checkpoints against each kind of command, options asking for terabytes, a
gzip bomb, an ICO file named .png, a history with NaN) as real ``convmath``
processes, and prints for each its exit status, wall time (starting Python
and NumPy included) and peak resident memory as the kernel measured it,
then the worst of each.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile_corpus import (
    CHECKPOINT_CASES,
    DATA_CASES,
    OPTION_CASES,
    Original,
    checkpoint_commands,
)
from test_hostile_cli import _sample, run_process

from convmath.run import TrainConfig, run_training


def main() -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        run_training(TrainConfig(epochs=1, train_limit=200), root / "run", log=lambda _: None)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "digit.png")
        original = Original(root / "run" / "last.safetensors")
        worst_seconds = worst_bytes = 0.0
        for number, (kind, case, command) in enumerate(_sample()):
            where = root / f"case{number}"
            where.mkdir()
            if kind == "checkpoint":
                checkpoint = CHECKPOINT_CASES[case](original, where / f"{case}.safetensors")
                argv = checkpoint_commands(checkpoint, root / "digit.png", where)[command]
            elif kind == "option":
                argv = OPTION_CASES[case]
                argv = [*argv, "--out", "run"] if argv[0] == "train" else argv
            else:
                argv = DATA_CASES[case](where)
            status, lines, seconds, peak = run_process(argv, where)
            worst_seconds, worst_bytes = max(worst_seconds, seconds), max(worst_bytes, peak)
            print(
                f"{kind:<10} {case:<22} {command or argv[0]:<11} status {status}"
                f"  {seconds:4.2f} s  {peak / 2**20:6.1f} MiB  {lines[0][:60] if lines else ''}"
            )
        print(f"worst: {worst_seconds:.2f} s, {worst_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()

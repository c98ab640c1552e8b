"""The same training through every door, each in a fresh process: img/s and the ratio to the CLI.

A door that needs process state only the command line sets (worker threads,
BLAS limited) would show here as a ratio well under 1. The doors:

- ``cli``: ``convmath train`` (what every other door is compared with);
- ``run_training``: ``convmath.run_training(TrainConfig(...))`` from Python;
- ``fit``: ``convmath.train.fit(model, (X, y), ...)`` on the same arrays and recipe;
- ``Trainer``: the loop itself, built by hand as docs/TUTORIAL.md section 6 does;
- ``serve``: the live training of ``convmath serve``, started through its JSON API with no
  page open: it trains the served model's architecture on its dataset (digits: a digits
  run served; mnist: the shipped LeNet-5 of MNIST served, whose live run takes all 54,000
  training images, not 20,000: its speed is per epoch all the same).

Workloads: ``digits`` (the default model, 5 epochs) and ``mnist`` (LeNet-5, 1 epoch on
20,000 images; needs ``--data-dir``). Speed is each run's own images per second over its
epochs (the trainer's clock, the same for every door), median of ``--rounds`` fresh
processes per door, the doors alternating. Then docs/TUTORIAL.md (every snippet) and the
README's Python example are timed as written, in a fresh process, against the same code
after ``convmath.set_threads`` with every CPU, as the command line sets it.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/doors.py \\
        --data-dir DATA_DIR --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from common import blas_report, emit

ROOT = Path(__file__).resolve().parents[1]
CONVMATH = str(Path(sys.executable).with_name("convmath"))  # the command beside this Python
WORKLOADS = {
    # name: (dataset, model, epochs, train_limit)
    "digits": ("digits", "digits_cnn", 5, None),
    "mnist": ("mnist", "lenet5", 1, 20_000),
}
RECIPE = {"batch_size": 32, "optimizer": "adam", "lr": 1e-3, "schedule": "cosine"}
RECIPE["augment"] = "crop:1"

# Each door prints one JSON line: the images per second of each epoch.
DOORS = {
    "run_training": """
        from convmath.run import TrainConfig, run_training
        config = TrainConfig(dataset=DATASET, model=MODEL, epochs=EPOCHS, train_limit=LIMIT,
                             data_dir=DATA_DIR, **RECIPE)
        rows = run_training(config, OUT, log=lambda line: None).state.history
    """,
    "fit": """
        from convmath.train import fit
        X, y, model = arrays_and_model()
        result = fit(model, (X, y), epochs=EPOCHS, label_smoothing=0.1, log=lambda line: None,
                   **RECIPE)
        rows = result.history
    """,
    "Trainer": """
        from convmath import data, optim
        from convmath.data.augment.spec import parse_augment
        from convmath.train import Trainer
        X, y, model = arrays_and_model()
        batches = data.Batches(X, y, RECIPE["batch_size"], rng=np.random.default_rng(0),
                               transform=parse_augment(RECIPE["augment"], X.shape[1:]))
        adam = optim.Adam(model.parameters(), lr=RECIPE["lr"])
        schedule = optim.make_schedule("cosine", RECIPE["lr"], EPOCHS * len(batches))
        trainer = Trainer(model, optimizer=adam, schedule=schedule, train=batches,
                          num_classes=10, epochs=EPOCHS, label_smoothing=0.1,
                          log=lambda line: None)
        rows = trainer.fit().history
    """,
}
PRELUDE = """
import json, numpy as np
from convmath import data, models
def arrays_and_model():
    images, labels = data.load(DATASET, "train", DATA_DIR)
    if LIMIT:
        images, labels = images[:LIMIT], labels[:LIMIT]
    if DATASET == "digits":  # pixel counts 0-16, as a uint8 array scaled by 1/255 would be
        images = (images.astype(np.float32) / 16).astype(np.float32)
    model = models.build(MODEL, images.shape[1:], 10, rng=np.random.default_rng(0))
    return images, labels, model
"""


def door_code(door: str, workload: str, data_dir: str | None, out: str) -> str:
    dataset, model, epochs, limit = WORKLOADS[workload]
    constants = (
        f"DATASET={dataset!r}; MODEL={model!r}; EPOCHS={epochs}; LIMIT={limit!r};"
        f" DATA_DIR={data_dir!r}; OUT={out!r}; RECIPE={RECIPE!r}"
    )
    return "\n".join(
        [
            constants,
            PRELUDE,
            textwrap.dedent(DOORS[door]),
            "print(json.dumps([row['images_per_second'] for row in rows]))",
        ]
    )


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode:
        raise SystemExit(f"a door failed:\n{done.stderr[-2000:]}")
    return done.stdout


def cli_speeds(workload: str, data_dir: str | None, out: str) -> list[float]:
    dataset, model, epochs, limit = WORKLOADS[workload]
    command = [CONVMATH, "train", "--dataset", dataset]
    command += ["--model", model, "--epochs", str(epochs), "--out", out]
    command += [f"--{key.replace('_', '-')}={value}" for key, value in RECIPE.items()]
    if limit:
        command += ["--train-limit", str(limit)]
    if data_dir:
        command += ["--data-dir", data_dir]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"convmath train failed: {done.stderr.strip()}")
    history = json.loads((Path(out) / "history.json").read_text())
    return [row["images_per_second"] for row in history]


def serve_speeds(workload: str, out: str, data_dir: str | None) -> list[float]:
    """Live training through the API of a real ``convmath serve``, of the model it serves."""
    from convmath.run import TrainConfig, run_training

    runs = Path(out) / "runs"
    served = []  # mnist: no run under runs/, so the default model, LeNet-5 of MNIST
    if workload == "digits":
        run_training(TrainConfig(epochs=1), runs / "served", log=lambda line: None)
        served = [str(runs / "served" / "last.safetensors")]
    environment = dict(os.environ) | ({"CONVMATH_DATA": data_dir} if data_dir else {})
    server = subprocess.Popen(
        [CONVMATH, "serve", *served, "--port", "0", "--runs", str(runs)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment,
    )
    try:
        url = ""
        while not url:
            line = server.stdout.readline()
            if not line:
                raise SystemExit("convmath serve stopped before it printed its address")
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else ""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        def call(path: str, body: dict | None = None) -> dict:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(url + path, data=data)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            with opener.open(request, timeout=60) as response:
                return json.loads(response.read())

        call("/api/train/start", {"epochs": WORKLOADS[workload][2]})
        while (status := call("/api/train/status"))["state"] in ("running", "stopping"):
            time.sleep(0.2)
        if status["state"] != "finished":
            raise SystemExit(f"live training ended {status['state']}: {status['error']}")
        if status["plan"]["model"] != WORKLOADS[workload][1]:
            raise SystemExit(f"live training trained {status['plan']}, not {workload}'s model")
        history = json.loads((Path(status["out_dir"]) / "history.json").read_text())
        return [row["images_per_second"] for row in history]
    finally:
        server.terminate()
        server.wait(10)


def python_blocks(path: Path, keep: str = "") -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    return [block for block in blocks if keep in block]


def time_snippets(code: str, threads_first: bool, folder: str) -> float:
    setup = (
        "import os, convmath; convmath.set_threads(len(os.sched_getaffinity(0)))\n"
        if threads_first
        else ""
    )
    timed = (
        "import time; _t = time.perf_counter()\n"
        + setup
        + code
        + "\nprint('SECONDS', time.perf_counter() - _t)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", timed], capture_output=True, text=True, check=False, cwd=folder
    )
    if done.returncode:
        raise SystemExit(f"a documented example failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.rsplit("SECONDS", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="where mnist/ is (the mnist workload needs it)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per door")
    parser.add_argument("--workloads", default="digits,mnist")
    parser.add_argument(
        "--doors", help="only these doors (with cli), comma-separated; no examples timed"
    )
    args = parser.parse_args()
    if args.data_dir:
        args.data_dir = str(Path(args.data_dir).resolve())  # the doors run in the repository
    emit({"blas": blas_report()})
    table = []
    for workload in args.workloads.split(","):
        if workload == "mnist" and not args.data_dir:
            print("mnist: skipped (needs --data-dir)")
            continue
        doors = ["cli", *DOORS, "serve"]
        if args.doors:
            doors = [door for door in doors if door == "cli" or door in args.doors.split(",")]
        speeds: dict[str, list[float]] = {door: [] for door in doors}
        for _ in range(args.rounds):
            for door in doors:  # alternating, so a slower minute of the machine hits every door
                with tempfile.TemporaryDirectory() as out:
                    if door == "cli":
                        epochs = cli_speeds(workload, args.data_dir, out)
                    elif door == "serve":
                        epochs = serve_speeds(workload, out, args.data_dir)
                    else:
                        code = door_code(door, workload, args.data_dir, out + "/run")
                        epochs = json.loads(run_python(code).strip().splitlines()[-1])
                speeds[door].append(statistics.mean(epochs))
        cli = statistics.median(speeds["cli"])
        for door in doors:
            median = statistics.median(speeds[door])
            record = {"workload": workload, "door": door, "images_per_second": median}
            emit(record | {"ratio_to_cli": median / cli, "rounds": speeds[door]})
            table.append(f"{workload:<7} {door:<13} {median:>9,.0f} img/s  {median / cli:5.2f}x")
    examples = (
        ()
        if args.doors
        else (
            ("docs/TUTORIAL.md", ROOT / "docs" / "TUTORIAL.md", ""),
            ("README example", ROOT / "README.md", "fit("),
        )
    )
    for name, path, keep in examples:
        blocks = python_blocks(path, keep)
        if not blocks:
            continue
        code = "\n".join(blocks)
        pairs = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as folder:
                as_written = time_snippets(code, False, folder)
            with tempfile.TemporaryDirectory() as folder:
                with_threads = time_snippets(code, True, folder)
            pairs.append((as_written, with_threads))
        written = statistics.median(p[0] for p in pairs)
        threaded = statistics.median(p[1] for p in pairs)
        emit({"example": name, "seconds_as_written": written, "seconds_with_set_threads": threaded})
        table.append(f"{name:<21} {written:6.2f} s as written, {threaded:6.2f} s after set_threads")
    print("\n".join(table))


if __name__ == "__main__":
    main()

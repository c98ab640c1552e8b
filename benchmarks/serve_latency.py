"""How long the page waits: each API call of ``convmath serve``, over HTTP on loopback.

For three named models (freshly built: speed does not depend on training),
starts a server on a free loopback port and times, as the page makes them,
``/api/forward``, ``/api/explain`` (a CONV value) and ``/api/backward``
(median of ``--repeats`` calls each, after one warm-up). Prints one JSON
line per model and a table.

    python benchmarks/serve_latency.py --repeats 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request

import numpy as np

from convmath import models
from convmath.data.preprocessing import Preprocessing
from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import start

LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
MODELS = {"digits_cnn": (8, 8, 1), "lenet5": (28, 28, 1), "resnet": (32, 32, 3)}


def served(name: str, shape: tuple[int, int, int]) -> ServedModel:
    model = models.build(name, shape, 10, rng=np.random.default_rng(0))
    model.eval()
    n_C = shape[2]
    preprocessing = Preprocessing(
        shape, 1.0, np.zeros(n_C, np.float32), np.ones(n_C, np.float32), tuple("0123456789")
    )
    return ServedModel(model, preprocessing, {"dataset": None}, name, [])


def timed(url: str, path: str, body: dict, repeats: int) -> float:
    data = json.dumps(body).encode()
    seconds = []
    for _ in range(repeats + 1):
        request = urllib.request.Request(url + path, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        started = time.perf_counter()
        with LOCAL.open(request, timeout=120) as response:
            response.read()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds[1:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rows = []
    for name, shape in MODELS.items():
        app = App(served(name, shape), LiveTraining("/tmp/convmath-serve-bench-runs"))
        running = start(app)
        try:
            pixels = np.random.default_rng(1).uniform(0, 1, shape).tolist()
            image = {"pixels": pixels}
            conv = next(r["name"] for r in app.served.describe()["layers"] if r["kind"] == "Conv2D")
            row = {
                "model": name,
                "forward_ms": timed(running.url, "/api/forward", {"image": image}, args.repeats),
                "explain_ms": timed(
                    running.url,
                    "/api/explain",
                    {"image": image, "layer": conv, "position": [1, 1, 0]},
                    args.repeats,
                ),
                "backward_ms": timed(
                    running.url, "/api/backward", {"image": image, "target": 3}, args.repeats
                ),
            }
        finally:
            running.close()
        print(json.dumps(row))
        rows.append(row)
    print(f"\n{'model':<12} {'forward':>10} {'explain':>10} {'backward':>10}  (ms, median)")
    for row in rows:
        print(
            f"{row['model']:<12} {row['forward_ms']:>10.1f} {row['explain_ms']:>10.1f}"
            f" {row['backward_ms']:>10.1f}"
        )


if __name__ == "__main__":
    main()

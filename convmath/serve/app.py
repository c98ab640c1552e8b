"""What the server's requests share, and which of its methods answers each API path.

:class:`App` holds the served model (replaced whole by ``/api/train/serve``,
never edited, so a request reads one consistent model) and the live run;
:func:`get_routes` and :func:`post_routes` map each path of docs/SERVE.md to
the call that answers it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from convmath.errors import DataError
from convmath.serve.live_training import DEFAULT_EPOCHS, LiveTraining, Plan, plan_for
from convmath.serve.served import ServedModel


@dataclass
class App:
    """What every request reads: the served model (replaced whole, never edited) and the run."""

    served: ServedModel
    training: LiveTraining
    trust_code: bool = False

    def __post_init__(self) -> None:
        self.lock = threading.Lock()  # guards swapping the served model
        self.generation = 0  # counts the swaps, so every open page sees one and reloads
        self._plans: dict[int, tuple[ServedModel, Plan]] = {}

    def model(self) -> ServedModel:
        with self.lock:
            return self.served

    def work_bytes(self, path: str) -> int:
        """The memory the answer to ``path`` is estimated to take: one example through the
        served model for the routes that run it, else nothing to speak of."""
        return self.model().work_bytes if path in MODEL_ROUTES else 0

    def describe(self) -> dict[str, Any]:
        with self.lock:
            served, generation = self.served, self.generation
        return served.describe() | {
            "generation": generation,
            "live_training": self.plan(served).describe(),
        }

    def plan(self, served: ServedModel) -> Plan:
        """What a live run would train for ``served`` (worked out once per served model)."""
        with self.lock:
            known = self._plans.get(id(served))
        if known is None or known[0] is not served:
            known = (served, plan_for(served.config))
            with self.lock:
                self._plans = {id(served): known}
        return known[1]

    def status(self) -> dict[str, Any]:
        with self.lock:
            generation = self.generation
        return self.training.status() | {"model_generation": generation}

    def serve_trained(self) -> dict[str, Any]:
        path = self.training.best_checkpoint()
        served = ServedModel.load(path, trust_code=self.trust_code)
        with self.lock:
            self.served = served
            self.generation += 1
            generation = self.generation
        return {"served": str(path), "title": served.title, "generation": generation}


MODEL_ROUTES = frozenset({"/api/model", "/api/forward", "/api/explain", "/api/backward"})


def get_routes(app: App) -> dict[str, Any]:
    return {
        "/api/model": app.describe,
        "/api/samples": lambda: app.model().sample_list(),
        "/api/train/status": app.status,
    }


def post_routes(app: App) -> dict[str, Any]:
    return {
        "/api/forward": lambda body: app.model().forward(_field(body, "image")),
        "/api/explain": lambda body: app.model().explain(body),
        "/api/backward": lambda body: app.model().backward(body),
        "/api/train/start": lambda body: app.training.start(
            body.get("epochs", DEFAULT_EPOCHS), app.model().config
        ),
        "/api/train/pause": lambda body: app.training.pause(),
        "/api/train/resume": lambda body: app.training.resume(),
        "/api/train/stop": lambda body: app.training.stop(),
        "/api/train/serve": lambda body: app.serve_trained(),
    }


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise DataError(f"the request has no {name!r}")
    return body[name]

"""Optimisers and the one-cycle schedule against PyTorch's (skipped without torch)."""

import numpy as np
import pytest
from test_optim import run

from convmath import optim

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda p: optim.SGD(p, 0.1, momentum=0.9, weight_decay=1e-2),
            lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, weight_decay=1e-2),
        ),
        (
            lambda p: optim.SGD(p, 0.1, momentum=0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, nesterov=True),
        ),
        (
            lambda p: optim.Adam(p, 0.01, weight_decay=1e-2),
            lambda p: torch.optim.Adam(p, 0.01, weight_decay=1e-2),
        ),
        (
            lambda p: optim.AdamW(p, 0.01, weight_decay=0.1),
            lambda p: torch.optim.AdamW(p, 0.01, weight_decay=0.1),
        ),
    ],
    ids=["sgd-wd", "nesterov", "adam", "adamw"],
)
def test_optimizers_match_pytorch(ours, theirs):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    mine = run(ours, grads, w0)
    tw = torch.tensor(w0, requires_grad=True)
    opt = theirs([tw])
    for g, expected in zip(grads, mine, strict=True):
        tw.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(tw.detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_one_cycle_matches_pytorch():
    tw = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([tw], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.5, total_steps=50, anneal_strategy="cos", cycle_momentum=False
    )
    ours = optim.OneCycle(0.5, 50)
    for t in range(50):
        assert ours(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9), t
        opt.step()
        sched.step()

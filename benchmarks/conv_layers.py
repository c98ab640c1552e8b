"""One convolution layer at a time, convmath next to PyTorch: where the conv kernels stand.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/conv_layers.py

Times the forward pass (no gradient) and forward + backward (gradients for
the input and the filters) of the convolution shapes that dominate W2-W4,
in convmath (2 workers) and in PyTorch (channels-last, 2 threads),
alternating, median of 15 runs each, and prints GFLOP/s (2 x MACs forward,
3x that for forward + backward: direct-convolution FLOPs, so Winograd's
fewer multiplies show as a higher figure). convmath runs twice: as it
chooses ("convmath") and with im2col only ("im2col": no Winograd, and
depthwise layers as one GEMM per channel rather than tap by tap), and, with
``--winograd``, with Winograd forced on every 3x3 stride-1 layer whatever
its channels, which is how the channel threshold was measured (with the compiled
tier, and with CONVMATH_COMPILED=0 for the NumPy transforms).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_report, emit

import convmath as cm
import convmath.functional as F
from convmath.kernels import rules
from convmath.kernels.runtime import tune_allocator

LAYERS = [  # (name, batch, n_H, n_C_prev, n_C, f, stride, padding, groups)
    ("W3 stage 1", 128, 32, 16, 16, 3, 1, 1, 1),
    ("W3 stage 2", 128, 16, 32, 32, 3, 1, 1, 1),
    ("W3 stage 3", 128, 8, 64, 64, 3, 1, 1, 1),
    ("W3 16->32 s2", 128, 32, 16, 32, 3, 2, 1, 1),
    ("W2 conv2", 128, 26, 32, 64, 3, 1, 0, 1),
    ("W4 3x3", 32, 28, 96, 128, 3, 1, 1, 1),
    ("W4 1x1", 32, 28, 192, 64, 1, 1, 0, 1),
    ("28x28 64->64", 32, 28, 64, 64, 3, 1, 1, 1),
    ("14x14 128->128", 32, 14, 128, 128, 3, 1, 1, 1),
    # depthwise, as MobileNetV2 and EfficientNet-B0 have them on 64x64 inputs
    ("dw 32x32x96", 32, 32, 96, 96, 3, 1, 1, 96),
    ("dw 32x32x144 s2", 32, 32, 144, 144, 3, 2, 1, 144),
    ("dw 8x8x384", 32, 8, 384, 384, 3, 1, 1, 384),
    ("dw 5x5 8x8x480", 32, 8, 480, 480, 5, 1, 2, 480),
]


THRESHOLDS = [  # the rule's, for the NumPy and the compiled transforms (kernels/rules.py)
    "WINOGRAD_MIN_CHANNELS",
    "WINOGRAD_MIN_POSITIONS",
    "WINOGRAD_MIN_CHANNELS_COMPILED",
    "WINOGRAD_MIN_POSITIONS_COMPILED",
]


def median_ms(step, repeats: int = 15) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def convmath_steps(
    x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int, force=None
):
    """The two steps; ``force`` "im2col" or "winograd" overrides the kernel's choice."""
    a, k = cm.Tensor(x, requires_grad=True), cm.Tensor(w, requires_grad=True)
    thresholds = {None: None, "im2col": (1 << 30, 1 << 30), "winograd": (1, 1)}[force]

    def with_thresholds(step):
        def run() -> None:
            if thresholds is None:
                step()
                return
            default = [getattr(rules, name) for name in THRESHOLDS]
            taps = rules.DEPTHWISE_TAPS
            for name, value in zip(THRESHOLDS, thresholds * 2, strict=True):
                setattr(rules, name, value)
            rules.DEPTHWISE_TAPS = force != "im2col"
            try:
                step()
            finally:
                for name, value in zip(THRESHOLDS, default, strict=True):
                    setattr(rules, name, value)
                rules.DEPTHWISE_TAPS = taps

        return run

    def forward() -> None:
        with cm.no_grad():
            F.conv2d(a, k, stride=stride, padding=padding, groups=groups)

    def forward_backward() -> None:
        a.grad = k.grad = None
        z = F.conv2d(a, k, stride=stride, padding=padding, groups=groups)
        z.backward(np.ones(z.shape, dtype=z.dtype))

    return with_thresholds(forward), with_thresholds(forward_backward)


def torch_steps(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int):
    import torch

    layout = torch.channels_last
    a = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout)
    k = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous(memory_format=layout)
    a.requires_grad_()
    k.requires_grad_()

    def forward() -> None:
        with torch.no_grad():
            torch.nn.functional.conv2d(a, k, stride=stride, padding=padding, groups=groups)

    def forward_backward() -> None:
        a.grad = k.grad = None
        z = torch.nn.functional.conv2d(a, k, stride=stride, padding=padding, groups=groups)
        z.backward(torch.ones_like(z))

    return forward, forward_backward


def modes(forward, forward_backward, flop: float) -> list[tuple[str, object, float]]:
    return [("fwd", forward, flop), ("fwd+bwd", forward_backward, 3 * flop)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--winograd", action="store_true", help="also Winograd forced everywhere")
    parser.add_argument("--depthwise", action="store_true", help="the depthwise layers only")
    args = parser.parse_args()
    tune_allocator()
    cm.set_threads(args.threads)
    frameworks = {
        "convmath": convmath_steps,
        "im2col": lambda *shape: convmath_steps(*shape, force="im2col"),
    }
    if args.winograd:
        frameworks["winograd"] = lambda *shape: convmath_steps(*shape, force="winograd")
    try:
        import torch

        torch.set_num_threads(args.threads)
        frameworks["torch-cl"] = torch_steps
    except ImportError:
        pass
    emit({"setup": blas_report() | {"workers": args.threads}})
    rng = np.random.default_rng(0)
    print(f"\n{'layer':<14} {'shape':<28} " + " ".join(
        f"{fw + ' ' + mode:>22}" for fw in frameworks for mode in ("fwd", "fwd+bwd")))  # fmt: skip
    for name, batch, size, n_c_prev, n_c, f, stride, padding, groups in LAYERS:
        if args.depthwise and groups == 1:
            continue
        x = rng.standard_normal((batch, size, size, n_c_prev)).astype(np.float32)
        fan_in = f * f * n_c_prev // groups
        w = (rng.standard_normal((f, f, n_c_prev // groups, n_c)) / np.sqrt(fan_in)).astype(
            np.float32
        )
        n_out = (size + 2 * padding - f) // stride + 1
        flop = 2 * batch * n_out * n_out * fan_in * n_c
        cells = []
        for fw, make in frameworks.items():
            forward, forward_backward = make(x, w, stride, padding, groups)
            for mode, step, work in (
                ("fwd", forward, flop),
                ("fwd+bwd", forward_backward, 3 * flop),
            ):
                ms = median_ms(step)
                emit({"layer": name, "framework": fw, "mode": mode, "ms": round(ms, 3),
                      "gflops": round(work / ms / 1e6, 1)})  # fmt: skip
                cells.append(f"{ms:7.2f} ms {work / ms / 1e6:5.0f} GF/s")
        shape = f"{size}x{size}x{n_c_prev}->{n_c} {f}x{f} s{stride}{' dw' if groups > 1 else ''}"
        print(f"{name:<14} {shape:<28} " + " ".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    main()

"""How closely onnxruntime and PyTorch reproduce convmath's outputs, model by model.

    python benchmarks/interop_agreement.py
    python benchmarks/interop_agreement.py --zoo [ARCH ...]

For every named model (random weights, batch-norm statistics far from 0 and
1, 16 random inputs): the largest absolute difference, and that over the largest output, between
convmath's eval forward and (1) onnxruntime on the exported ONNX graph,
(2) the ONNX graph imported back into convmath, (3) PyTorch's twin module
with the weights from ``convmath.interop.torch``. Then the same for a small model
around each layer of today's CNNs (``tests/interop/layer_cases.py``), through
onnxruntime at opsets 13, 17 and 21 (where their operators differ) and PyTorch's
twin. Needs the onnx and torch extras.

With ``--zoo``: torchvision's classifiers (tests/interop/test_onnx_zoo.py's
table, random weights, exported by torch.onnx at opset 17), each imported
into convmath: the largest difference from onnxruntime's logits over the
largest logit (8 random inputs), the import's time, and one forward of
those 8 by convmath and by onnxruntime (the median of 3, alternated).
Needs torchvision besides (tests/interop/torchvision_models.py loads it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "interop"))

from layer_cases import CASES, case
from onnx_cases import NAMED, forward, named_model


def gap(got: np.ndarray, want: np.ndarray) -> str:
    absolute = float(np.abs(got - want).max())
    relative = absolute / float(np.abs(want).max())  # to the size of the outputs
    return f"{absolute:9.1e} {relative:9.1e}"


def zoo(names: list[str]) -> None:
    import onnxruntime as ort
    from test_onnx_zoo import ZOO, _export

    from convmath.interop.onnx import from_onnx
    from convmath.interop.onnx.read import parse_model

    print(f"{'model':<20} {'side':>4} {'rel error':>9} {'import s':>8} {'convmath ms':>11}"
          f" {'onnxruntime ms':>14} {'ratio':>6}")  # fmt: skip
    for key in names or list(ZOO):
        case = ZOO[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = _export(case, 17)
        if case.parameters is not None:
            os.environ["CONVMATH_MAX_PARAMETERS"] = str(case.parameters)
        started = time.perf_counter()
        try:
            model = from_onnx(parse_model(data, key), key).model.eval()
        except Exception as error:  # a refusal, reported as the table's line
            print(f"{key:<20} {case.side:>4} refused: {str(error).split(': ', 1)[1][:60]}")
            continue
        finally:
            os.environ.pop("CONVMATH_MAX_PARAMETERS", None)
        seconds = time.perf_counter() - started
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).normal(size=(8, 3, case.side, case.side)).astype(np.float32)
        x_hwc = x.transpose(0, 2, 3, 1).copy()
        mine, theirs = [], []
        for _ in range(3):
            started = time.perf_counter()
            got = forward(model, x_hwc)
            mine.append(time.perf_counter() - started)
            started = time.perf_counter()
            want = session.run(None, {"input": x})[0]
            theirs.append(time.perf_counter() - started)
        error = float(np.abs(got - want).max() / np.abs(want).max())
        a, b = statistics.median(mine) * 1e3, statistics.median(theirs) * 1e3
        print(f"{key:<20} {case.side:>4} {error:9.1e} {seconds:8.2f} {a:11.1f} {b:14.1f}"
              f" {a / b:6.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo", nargs="*", metavar="ARCH", help="torchvision's models instead")
    args = parser.parse_args()
    if args.zoo is not None:
        zoo(args.zoo)
        return
    import onnxruntime as ort
    import torch

    from convmath.interop.onnx import from_onnx, to_onnx
    from convmath.interop.torch import to_torch_state_dict
    from convmath.interop.torch_models import torch_module

    columns = ("onnxruntime", "re-imported", "pytorch")
    print(f"{'model':<18} " + "  ".join(f"{c + ' abs/rel':>19}" for c in columns))
    for key in NAMED:
        model, shape = named_model(key)
        x = np.random.default_rng(0).normal(size=(16, *shape)).astype(np.float32)
        want = forward(model, x)
        proto = to_onnx(model, shape)
        session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        onnx_out = session.run(None, {"input": x})[0]
        back = forward(from_onnx(proto).model.eval(), x)
        name, options = key.split("_projection")[0], dict(NAMED[key][1])
        net = torch_module(name, shape, 10, **options).eval()
        state = {
            k: torch.from_numpy(np.ascontiguousarray(v))
            for k, v in to_torch_state_dict(model, shape).items()
        }
        net.load_state_dict(state, strict=True)
        with torch.no_grad():
            torch_out = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        print(f"{key:<18} {gap(onnx_out, want)}  {gap(back, want)}  {gap(torch_out, want)}")
    layers(ort, torch, to_onnx, to_torch_state_dict)


def layers(ort: Any, torch: Any, to_onnx: Any, to_torch_state_dict: Any) -> None:
    from convmath.interop.torch_models import torch_module_for

    columns = ("opset 13", "opset 17", "opset 21", "pytorch")
    print(f"\n{'layer':<45} " + "  ".join(f"{c + ' abs/rel':>19}" for c in columns))
    for key in CASES:
        model, shape = case(key)
        x = 3 * np.random.default_rng(0).normal(size=(16, *shape)).astype(np.float32)
        want = forward(model, x)
        gaps = []
        for opset in (13, 17, 21):
            proto = to_onnx(model, shape, opset=opset)
            session = ort.InferenceSession(
                proto.SerializeToString(), providers=["CPUExecutionProvider"]
            )
            gaps.append(gap(session.run(None, {"input": x})[0], want))
        try:
            net = torch_module_for(model, shape).eval()
        except Exception:  # a Graph has no torch twin
            gaps.append(f"{'-':>9} {'-':>9}")
        else:
            state = {k: torch.from_numpy(v) for k, v in to_torch_state_dict(model, shape).items()}
            net.load_state_dict(state, strict=True)
            with torch.no_grad():
                out = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
            gaps.append(gap(out.transpose(0, 2, 3, 1) if out.ndim == 4 else out, want))
        print(f"{key:<45} " + "  ".join(gaps))


if __name__ == "__main__":
    main()

"""How closely onnxruntime and PyTorch reproduce convmath's outputs, model by model.

    python benchmarks/interop_agreement.py

For every named model (random weights, batch-norm statistics far from 0 and
1, 16 random inputs): the largest absolute difference, and that over the largest output, between
convmath's eval forward and (1) onnxruntime on the exported ONNX graph,
(2) the ONNX graph imported back into convmath, (3) PyTorch's twin module
with the weights from ``convmath.interop.torch``. Then the same for a small model
around each layer of today's CNNs (``tests/interop/layer_cases.py``), through
onnxruntime at opsets 13, 17 and 21 (where their operators differ) and PyTorch's
twin. Needs the onnx and torch extras.
"""

from __future__ import annotations

import sys
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


def main() -> None:
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

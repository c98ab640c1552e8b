"""torchvision's classification models for the ONNX zoo tests, loaded without its compiled ops.

torchvision 0.28.0's wheel carries compiled operators (``torchvision::nms``,
``roi_align``...) built for another torch: beside the CPU build of torch
2.13, ``import torchvision`` fails in ``torchvision._meta_registrations``
("operator torchvision::nms does not exist"), the module that registers
those operators' Meta kernels (the shapes they give under tracing). The
classification models are plain Python and never call those operators, so
:func:`torchvision_models` imports torchvision with that one module already
in ``sys.modules`` as an empty module: nothing of torch or of torchvision is
patched, the models are torchvision's own code, and only the Meta kernels of
the detection operators are missing (no model here uses them). Tests skip,
saying why, where torch or torchvision is not installed.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import types
from typing import Any

import pytest

META_REGISTRATIONS = "torchvision._meta_registrations"


def torchvision_models() -> Any:
    """``torchvision.models``, or a skip naming what is missing."""
    pytest.importorskip("torch")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (pip install --no-deps torchvision==0.28.0)")
    if "torchvision" not in sys.modules:  # before its first import only: never replace a module
        sys.modules.setdefault(META_REGISTRATIONS, types.ModuleType(META_REGISTRATIONS))
    import torchvision.models

    return torchvision.models


def exported(model: Any, side: int, opset: int, *, dynamo: bool = False) -> bytes:
    """``model`` (eval mode) as ONNX bytes: an (N, 3, side, side) input, the batch free."""
    import torch

    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(side))
    buffer = io.BytesIO()
    if dynamo:
        program = torch.onnx.export(
            model.eval(), (x,), dynamo=True, opset_version=opset, input_names=["input"],
            output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("N")},),
        )  # fmt: skip
        program.save(buffer)
    else:
        torch.onnx.export(
            model.eval(), (x,), buffer, opset_version=opset, dynamo=False,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        )  # fmt: skip
    return buffer.getvalue()

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
import warnings
from typing import Any

import numpy as np
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


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def gray_onnx(name: str, images: np.ndarray, path: Any, *, seed: int = 0) -> None:
    """torchvision's ``name`` (random weights) for gray images, written to ``path`` as ONNX.

    A 1x1 convolution in front turns the one gray channel into three
    ImageNet-normalised ones (docs/TRAINING.md); the export is at the size
    of ``images`` (m, n_H, n_W, 1), uint8, opset 17, TorchScript exporter,
    the batch free. Before it, the batch norms are recalibrated on
    ``images`` (forward passes in train mode, no labels, no gradient): the
    exporter folds them into the convolutions, and with torchvision's
    initial statistics (mean 0, variance 1) a random MobileNetV3's features
    shrink to about 1e-9 by its last block, too small to learn from.
    """
    import torch

    models = torchvision_models()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        gray_to_imagenet = torch.nn.Conv2d(1, 3, 1)
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        gray_to_imagenet.weight.data[:] = (1 / std).view(3, 1, 1, 1)
        gray_to_imagenet.bias.data[:] = -mean / std
        net = torch.nn.Sequential(gray_to_imagenet, getattr(models, name)(weights=None))
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # the plain average over the batches
        x = torch.from_numpy((images / 255).astype(np.float32).transpose(0, 3, 1, 2).copy())
        net.train()
        with torch.no_grad():
            for batch in x.split(128):
                net(batch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net.eval(), x[:1], str(path), opset_version=17, dynamo=False,
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            )  # fmt: skip
    finally:
        torch.set_num_threads(threads)

"""The model a page looks at, and the answers of the API about it.

:class:`ServedModel` holds a trained model with its preprocessing and
answers the API's questions (``/api/model``, ``/api/forward``,
``/api/explain``, ``/api/backward``) as plain values ready for JSON. Every
answer about an input traces one example through a copy of the model
(:func:`convmath.inspect.trace.trace`), so requests from several tabs never
touch shared state.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data, limits
from convmath.data.centering import picture_input, picture_options
from convmath.data.folder import image_size
from convmath.errors import ConvMathError, DataError, InvalidArgumentError
from convmath.inspect import explain
from convmath.inspect.arithmetic import SOFTMAX, explain_value, explainable
from convmath.inspect.notation import in_notation, names
from convmath.inspect.row_graph import INPUT, row_inputs
from convmath.inspect.trace import Trace, trace
from convmath.nn import Conv2D
from convmath.nn.module import Module
from convmath.run import load_trained
from convmath.schema import shown
from convmath.serve.arrays import decode_array

MAX_SAMPLES = 24
MAX_PNG_BYTES = 2 << 20
MAX_DRAWING_PIXELS = 2048 * 2048  # a canvas is far smaller; decoding more costs seconds
TOP = 3
DEFAULT_LEARNING_RATE = 1e-3
# What is served when no run exists: LeNet-5 trained on MNIST (its PROVENANCE.md says how).
DEFAULT_MODEL = Path(__file__).parent / "default_model" / "lenet5-mnist.safetensors"


@dataclass
class ServedModel:
    """A trained model and what the page needs to show it."""

    model: Module
    preprocessing: Any
    config: dict[str, Any]
    title: str
    samples: list[tuple[np.ndarray, int]]  # test images in [0, 1] and their labels

    def __post_init__(self) -> None:
        # what one request's work (a traced example, forward and backward, and its answer)
        # is estimated to take; a model that could not answer one is refused here, not later
        self.work_bytes = limits.activation_bytes(self.model, self.input_shape, 1, 4, training=True)
        limits.check_memory(self.work_bytes, f"{self.title}: one request to the page's API")

    @classmethod
    def load(cls, path: str | Path, *, trust_code: bool = False) -> ServedModel:
        model, preprocessing, config = load_trained(path, trust_code=trust_code)
        model.eval()
        name = config.get("model", {}).get("name", "model")
        samples = _samples(config, tuple(preprocessing.input_shape), len(preprocessing.classes))
        return cls(model, preprocessing, config, f"{name} from {path}", samples)

    @classmethod
    def default(cls) -> ServedModel:
        """The model served when no run exists: LeNet-5 trained on MNIST, shipped with convmath."""
        served = cls.load(DEFAULT_MODEL)
        served.title = f"{served.title.split()[0]} on MNIST (convmath's default model)"
        return served

    # ------------------------------------------------------------ the model
    @property
    def classes(self) -> list[str]:
        return list(self.preprocessing.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.preprocessing.input_shape)

    def learning_rate(self) -> float:
        training = self.config.get("training")
        return float(training.lr_or_default()) if training is not None else DEFAULT_LEARNING_RATE

    def describe(self) -> dict[str, Any]:
        """``GET /api/model``: the rows of ``explain``, with what the page can open."""
        probe = trace(self.model, np.zeros(self.input_shape, dtype=np.float32))
        rows = explain(self.model, self.input_shape).rows
        reads = row_inputs(probe, rows)
        layers = []
        for row, name in zip(rows, names(rows), strict=True):
            explained = False
            if not row.is_heading:
                try:
                    explained = explainable(probe.module_of(row.name)[1])
                except InvalidArgumentError:
                    explained = False
            layers.append(
                {
                    "name": row.name,
                    "kind": row.kind,
                    "depth": row.depth,
                    "heading": row.is_heading,
                    "output_shape": None if row.output_shape is None else list(row.output_shape),
                    "parameters": row.parameters,
                    "macs": row.macs,
                    "details": row.details,
                    "formulas": in_notation(row.formulas, name),
                    "backward": in_notation(row.backward, name),
                    "equations": in_notation(row.equations, name),
                    "backward_equations": in_notation(row.backward_equations, name),
                    "name_text": None if name is None else name.text,
                    "name_tex": None if name is None else name.tex,
                    "explainable": explained,
                    "inputs": reads.get(row.name, []),
                }
            )
        return {
            "title": self.title,
            "dataset": self.config.get("dataset"),
            "classes": self.classes,
            "input_shape": list(self.input_shape),
            "learning_rate": self.learning_rate(),
            "layers": layers,
            "input_name": INPUT,
        }

    def sample_list(self) -> dict[str, Any]:
        """``GET /api/samples``."""
        return {
            "samples": [
                {"index": k, "label": _class_name(self.classes, label), "pixels": image}
                for k, (image, label) in enumerate(self.samples)
            ]
        }

    # ------------------------------------------------------------ inputs
    def unit_input(self, image: Any) -> np.ndarray:
        """The request's ``image`` as the model's input in [0, 1], (n_H, n_W, n_C) float32."""
        if not isinstance(image, dict) or len(image) != 1:
            raise InvalidArgumentError(
                'image must be one of {"png": BASE64}, {"sample": K} or {"pixels": ARRAY},'
                f" got {shown(image)}"
            )
        ((how, value),) = image.items()
        if how == "sample":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgumentError(f"image.sample must be an integer, got {shown(value)}")
            if not 0 <= value < len(self.samples):
                raise InvalidArgumentError(
                    f"image.sample must be in 0..{len(self.samples) - 1}, got {value}"
                )
            return self.samples[value][0]
        if how == "pixels":
            pixels = decode_array(value, "image.pixels", self.input_shape)
            if pixels.min() < 0 or pixels.max() > 1:
                raise InvalidArgumentError("image.pixels must lie in [0, 1]")
            return pixels
        if how == "png":
            return self._picture(value)
        raise InvalidArgumentError(f"image must say png, sample or pixels, got {how!r}")

    def _picture(self, text: Any) -> np.ndarray:
        """A PNG or JPEG read as ``convmath predict`` reads a file: the same code, on a copy."""
        if not isinstance(text, str) or len(text) > MAX_PNG_BYTES * 4 // 3 + 4:
            raise InvalidArgumentError(
                f"image.png must be the base64 of a picture of at most {MAX_PNG_BYTES:,} bytes"
            )
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgumentError("image.png is not valid base64") from None

        dataset = self.config.get("dataset")
        with tempfile.TemporaryDirectory(prefix="convmath-serve-") as folder:
            path = Path(folder) / "drawing.png"
            path.write_bytes(raw)
            try:
                height, width = image_size(path)  # from the header: nothing decoded yet
                if height * width > MAX_DRAWING_PIXELS:
                    raise InvalidArgumentError(
                        f"image.png is {width} x {height} pixels, over the"
                        f" {MAX_DRAWING_PIXELS:,}-pixel limit of a drawing"
                    )
                return picture_input(path, self.input_shape, **picture_options(dataset))
            except DataError as error:
                raise InvalidArgumentError(
                    f"image.png: {str(error).replace(str(path), 'the picture')}"
                ) from None

    def traced(self, image: Any, target: int | None = None) -> tuple[np.ndarray, Trace]:
        unit = self.unit_input(image)
        normalized = self.preprocessing.normalize(unit[None])[0].astype(np.float32)
        return unit, trace(self.model, normalized, target=target)

    # ------------------------------------------------------------ answers
    def forward(self, image: Any) -> dict[str, Any]:
        """``POST /api/forward``: every row's map, the logits and the prediction."""
        unit, result = self.traced(image)
        maps = {}
        for row in explain(self.model, self.input_shape).rows:
            if not row.is_heading:
                maps[row.name] = result.output_of(row.name)
        p = result.probabilities
        order = np.argsort(-p, kind="stable")
        return {
            "input": unit,
            "normalized": result.inputs[""].data[0],
            "maps": maps,
            "logits": result.logits.tolist(),
            "probabilities": p.tolist(),
            "prediction": self.classes[int(order[0])],
            "top": [[self.classes[int(k)], float(p[k])] for k in order[:TOP]],
        }

    def explain(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/explain``: the computation behind one value."""
        _, result = self.traced(request.get("image"))
        layer = request.get("layer")
        if not isinstance(layer, str):
            raise InvalidArgumentError(f"layer must be a layer's name, got {shown(layer)}")
        if layer != SOFTMAX and layer not in self.row_names():
            raise InvalidArgumentError(f"no layer {shown(layer)} in this model")
        return explain_value(result, layer, request.get("position"))

    def row_names(self) -> set[str]:
        """The rows that have values: every row of ``explain`` but the blocks' headings."""
        rows = explain(self.model, self.input_shape).rows
        return {row.name for row in rows if not row.is_heading}

    def backward(self, request: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/backward``: J for a target class, dJ/dA per row, one filter's step."""
        target = request.get("target")
        if isinstance(target, bool) or not isinstance(target, int):
            raise InvalidArgumentError(f"target must be a class index, got {shown(target)}")
        if not 0 <= target < len(self.classes):
            raise InvalidArgumentError(
                f"target must be in 0..{len(self.classes) - 1}, got {target}"
            )
        _, result = self.traced(request.get("image"), target)
        gradients = {}
        for row in explain(self.model, self.input_shape).rows:
            if not row.is_heading:
                gradients[row.name] = result.gradient_of(row.name)
        p = result.probabilities
        dz = p.copy()
        dz[target] -= 1.0
        return {
            "loss": result.loss,
            "target": target,
            "probabilities": p.tolist(),
            "dZ": dz.tolist(),
            "gradients": gradients,
            "filter": self._filter_step(result, request),
        }

    def _filter_step(self, result: Trace, request: dict[str, Any]) -> dict[str, Any] | None:
        convs = {p: m for p, m in result.model.named_modules() if isinstance(m, Conv2D)}
        if not convs:
            return None
        layer = request.get("layer", next(iter(convs)))
        if not isinstance(layer, str) or layer not in convs:
            raise InvalidArgumentError(
                f"layer must be a CONV layer of the model {sorted(convs)}, got {shown(layer)}"
            )
        conv = convs[layer]
        index = request.get("filter", 0)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < conv.n_C:
            raise InvalidArgumentError(
                f"filter must be in 0..{conv.n_C - 1} for {layer}, got {shown(index)}"
            )
        alpha = request.get("learning_rate", self.learning_rate())
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 10:
            raise InvalidArgumentError(
                f"learning_rate must be a number in (0, 10], got {shown(alpha)}"
            )
        w, dw = conv.W.data[..., index], conv.W.grad[..., index]
        b = 0.0 if conv.b is None else float(conv.b.data[index])
        db = 0.0 if conv.b is None else float(conv.b.grad[index])
        return {
            "layer": layer,
            "index": index,
            "learning_rate": float(alpha),
            "W": w,
            "dW": dw,
            "W_new": w - alpha * dw,
            "b": b,
            "db": db,
            "b_new": b - alpha * db,
            "has_bias": conv.b is not None,
        }


def _class_name(classes: list[str], label: int) -> str:
    return classes[label] if 0 <= label < len(classes) else str(label)


def _samples(
    config: dict[str, Any], input_shape: tuple[int, ...], n_classes: int
) -> list[tuple[np.ndarray, int]]:
    """Up to MAX_SAMPLES test images of the run's dataset, in [0, 1]; none if unreadable.

    Only images the model can take (its input shape) and label (a class it has) are kept:
    a checkpoint may name a dataset with more classes, or other pictures, than its model.
    """
    dataset = config.get("dataset")
    info = data.DATASETS.get(dataset) if isinstance(dataset, str) else None
    if info is None:
        return []
    training = config.get("training")
    try:
        images, labels = data.load(
            dataset, "test", getattr(training, "data_dir", None), download=False
        )
    except (ConvMathError, OSError):
        return []
    if tuple(images.shape[1:]) != tuple(input_shape):
        return []
    kept = np.flatnonzero((labels >= 0) & (labels < n_classes))[:MAX_SAMPLES]
    chosen = images[kept].astype(np.float32) / info.max_value
    return [(image, int(label)) for image, label in zip(chosen, labels[kept], strict=True)]

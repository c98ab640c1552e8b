"""Augmentation from a short text spec, for the command line.

A spec is a preset name (``none``, ``standard``, ``strong``) or a comma list
of transforms ``name[:value]``:

    crop:P        RandomCrop back to the input size after padding by P (default 2)
    reflectcrop:P the same with reflection padding
    rotate:D      RandomRotation within +-D degrees (default 10)
    zoom:Z        RandomZoom by a factor in [1 - Z, 1 + Z] (default 0.1)
    elastic:A     RandomElastic of gain alpha = A over a field smoothed by sigma 4 (default 34)
    hflip:P       horizontal flip with probability P (default 0.5)
    vflip:P       vertical flip with probability P (default 0.5)
    noise:S       Gaussian noise of standard deviation S (default 0.05)
    saltpepper:A  salt-and-pepper on a fraction A of the pixels (default 0.02)
    brightness:B, contrast:C, saturation:S, hue:H   colour jitter (default 0.2, hue 0.05)
    gray          RGB to grayscale, keeping the channel count

e.g. ``--augment crop:2,rotate:10,zoom:0.1`` or ``--augment reflectcrop:4,hflip,brightness:0.3``.
"""

from __future__ import annotations

from collections.abc import Callable

from convmath.data.augment import (
    PRESETS,
    ColorJitter,
    Compose,
    GaussianNoise,
    Grayscale,
    RandomCrop,
    RandomElastic,
    RandomFlip,
    RandomRotation,
    RandomZoom,
    SaltAndPepper,
    Transform,
    preset,
)
from convmath.data.augment.geometric import ELASTIC_ALPHA
from convmath.errors import InvalidArgumentError
from convmath.schema import Integer, Number, Spec
from convmath.shapes import ImageShape as Shape

Maker = Callable[[float, Shape], Transform]


def _side(shape: Shape) -> Spec:
    return Integer(0, max(shape[:2]))


def _reflect_side(shape: Shape) -> Spec:
    return Integer(0, min(shape[:2]) - 1)  # reflection needs a padding below the image size


def _fixed(spec: Spec) -> Callable[[Shape], Spec]:
    return lambda shape: spec


# name: (default value, what the value may be for images of a shape, the transform it makes)
_MAKERS: dict[str, tuple[float | None, Callable[[Shape], Spec] | None, Maker]] = {
    "crop": (2, _side, lambda v, s: RandomCrop(s[:2], padding=int(v))),
    "reflectcrop": (
        4,
        _reflect_side,
        lambda v, s: RandomCrop(s[:2], padding=int(v), padding_mode="reflect"),
    ),
    "rotate": (10, _fixed(Number(0, 180)), lambda v, s: RandomRotation(v)),
    "zoom": (0.1, _fixed(Number(0, 0.9)), lambda v, s: RandomZoom(v)),
    "elastic": (34, _fixed(ELASTIC_ALPHA), lambda v, s: RandomElastic(v)),
    "hflip": (0.5, _fixed(Number(0, 1)), lambda v, s: RandomFlip(horizontal=v)),
    "vflip": (0.5, _fixed(Number(0, 1)), lambda v, s: RandomFlip(horizontal=0.0, vertical=v)),
    "noise": (0.05, _fixed(Number(0, 1)), lambda v, s: GaussianNoise(v)),
    "saltpepper": (0.02, _fixed(Number(0, 1)), lambda v, s: SaltAndPepper(v)),
    "brightness": (0.2, _fixed(Number(0, 10)), lambda v, s: ColorJitter(brightness=v)),
    "contrast": (0.2, _fixed(Number(0, 10)), lambda v, s: ColorJitter(contrast=v)),
    "saturation": (0.2, _fixed(Number(0, 10)), lambda v, s: ColorJitter(saturation=v)),
    "hue": (0.05, _fixed(Number(0, 0.5)), lambda v, s: ColorJitter(hue=v)),
    "gray": (None, None, lambda v, s: Grayscale()),
}


def parse_augment(spec: str, image_shape: Shape) -> Compose:
    """Build the transform a spec describes, for images of ``image_shape``.

    Every value is checked before anything is built: ``crop:nan``,
    ``rotate:inf`` or a crop padding larger than the image are refused,
    quoting the item.
    """
    spec = spec.strip()
    if spec in PRESETS:
        return preset(spec, image_shape)
    transforms = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition(":")
        if name not in _MAKERS:
            raise InvalidArgumentError(
                f"unknown augmentation {name!r} in {spec!r}; expected a preset {PRESETS} or"
                f" a comma list of {sorted(_MAKERS)}"
            )
        default, allowed, make = _MAKERS[name]
        if allowed is None:
            if value:
                raise InvalidArgumentError(f"augmentation {item!r}: {name} takes no value")
            number = None
        elif value:
            number = allowed(image_shape).parse(value, f"augmentation {item!r}: {name}")
        else:
            number = default
        transforms.append(make(number, image_shape))
    return Compose(transforms)

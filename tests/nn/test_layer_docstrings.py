"""Every public layer of convmath.nn tells a learner its shapes and shows itself at work."""

import inspect

import pytest

from convmath import nn

LAYERS = [
    name
    for name in nn.__all__
    if inspect.isclass(getattr(nn, name))
    and issubclass(getattr(nn, name), nn.Module)
    and name != "Module"
]


def test_the_layers_are_all_there():
    assert len(LAYERS) == 29


@pytest.mark.parametrize("name", LAYERS)
def test_every_public_layer_has_a_shapes_section_and_an_example(name):
    doc = inspect.cleandoc(getattr(nn, name).__doc__ or "")
    assert "\nShapes\n------\n" in doc, f"{name} has no Shapes section"
    assert "\nExample\n-------\n" in doc, f"{name} has no Example section"
    assert "\n>>> " in doc.split("\nExample\n-------\n")[-1], f"{name}'s Example runs nothing"

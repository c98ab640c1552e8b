"""Every public functional op tells a learner its shapes and shows itself at work."""

import inspect

import pytest

import convmath.functional as F

OPS = [name for name in F.__all__ if name != "conv_output_size"]  # a size formula, not an op


@pytest.mark.parametrize("name", OPS)
def test_every_public_op_has_a_shapes_section_and_an_example(name):
    doc = inspect.cleandoc(getattr(F, name).__doc__ or "")
    assert "\nShapes\n------\n" in doc, f"{name} has no Shapes section"
    assert "\nExample\n-------\n" in doc, f"{name} has no Example section"
    assert "\n>>> " in doc.split("\nExample\n-------\n")[-1], f"{name}'s Example runs nothing"

"""See the mathematics: layer-by-layer explanations, whole-model gradient checks, pictures."""

from convmath.gradcheck import model_gradcheck
from convmath.inspect.activations import layer_activations
from convmath.inspect.explain import ExplainRow, Explanation, explain

__all__ = ["ExplainRow", "Explanation", "explain", "layer_activations", "model_gradcheck"]

"""See the mathematics: layer-by-layer explanations, whole-model gradient checks, pictures."""

from convmath.inspect.activations import layer_activations
from convmath.inspect.explain import ExplainRow, Explanation, explain
from convmath.inspect.gradcheck import model_gradcheck

__all__ = ["ExplainRow", "Explanation", "explain", "layer_activations", "model_gradcheck"]

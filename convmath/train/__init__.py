"""Training: the loop, metrics, checkpoints, the training settings, and fit for arrays in hand.

Whole runs (``run_training``, the run folder, ``load_trained``) are one
layer up, in :mod:`convmath.run`, and re-exported by :mod:`convmath`.
"""

from convmath.data.preprocessing import Preprocessing
from convmath.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convmath.train.config import TrainConfig
from convmath.train.fit import FitResult, classify, fit
from convmath.train.lr_find import LRFinding, lr_find
from convmath.train.metrics import Evaluation, confusion_matrix, evaluate
from convmath.train.model_file import save
from convmath.train.outputs import BEST, LAST
from convmath.train.predict import predict
from convmath.train.trainer import Trainer, TrainState

__all__ = [
    "BEST",
    "LAST",
    "Checkpoint",
    "Evaluation",
    "FitResult",
    "LRFinding",
    "Preprocessing",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "classify",
    "confusion_matrix",
    "evaluate",
    "fit",
    "load_checkpoint",
    "lr_find",
    "predict",
    "save",
    "save_checkpoint",
]

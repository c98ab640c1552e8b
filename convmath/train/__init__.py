"""Training: the loop, metrics, checkpoints and whole runs from a configuration."""

from convmath.data.preprocessing import Preprocessing
from convmath.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convmath.train.config import TrainConfig
from convmath.train.fit import FitResult, classify, fit
from convmath.train.metrics import Evaluation, confusion_matrix, evaluate
from convmath.train.model_file import load, save
from convmath.train.predict import predict
from convmath.train.run import RunResult, run_training
from convmath.train.run_folder import RunFolder
from convmath.train.trained import load_trained
from convmath.train.trainer import BEST, LAST, Trainer, TrainState

__all__ = [
    "BEST",
    "LAST",
    "Checkpoint",
    "Evaluation",
    "FitResult",
    "Preprocessing",
    "RunFolder",
    "RunResult",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "classify",
    "confusion_matrix",
    "evaluate",
    "fit",
    "load",
    "load_checkpoint",
    "load_trained",
    "predict",
    "run_training",
    "save",
    "save_checkpoint",
]

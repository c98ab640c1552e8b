"""The files of a run's output folder, each named once.

What writes them (the trainer, the run, the commands that draw beside a
checkpoint) and what reads or guards them (the run folder, ``--resume``,
``convmath serve``) use these names.
"""

LAST = "last.safetensors"  # the checkpoint after every epoch
BEST = "best.safetensors"  # the checkpoint of the best dev accuracy so far
HISTORY_JSON = "history.json"  # one row per epoch
HISTORY_CSV = "history.csv"  # the same rows, one number per cell
METRICS = "metrics.json"  # the test evaluation and the run's configuration
CURVES = "curves.png"  # loss and accuracy per epoch
AUTOTUNE = "autotune.json"  # convmath train --autotune: the kernels that timing chose
# the pictures the commands draw beside a checkpoint
FILTERS = "filters.png"
FEATUREMAPS = "featuremaps.png"
CONFUSION = "confusion.png"
MISCLASSIFIED = "misclassified.png"
LOCK = ".convmath.lock"  # held while a run trains in the folder

RUN_FILES = (
    LAST,
    BEST,
    HISTORY_JSON,
    HISTORY_CSV,
    METRICS,
    AUTOTUNE,
    CURVES,
    FILTERS,
    FEATUREMAPS,
    CONFUSION,
    MISCLASSIFIED,
)
"""Every file a run (or a command beside its checkpoint) writes: another run's, in a new run."""

"""A whole training run from a configuration: data, model, optimizer, trainer, results.

``run_training(TrainConfig(...))`` is what ``convmath train`` calls. The
run is reproducible from its seed: one ``numpy.random.SeedSequence`` gives
independent generators for the dev split, the weight initialisation (and
dropout masks) and the batches (shuffling and augmentation). The output
folder is held by this run alone while it trains (:class:`RunFolder`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convmath import data, limits, models, optim
from convmath.data.augment.spec import parse_augment
from convmath.data.preprocessing import MIN_STD, Preprocessing
from convmath.distributed import DataParallel, World, world
from convmath.errors import CheckpointError, DataError, InvalidArgumentError, ShapeError
from convmath.inspect.summary import summary_table
from convmath.kernels import autotune
from convmath.nn import transfer
from convmath.nn.module import Module
from convmath.optim import Schedule
from convmath.optim.optimizer import Optimizer
from convmath.run.finetune import describe_frozen, start_from
from convmath.run.folder import RunFolder
from convmath.schema import shown
from convmath.train.checkpoint import Checkpoint, atomic_write, load_checkpoint
from convmath.train.config import TrainConfig, plural
from convmath.train.metrics import Evaluation
from convmath.train.outputs import BEST, HISTORY_CSV, HISTORY_JSON, LAST, METRICS
from convmath.train.replicas import OneProcess
from convmath.train.trained import check_run_config, rebuild
from convmath.train.trainer import (
    EpochCallback,
    StepCallback,
    Trainer,
    TrainState,
)


@dataclass
class RunResult:
    out_dir: Path
    state: TrainState
    test: Evaluation
    metrics: dict[str, Any]
    model: Module
    preprocessing: Preprocessing


def _load_split(config: TrainConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    mode = "RGB" if config.color else "L"
    return data.load(config.dataset, split, config.data_dir, mode=mode, size=config.image_size)


def _classes(config: TrainConfig) -> tuple[str, ...]:
    if config.dataset in data.DATASETS:
        return data.info(config.dataset).classes
    return data.folder_classes(config.dataset)


def default_model(config: TrainConfig, n_C: int) -> str:
    if config.model:
        return config.model
    if config.dataset == "digits":
        return "digits_cnn"
    return "lenet5" if n_C == 1 else "resnet"


def _channels(config: TrainConfig) -> int:
    info = data.DATASETS.get(config.dataset)
    return info.image_shape[2] if info else (3 if config.color else 1)


def _fit_hint(config: TrainConfig, model_name: str, input_shape: tuple[int, ...]) -> str:
    """When a named model is made for other images than the data's: what would fit ("" else)."""
    made_for = models.INPUT_SHAPES.get(model_name)
    if made_for is None or made_for[:2] == input_shape[:2]:
        return ""
    named = config.dataset in data.DATASETS
    if named:
        ways = [n for n, i in data.DATASETS.items() if i.image_shape[:2] == made_for[:2]]
        cures = [f"--dataset {' or '.join(ways)}"] if ways else []
    else:
        cures = [f"--image-size {made_for[0]},{made_for[1]}"]
    others = [m for m, shape in models.INPUT_SHAPES.items() if shape[:2] == input_shape[:2]]
    if others:
        cures.append(f"--model {' or '.join(others)} (made for {input_shape[0]}x{input_shape[1]})")
    images = f"{config.dataset} images" if named else "the images"
    return (
        f"; {images} are {'x'.join(map(str, input_shape))} and {model_name} is made for"
        f" {made_for[0]}x{made_for[1]} images" + (f": use {', or '.join(cures)}" if cures else "")
    )


def default_out_dir(config: TrainConfig) -> Path:
    """``runs/<dataset>-<model>``, a model ``package.module:function`` written with dots; a
    fine-tuning run without ``--model`` is named after the file it starts from."""
    if config.init_from is not None and config.model is None:
        model = Path(config.init_from).stem
    else:
        model = default_model(config, _channels(config)).replace(":", ".")
    return Path("runs") / f"{Path(config.dataset).name}-{model}"


def make_optimizer(config: TrainConfig, model: Module) -> Optimizer:
    """The configuration's optimizer over the model's parameters."""
    return optim.make_optimizer(
        config.optimizer,
        transfer.trainable(model.parameters()),
        config.lr_or_default(),
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


def make_schedule(config: TrainConfig, lr: float, steps_per_epoch: int) -> Schedule:
    """The configuration's learning-rate schedule, in steps."""
    return optim.make_schedule(
        config.schedule,
        lr,
        config.epochs * steps_per_epoch,
        step_size=config.step_epochs * steps_per_epoch,
        gamma=config.gamma,
        warmup_steps=int(config.warmup_epochs * steps_per_epoch),
    )


@dataclass
class Resumed:
    """A run to continue: its checkpoint read and checked once, its model rebuilt once."""

    path: Path
    checkpoint: Checkpoint
    config: TrainConfig  # the run's own settings, as stored
    model: Module  # with the checkpoint's weights; the resumed run trains this one

    @property
    def epochs_done(self) -> int | None:
        """The epochs it has trained (None where its state does not say: resuming refuses it)."""
        done = self.checkpoint.state.get("epoch")
        return done if isinstance(done, int) else None

    @property
    def stopped_early(self) -> bool:
        return bool(self.checkpoint.state.get("stopped_early"))


def read_resumed(path: str | Path, *, trust_code: bool | str = False) -> Resumed:
    """The run saved in the checkpoint ``path``, checked as every command checks one.

    Its model is built by code the checkpoint names (an import path) only
    with ``trust_code``.
    """
    checkpoint = load_checkpoint(path)
    stored = check_run_config(checkpoint.config, str(path), training=True)
    config = stored["training"]
    # the model the training settings build is the one stored, checked before any build:
    # a checkpoint cannot slip code to import into its training settings alone
    if config.model is not None and config.model != stored["model"]["name"]:
        raise CheckpointError(
            f"{path}: its training settings name the model {shown(config.model)}, but"
            f" the model stored is {stored['model']['name']}"
        )
    # its model and weights, checked as every command does
    model, _, _ = rebuild(checkpoint, str(path), trust_code=trust_code)
    return Resumed(Path(path), checkpoint, config, model)


def run_training(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    *,
    resume: str | Path | Resumed | None = None,
    overwrite: bool = False,
    on_step: Sequence[StepCallback] = (),
    on_epoch: Sequence[EpochCallback] = (),
    log: Callable[[str], None] = print,
    extend_to: int | None = None,
    trust_code: bool = False,
) -> RunResult:
    """Train as ``config`` says (or continue the run saved in ``resume``) and test the result.

    A resumed run keeps its own settings; ``extend_to`` alone may change, to
    train it to that many epochs in all (a finished run goes on; the schedule
    is then laid over the new length, from the step where the run stands).

    Writes into ``out_dir`` (default ``runs/<dataset>-<model>``): last.safetensors,
    best.safetensors, history.json, history.csv and metrics.json. The folder
    is locked while the run trains; a new run into a folder that holds
    another run's files is refused unless ``overwrite`` is given (those files
    are then deleted first). Returns the test evaluation and the metrics.

    ``resume`` is a checkpoint's path, or the run :func:`read_resumed` read
    from one. A resumed run whose model is built by code the checkpoint names (an import
    path) needs ``trust_code``. A run started from ``config.init_from`` trusts
    the code of its own model (``config.model``, already imported) and no other,
    unless ``trust_code`` says so (:mod:`convmath.run.finetune`).
    """
    checkpoint: Checkpoint | None = None
    resumed: Module | None = None  # the resumed run's model, built once
    if resume is not None:
        if not isinstance(resume, Resumed):
            resume = read_resumed(resume, trust_code=trust_code)
        checkpoint, config, resumed, resume = (
            resume.checkpoint,
            resume.config,
            resume.model,
            resume.path,
        )
        if extend_to is not None:
            config = _extended(config, extend_to, checkpoint, resume)
        out_dir = Path(out_dir or Path(resume).parent)
    config.checked()
    out_dir = Path(out_dir or default_out_dir(config))
    processes = world()
    replicas = (
        DataParallel(processes, config.seed, sync_batch_norm=config.sync_bn)
        if processes.size > 1
        else OneProcess()
    )
    with processes.stop_all_on_error("convmath train"):
        if replicas.active and config.batch_size < processes.size:
            raise InvalidArgumentError(
                f"--batch-size {config.batch_size} is the global batch, cut into one share per"
                f" process; it must be at least the {processes.size} processes"
            )
        if not processes.is_root:  # rank 0 alone holds the folder, prints and writes
            return _train_in(
                config,
                out_dir,
                checkpoint,
                resume,
                on_step,
                on_epoch,
                _quiet,
                processes,
                replicas,
                resumed=resumed,
                trust_code=trust_code,
            )
        with RunFolder(out_dir, overwrite=overwrite) as folder:
            if checkpoint is None or resume is None:
                folder.claim(resuming=False)
            else:
                _carry_over(checkpoint, Path(resume), folder)
            return _train_in(
                config,
                out_dir,
                checkpoint,
                resume,
                on_step,
                on_epoch,
                log,
                processes,
                replicas,
                resumed=resumed,
                trust_code=trust_code,
            )


def _quiet(_line: str) -> None:
    pass


def _extended(
    config: TrainConfig, epochs: int, checkpoint: Checkpoint, resume: str | Path
) -> TrainConfig:
    """The resumed run's configuration, to ``epochs`` epochs in all."""
    done = checkpoint.state["epoch"]
    if epochs <= done:
        raise InvalidArgumentError(
            f"{resume}: the run has trained {plural(done, 'epoch')}; to extend it, ask for more"
            f" (got {epochs})"
        )
    return dataclasses.replace(config, epochs=epochs).checked(dataset_must_exist=False)


def _carry_over(checkpoint: Checkpoint, resume: Path, folder: RunFolder) -> None:
    """Claim the folder for a resumed run; into a new folder, copy the run's checkpoints.

    The best epoch may be behind the resumed one, so its checkpoint must be
    there: a resume without it is refused before any training.
    """
    source, out_dir = resume.parent, folder.path
    in_place = source.resolve() == out_dir.resolve()
    folder.claim(resuming=in_place)
    best_epoch = checkpoint.state.get("best_epoch")
    if best_epoch is not None and not (source / BEST).is_file():
        raise CheckpointError(
            f"{resume}: its run's best epoch ({best_epoch}) is in {source / BEST}, which is"
            f" missing; resume in the run's own folder with both files, or copy {BEST} beside it"
        )
    if not in_place:
        if best_epoch is not None:
            shutil.copyfile(source / BEST, out_dir / BEST)
        shutil.copyfile(resume, out_dir / LAST)


@dataclass
class PreparedRun:
    """What a run trains with, put together from its configuration (:func:`prepare_run`)."""

    trainer: Trainer
    model: Module
    model_name: str
    preprocessing: Preprocessing
    classes: tuple[str, ...]
    stored: dict[str, Any]  # the configuration every checkpoint holds
    test: tuple[np.ndarray, np.ndarray]  # (raw images, labels)


def prepare_run(
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    on_step: Sequence[StepCallback] = (),
    on_epoch: Sequence[EpochCallback] = (),
    log: Callable[[str], None] = print,
    processes: World | None = None,
    replicas: OneProcess | None = None,
    resumed: Module | None = None,
    resume: str | Path | None = None,
    checkpoint: Checkpoint | None = None,
    trust_code: bool = False,
) -> PreparedRun:
    """The model, data, batches, optimizer, schedule and trainer that ``config`` describes.

    Everything :func:`run_training` trains with, from the same seed, so that
    what is done with it (a run, or the learning-rate range test of
    :func:`convmath.train.lr_find`) sees the very batches a run would.
    ``config`` is checked by the caller. The trainer writes checkpoints into
    ``out_dir`` (None: nowhere). ``resumed`` is the model of a run being
    resumed (its weights are then its own, never ``config.init_from``'s), and
    ``checkpoint`` its checkpoint (a fine-tuned model keeps the normalisation it
    stores). ``trust_code`` as for :func:`run_training`.
    """
    processes = processes if processes is not None else world()
    replicas = replicas if replicas is not None else OneProcess()
    seeds = np.random.SeedSequence(config.seed).spawn(3)
    split_rng, init_rng, data_rng = (np.random.default_rng(s) for s in seeds)

    # The model first, from the input shape the headers give: a model that does not fit, or
    # is too large, is refused before any image is decoded.
    mode = "RGB" if config.color else "L"
    input_shape = data.input_shape(config.dataset, mode=mode, size=config.image_size)
    classes = _classes(config)
    model_name = default_model(config, input_shape[2])
    fine_tuning: list[str] = []
    normalized_as: Preprocessing | None = None  # a fine-tuned model's own mean and std
    if resumed is None and config.init_from is not None:
        start = start_from(config, input_shape, len(classes), init_rng, trust_code=trust_code)
        model, model_name, fine_tuning = start.model, start.name, start.lines
        normalized_as = start.preprocessing
    elif resumed is None:
        try:
            model = models.build(
                model_name, input_shape, len(classes), rng=init_rng, **config.model_options
            )
        except ShapeError as error:
            raise ShapeError(f"{error}{_fit_hint(config, model_name, input_shape)}") from None
    else:  # rebuilt from the checkpoint: it must be the model its training settings build
        built = {
            "name": model_name,
            "input_shape": list(input_shape),
            "num_classes": len(classes),
            "options": config.model_options,
        }
        if config.init_from is not None:  # a fine-tuned model: the one it started from
            built = {**resumed.config, "input_shape": built["input_shape"]}
            built["num_classes"] = len(classes)
            model_name = resumed.config["name"]
            if checkpoint is not None:  # normalised as that one was
                normalized_as = Preprocessing.from_dict(checkpoint.config["preprocessing"])
        if resumed.config != built:
            raise CheckpointError(
                f"{resume}: the stored model {shown(resumed.config, 200)} is not the one its"
                f" training settings build ({built})"
            )
        model = resumed
    if config.freeze_until is not None:
        frozen = transfer.freeze_until(model, input_shape, config.freeze_until)
        fine_tuning.append(describe_frozen(model, config.freeze_until, frozen))
    limits.check_model_memory(
        model, input_shape, config.batch_size, f"training {model_name}", training=True
    )
    limits.check_model_memory(
        model, input_shape, config.eval_batch_size, f"evaluating {model_name}"
    )

    train_images, train_labels = _load_split(config, "train")
    test_images, test_labels = _load_split(config, "test")
    if config.train_limit:
        train_images = train_images[: config.train_limit]
        train_labels = train_labels[: config.train_limit]
    parts = data.train_dev_test_split(
        train_labels, dev=config.dev_fraction, test=0, rng=split_rng, stratify=True
    )
    fit_images, fit_labels = train_images[parts.train], train_labels[parts.train]
    dev = (train_images[parts.dev], train_labels[parts.dev])
    for images in (train_images, test_images):
        if images.shape[1:] != input_shape:
            raise DataError(
                f"{config.dataset}: images of shape {images.shape[1:]}, expected {input_shape}"
            )
    info = data.DATASETS.get(config.dataset)
    scale = 1.0 / (info.max_value if info else 255)
    mean, std = data.channel_stats(fit_images, scale)
    if normalized_as is not None:  # fine-tuning: the inputs the model was trained on
        mean, std = normalized_as.mean, normalized_as.std
    preprocessing = Preprocessing(input_shape, scale, mean, np.maximum(std, MIN_STD), classes)
    size, last = processes.size, len(fit_labels) % config.batch_size
    train = data.Batches(
        fit_images,
        fit_labels,
        config.batch_size,
        rng=data_rng,
        scale=scale,
        transform=parse_augment(config.augment, input_shape),
        # a last batch of one example gives batch norm a zero variance; under MPI, one
        # smaller than the processes would leave a share empty
        drop_last=last == 1 or (replicas.active and 0 < last < size),
        mean=preprocessing.mean,
        std=preprocessing.std,
        share=processes.share if replicas.active else None,
        augment_rng=np.random.default_rng(0) if replicas.active else None,  # reseeded per epoch
    )
    optimizer = make_optimizer(config, model)  # over the parameters that are not frozen
    schedule = make_schedule(config, optimizer.lr, len(train))
    log(summary_table(model, input_shape, f"{model_name} on {config.dataset}"))
    carved = data.carved_test_note(config.dataset)
    log(
        f"\n{len(fit_labels)} training, {len(dev[1])} dev, {len(test_labels)} test images"
        f"{f' ({carved})' if carved else ''}; batch {config.batch_size},"
        f" {plural(config.epochs, 'epoch')}, seed {config.seed}"
    )
    if replicas.active:
        log(
            f"data parallel over {size} processes (MPI): each takes its share of every batch"
            f" of {config.batch_size}; batch norm over "
            + ("the whole batch (--sync-bn)" if config.sync_bn else "each share")
        )
    log("\n".join([*fine_tuning, *config.settings_lines()]) + "\n")
    stored = {
        "training": dataclasses.asdict(config),
        "model": model.config,
        "preprocessing": preprocessing.to_dict(),
        "dataset": config.dataset,
    }
    trainer = Trainer(
        model,
        optimizer=optimizer,
        schedule=schedule,
        train=train,
        dev=dev,
        prepare=preprocessing,
        num_classes=len(classes),
        epochs=config.epochs,
        out_dir=out_dir if processes.is_root else None,
        patience=config.patience,
        label_smoothing=config.label_smoothing,
        clip_norm=config.clip_norm,
        config=stored,
        on_step=on_step,
        on_epoch=on_epoch,
        log=log,
        eval_batch_size=config.eval_batch_size,
        replicas=replicas,
    )
    return PreparedRun(
        trainer, model, model_name, preprocessing, classes, stored, (test_images, test_labels)
    )


def _train_in(
    config: TrainConfig,
    out_dir: Path,
    checkpoint: Checkpoint | None,
    resume: str | Path | None,
    on_step: Sequence[StepCallback],
    on_epoch: Sequence[EpochCallback],
    log: Callable[[str], None],
    processes: World,
    replicas: OneProcess,
    *,
    resumed: Module | None = None,
    trust_code: bool = False,
) -> RunResult:
    prepared = prepare_run(
        config,
        out_dir=out_dir,
        on_step=on_step,
        on_epoch=on_epoch,
        log=log,
        processes=processes,
        replicas=replicas,
        resumed=resumed,
        resume=resume,
        checkpoint=checkpoint,
        trust_code=trust_code,
    )
    trainer, model, preprocessing = prepared.trainer, prepared.model, prepared.preprocessing
    classes, stored, optimizer = prepared.classes, prepared.stored, trainer.optimizer
    test_images, test_labels = prepared.test
    if checkpoint is not None:
        trainer.restore(checkpoint)
        log(f"resuming {resume} after epoch {trainer.state.epoch} (step {trainer.state.step})")
    replicas.broadcast_state(model, optimizer)
    started = time.perf_counter()
    state = trainer.fit()
    train_seconds = (
        time.perf_counter()
        - started
        + sum(
            row["seconds"]
            for row in state.history[: (checkpoint.state["epoch"] if checkpoint else 0)]
        )
    )
    test = replicas.evaluate(
        model, test_images, test_labels, preprocessing, len(classes), config.eval_batch_size
    )
    metrics = {
        "test_accuracy": test.accuracy,
        "test_loss": test.loss,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "dev_accuracy": state.best_accuracy,
        "stopped_early": state.stopped_early,
        "train_seconds": train_seconds,
        "per_class_accuracy": [None if np.isnan(a) else a for a in test.per_class_accuracy],
        "confusion_matrix": test.confusion.tolist(),
        "parameters": model.num_parameters(),
        "trained_parameters": sum(p.size for p in transfer.trainable(model.parameters())),
        "kernel_choice": autotune.get_policy(),  # "measure" under --autotune
        "config": stored,
    }
    if processes.is_root:
        write_results(out_dir, state, metrics)
    return RunResult(out_dir, state, test, metrics, model, preprocessing)


def write_results(out_dir: Path, state: TrainState, metrics: dict[str, Any]) -> None:
    """history.json, history.csv and metrics.json (atomically, like the checkpoints)."""
    atomic_write(out_dir / HISTORY_JSON, json.dumps(state.history, indent=2).encode())
    atomic_write(out_dir / METRICS, json.dumps(metrics, indent=2).encode())
    if state.history:
        # one number per cell: the per-step curve (a list) is in history.json
        columns = [
            k for k in dict.fromkeys(k for row in state.history for k in row) if k != "step_losses"
        ]
        lines = [",".join(columns)]
        lines += [",".join(str(row.get(c, "")) for c in columns) for row in state.history]
        atomic_write(out_dir / HISTORY_CSV, ("\n".join(lines) + "\n").encode())


__all__ = [
    "LAST",
    "PreparedRun",
    "RunResult",
    "TrainConfig",
    "prepare_run",
    "run_training",
    "write_results",
]

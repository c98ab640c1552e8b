"""Pictures of what a network computes and learned (matplotlib, Agg backend, PNG files).

Every figure has a title, labelled axes and a colour bar where values
matter. Sizes are fixed (figure inches x ``DPI``), so a caller knows the
pixel size of what it gets. Needs the ``plots`` extra (matplotlib).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convmath.errors import InvalidArgumentError, MissingDependencyError
from convmath.files import atomic_write
from convmath.inspect.edges import EdgeMaps

DPI = 100


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "pictures need matplotlib: pip install 'convmath[plots]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: str | Path) -> Path:
    """The figure as a PNG file, written atomically (never a half-written picture)."""
    path = Path(path)
    picture = io.BytesIO()
    try:
        figure.savefig(picture, dpi=DPI, format="png")
    finally:
        _pyplot().close(figure)
    atomic_write(path, picture.getvalue())
    return path


def plot_history(
    history: Sequence[dict[str, Any]], path: str | Path, label_smoothing: float | None = None
) -> Path:
    """Loss and accuracy per epoch, training and dev, side by side (1000 x 400 px).

    Rows with ``step_losses`` (the trainer's) also draw the training loss
    within each epoch, so that a run of one epoch has a curve too.

    The loss is J, the softmax cross-entropy; ``label_smoothing`` (when known)
    is stated for the training curve, whose J is the one minimised, while dev
    and test losses are plain cross-entropies.
    """
    if not history:
        raise InvalidArgumentError("the history is empty: nothing to plot")
    for row in history:
        if not isinstance(row, dict):
            raise InvalidArgumentError(f"history rows must be mappings, got {row!r:.60}")
        missing = {"epoch", "train_loss", "train_accuracy"} - set(row)
        if missing:
            raise InvalidArgumentError(f"history rows need {sorted(missing)}; got {sorted(row)}")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    smoothed = bool(label_smoothing)
    loss_title = "J = softmax cross-entropy" if label_smoothing is not None else "loss J"
    for axes, key, title in (
        (loss_axes, "loss", loss_title),
        (accuracy_axes, "accuracy", "accuracy"),
    ):
        train = "train" + (f" (label smoothing {label_smoothing:g})" if smoothed else "")
        plain = " (no smoothing)" if smoothed and key == "loss" else ""
        axes.plot(epochs, [row[f"train_{key}"] for row in history], "o-", label=train)
        if key == "loss" and all(row.get("step_losses") for row in history):
            # within each epoch: the mean J of each group of its steps, at the group's middle
            places, values = [], []
            for row in history:
                curve = row["step_losses"]
                places += [row["epoch"] - 1 + (k + 0.5) / len(curve) for k in range(len(curve))]
                values += curve
            axes.plot(places, values, "-", color="C0", alpha=0.45, lw=1, label="train, by steps")
        if all(f"dev_{key}" in row for row in history):
            axes.plot(epochs, [row[f"dev_{key}"] for row in history], "s-", label="dev" + plain)
        if all(f"test_{key}" in row for row in history):
            test = [row[f"test_{key}"] for row in history]
            axes.plot(epochs, test, "^-", label="test" + plain)
        axes.set_title(f"{title}, per epoch", fontsize=10)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        axes.set_ylabel(key)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    return _save(figure, path)


def plot_lr_find(
    lrs: np.ndarray,
    losses: np.ndarray,
    smoothed: np.ndarray,
    suggestion: float,
    path: str | Path,
    title: str = "",
) -> Path:
    """The learning-rate range test: J and its smoothed curve against the rate (800 x 500 px).

    The rate axis is logarithmic; the suggested rate is marked by a vertical
    line and a dot on the smoothed curve, and the rate of the lowest smoothed
    loss by a second dot. The loss axis stops at 4x the lowest smoothed loss
    (where the test calls it diverging), so the descent is not flattened by a
    last exploding step.
    """
    lrs, losses, smoothed = (np.asarray(a, dtype=np.float64) for a in (lrs, losses, smoothed))
    if not len(lrs) or not lrs.shape == losses.shape == smoothed.shape:
        raise InvalidArgumentError(
            f"the range test needs as many rates as losses, at least one: got {lrs.shape},"
            f" {losses.shape}, {smoothed.shape}"
        )
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot(lrs, losses, "-", color="C0", alpha=0.35, lw=1, label="J of each step")
    axes.plot(lrs, smoothed, "-", color="C0", lw=2, label="smoothed J (moving average)")
    low = int(np.argmin(smoothed))
    axes.plot(lrs[low], smoothed[low], "o", color="C2", label=f"lowest, at rate {lrs[low]:.2g}")
    at = float(np.interp(np.log10(suggestion), np.log10(lrs), smoothed))
    axes.axvline(suggestion, color="C3", ls="--", lw=1)
    axes.plot(suggestion, at, "o", color="C3", label=f"suggested rate {suggestion:.2g}")
    finite = smoothed[np.isfinite(smoothed)]
    if finite.size:
        top = max(float(np.max(finite[: low + 1])), 4 * float(finite.min()))
        axes.set_ylim(min(float(np.min(losses[np.isfinite(losses)], initial=top)), top) * 0.95, top)
    axes.set_xscale("log")
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("loss J")
    axes.set_title(title or "Learning-rate range test", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return _save(figure, path)


def _grid(count: int, columns: int) -> tuple[int, int]:
    columns = min(columns, count)
    return math.ceil(count / columns), columns


MAX_FILTERS_DRAWN = 128  # a picture of more would be taller than a screen and slow to draw
MAX_LAYERS_DRAWN = 64


def plot_filters(
    weights: np.ndarray, path: str | Path, title: str = "", input_channel: int | None = None
) -> Path:
    """The filters W (f, f, n_C_prev, n_C) of a CONV layer as a grid of images.

    One input channel: gray levels on a shared scale with 0 in the middle (a
    colour bar gives the values); three: each filter shown as a colour image,
    rescaled to [0, 1]; more: the mean over input channels, and the title
    says so; ``input_channel`` draws each filter's slice for that input
    channel instead. Size: 1.2 inches per filter column and row, plus a
    1-inch colour bar, at DPI. A layer of more than 128 filters shows its
    first 128, and the title says so.
    """
    if weights.ndim != 4:
        raise InvalidArgumentError(
            f"filters must have shape (f, f, n_C_prev, n_C), got {weights.shape}"
        )
    plt = _pyplot()
    f_h, f_w, n_C_prev, n_C = weights.shape
    shown = f"{f_h}x{f_w}x{n_C_prev}"
    if input_channel is not None:
        if not 0 <= input_channel < n_C_prev:
            raise InvalidArgumentError(
                f"input channel {input_channel} does not exist: the filters have {n_C_prev}"
                f" input channels, 0 to {n_C_prev - 1}"
            )
        weights, n_C_prev = weights[:, :, input_channel : input_channel + 1, :], 1
        shown += f", their slices for input channel {input_channel}"
    elif n_C_prev not in (1, 3):
        shown += f", each drawn as the mean over its {n_C_prev} input channels"
    total = n_C
    if n_C > MAX_FILTERS_DRAWN:
        weights, n_C = weights[..., :MAX_FILTERS_DRAWN], MAX_FILTERS_DRAWN
        title = f"{title or 'filters'} (the first {n_C} of {total})"
    rows, columns = _grid(n_C, 8)
    figure, grid = plt.subplots(
        rows, columns, figsize=(1.2 * columns + 1, 1.2 * rows + 0.6), squeeze=False
    )
    bound = float(np.abs(weights).max()) or 1.0
    image = None
    for k, axes in enumerate(grid.flat):
        axes.set_xticks([])
        axes.set_yticks([])
        if k >= n_C:
            axes.axis("off")
            continue
        w = weights[:, :, :, k]
        if n_C_prev == 3:
            low, high = w.min(), w.max()
            axes.imshow((w - low) / ((high - low) or 1.0))
        else:
            image = axes.imshow(w.mean(axis=2), cmap="gray", vmin=-bound, vmax=bound)
        axes.set_title(f"filter {k}", fontsize=8)
    if image is not None:
        figure.colorbar(image, ax=grid.ravel().tolist(), shrink=0.8, label="weight")
    figure.suptitle(f"{title}\n({shown})" if title else f"{total} learned filters of {shown}")
    return _save(figure, path)


FEATURE_COLUMNS = 16  # channels per row of a layer's mosaic
MAX_CHANNELS_DRAWN = 1024  # per layer; a layer of more says so in its title
MAX_MOSAIC_VALUES = 1 << 22  # larger maps are drawn every s-th pixel (the title says so)
MAX_FIGURE_INCHES = 80  # total height; taller figures shrink every layer alike


def channel_mosaic(volume: np.ndarray, columns: int = FEATURE_COLUMNS) -> np.ndarray:
    """Every channel of ``volume`` (n_H, n_W, n_C) side by side, a row of ``columns`` at a time.

    Channel k sits at grid row k // columns, column k % columns; tiles are
    separated by one NaN row and column (drawn as background).
    """
    n_H, n_W, n_C = volume.shape
    rows, columns = _grid(n_C, columns)
    mosaic = np.full((rows * (n_H + 1) - 1, columns * (n_W + 1) - 1), np.nan)
    for k in range(n_C):
        top, left = (k // columns) * (n_H + 1), (k % columns) * (n_W + 1)
        mosaic[top : top + n_H, left : left + n_W] = volume[:, :, k]
    return mosaic


def plot_feature_maps(
    image: np.ndarray, maps: Sequence[tuple[str, np.ndarray]], path: str | Path, title: str = ""
) -> Path:
    """The input image, then every channel of each layer, on one colour scale per layer.

    ``maps`` are (layer name, activations (n_H, n_W, n_C)) for one example.
    Each layer is one mosaic of all its channels (channel k at row k // 16,
    column k % 16, numbered in the title) with a colour bar of its values, so
    channels of a layer compare directly; row titles give n_H x n_W x n_C,
    showing how the maps shrink and the channels grow with depth. ``title``
    (say, the predicted class) goes on top. 10 inches wide; each layer's
    height follows its mosaic's shape, the whole at most 120 inches. Caps,
    stated in the titles when they apply: 64 layers, 1,024 channels per
    layer, 4M values per mosaic (larger maps drawn every s-th pixel).
    """
    plt = _pyplot()
    suptitle = title or "Feature maps"
    suptitle += ": n_H, n_W shrink and n_C grows with depth"
    if len(maps) > MAX_LAYERS_DRAWN:
        suptitle += f" (the first {MAX_LAYERS_DRAWN} of {len(maps)} layers)"
        maps = maps[:MAX_LAYERS_DRAWN]
    panels = []
    for name, volume in maps:
        n_H, n_W, n_C = volume.shape
        label = f"{name}: {n_H}x{n_W}x{n_C}, channels 0-{min(n_C, MAX_CHANNELS_DRAWN) - 1}"
        if n_C > MAX_CHANNELS_DRAWN:
            label += f" (the first {MAX_CHANNELS_DRAWN} of {n_C})"
        drawn = min(n_C, MAX_CHANNELS_DRAWN)
        step = max(1, math.ceil(math.sqrt(n_H * n_W * drawn / MAX_MOSAIC_VALUES)))
        if step > 1:
            label += f", one pixel in {step} along each axis"
        panels.append((label, channel_mosaic(volume[::step, ::step, :drawn])))
    heights = [1.6] + [float(np.clip(8 * m.shape[0] / m.shape[1], 0.6, 6)) for _, m in panels]
    if sum(heights) > MAX_FIGURE_INCHES:
        heights = [h * MAX_FIGURE_INCHES / sum(heights) for h in heights]
    figure, grid = plt.subplots(
        len(heights),
        1,
        figsize=(10, min(sum(heights) + 0.4 * len(heights) + 0.6, 1.5 * MAX_FIGURE_INCHES)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    grid = grid[:, 0]
    for axes in grid:
        axes.set_xticks([])
        axes.set_yticks([])
    picture = image[..., 0] if image.shape[-1] == 1 else image
    shown = grid[0].imshow(picture, cmap="gray")
    grid[0].set_title(f"input {image.shape[0]}x{image.shape[1]}x{image.shape[2]}", fontsize=9)
    if image.shape[-1] == 1:
        figure.colorbar(shown, ax=grid[0], fraction=0.05, label="input value")
    colours = plt.get_cmap("viridis").with_extremes(bad="white")  # the gaps between channels
    for axes, (label, mosaic) in zip(grid[1:], panels, strict=True):
        values = mosaic[np.isfinite(mosaic)]
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        shown = axes.imshow(mosaic, cmap=colours, vmin=low, vmax=high if high > low else low + 1)
        axes.set_title(label, fontsize=8)
        figure.colorbar(shown, ax=axes, fraction=0.05, label="activation")
    figure.suptitle(suptitle, fontsize=10)
    return _save(figure, path)


MAX_ANNOTATED_CLASSES = 30  # counts written in the cells up to this many classes
MAX_LABELLED_CLASSES = 60  # class names on the axes up to this many


def plot_confusion(confusion: np.ndarray, classes: Sequence[str], path: str | Path) -> Path:
    """The confusion matrix as a heat map (800 x 700 px).

    Counts are written in the cells for up to 30 classes and class names on
    the axes for up to 60; larger matrices show the heat map alone (with
    every class still a row and a column), so a thousand classes draw in
    seconds rather than minutes.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 7))
    shown = axes.imshow(confusion, cmap="Blues", interpolation="nearest")
    figure.colorbar(shown, ax=axes, label="test images")
    count = len(classes)
    if count <= MAX_LABELLED_CLASSES:
        ticks = np.arange(count)
        axes.set_xticks(ticks, labels=list(classes), rotation=45, ha="right")
        axes.set_yticks(ticks, labels=list(classes))
    axes.set_xlabel("predicted class" + ("" if count <= MAX_LABELLED_CLASSES else " (index)"))
    axes.set_ylabel("true class" + ("" if count <= MAX_LABELLED_CLASSES else " (index)"))
    if count <= MAX_ANNOTATED_CLASSES:
        threshold = confusion.max() / 2
        for (i, j), cell in np.ndenumerate(confusion):
            if cell:
                color = "white" if cell > threshold else "black"
                axes.text(j, i, str(cell), ha="center", va="center", fontsize=7, color=color)
    accuracy = np.trace(confusion) / max(confusion.sum(), 1)
    axes.set_title(f"Confusion matrix ({confusion.sum()} test images, accuracy {accuracy:.2%})")
    figure.tight_layout()
    return _save(figure, path)


def plot_misclassified(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[str],
    path: str | Path,
    count: int = 16,
) -> Path:
    """The most confidently misclassified images, most confident first (4 columns, 2 in each)."""
    plt = _pyplot()
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels)
    order = wrong[np.argsort(-probabilities[wrong, predictions[wrong]])][:count]
    rows, columns = _grid(max(len(order), 1), 4)
    figure, grid = plt.subplots(rows, columns, figsize=(2 * columns, 2 * rows + 0.5), squeeze=False)
    for axes in grid.flat:
        axes.axis("off")
    for axes, index in zip(grid.flat, order, strict=False):
        picture = images[index]
        axes.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray")
        confidence = probabilities[index, predictions[index]]
        axes.set_title(
            f"true {classes[labels[index]]}, said {classes[predictions[index]]}\n"
            f"({confidence:.0%} sure)",
            fontsize=8,
        )
    if not len(order):
        grid[0, 0].text(0.5, 0.5, "no misclassified image", ha="center", va="center")
    figure.suptitle(f"Most confidently misclassified: {len(order)} of {len(wrong)} errors")
    return _save(figure, path)


def plot_edges(maps: EdgeMaps, path: str | Path) -> Path:
    """The article's first example: image | image * each filter | magnitude (for a pair).

    Filter maps use a diverging scale centred on 0 (red positive, blue
    negative). 350 px wide per panel, 380 px high (1400 x 380 for the edge pair).
    """
    plt = _pyplot()
    panels = [(maps.image, "image", "gray", None, "intensity")]
    for name, values in zip(maps.names, maps.maps, strict=True):
        bound = float(np.abs(values).max()) or 1.0
        panels.append((values, f"image * {name}", "RdBu_r", bound, "response"))
    if maps.magnitude is not None:
        panels.append((maps.magnitude, "magnitude sqrt(V^2 + H^2)", "magma", None, "magnitude"))
    figure, grid = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 3.8))
    for axes, (values, title, cmap, bound, label) in zip(grid, panels, strict=True):
        limits = {"vmin": -bound, "vmax": bound} if bound else {}
        shown = axes.imshow(values, cmap=cmap, **limits)
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("column w")
        axes.set_ylabel("row h")
        figure.colorbar(shown, ax=axes, fraction=0.046, label=label)
    figure.tight_layout()
    return _save(figure, path)

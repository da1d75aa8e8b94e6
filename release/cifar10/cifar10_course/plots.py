"""Figures students would rather look at than read: sample images, learning curves, confusions.

Every function returns its matplotlib ``Figure`` and leaves showing it to the notebook (the inline
backend shows a new figure at the end of the cell), so a test can inspect the figure instead.
Labels may come in any of the shapes the notebooks produce: integers ``(N,)``, Keras's ``(N, 1)``,
or one-hot / predicted-probability arrays ``(N, 10)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from cifar10_course.acceptance import accuracy_key
from cifar10_course.data import CLASS_NAMES, class_indices


def _pyplot():
    """Matplotlib's pyplot, imported by the first plot: its import (about 0.4 s) is then paid by
    the notebooks that plot, not by every grading process and checker that imports the package."""
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------------------------
# Sample images


def show_image_grid(images, labels, class_names=CLASS_NAMES, rows=3, cols=6, title=None,
                    seed=None):
    """Show up to ``rows * cols`` images in a grid, each titled with its class name.

    ``images`` is ``(N, 32, 32, 3)``, uint8 0-255 or float 0-1. Without ``seed`` the first
    images are shown, with it a random sample (the same one for the same seed). When there are
    fewer images than cells, the remaining cells stay blank.
    """
    plt = _pyplot()
    images = np.asarray(images)
    classes = class_indices(labels)
    if len(images) != len(classes):
        raise ValueError(f"There are {len(images)} images but {len(classes)} labels.")
    if images.dtype.kind == "f" and images.size and images.max() > 1:
        images = images / 255  # Floats still on the 0-255 scale would otherwise show as white.

    count = min(rows * cols, len(images))
    if seed is None:
        chosen = range(count)
    else:
        chosen = np.random.default_rng(seed).choice(len(images), size=count, replace=False)

    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax, index in itertools.zip_longest(axes.flat, chosen):
        ax.axis("off")
        if index is not None:
            ax.imshow(images[index])
            ax.set_title(class_names[classes[index]], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Learning curves


def _runs(histories) -> dict:
    """``{label: history dict}``; label ``None`` for a single run."""
    if hasattr(histories, "history"):  # A keras.callbacks.History.
        return {None: _with_accuracy(dict(histories.history))}
    if not isinstance(histories, Mapping):
        raise TypeError(
            "histories should be a Keras History, a dict like History.history, or a dict of "
            f"them keyed by run label, but is a {type(histories).__name__}."
        )
    values = list(histories.values())
    if values and all(hasattr(v, "history") or isinstance(v, Mapping) for v in values):
        return {label: _with_accuracy(dict(getattr(run, "history", run))) for label, run in histories.items()}
    return {None: _with_accuracy(dict(histories))}


def _with_accuracy(run: dict) -> dict:
    """``run`` with its accuracy also under "accuracy" (and "val_accuracy"), whichever of Keras's
    names it was recorded under ("acc", "categorical_accuracy", ...)."""
    key = accuracy_key(run)
    if key is not None and "accuracy" not in run:
        run["accuracy"] = run[key]
        if f"val_{key}" in run:
            run["val_accuracy"] = run[f"val_{key}"]
    return run


def plot_learning_curves(histories, metrics=("loss", "accuracy"), title=None, test=None):
    """Plot training (solid) and validation (dashed) curves, one subplot per metric.

    ``histories`` is what ``model.fit`` returned, its ``.history`` dict, or a dict
    ``{"run label": history, ...}`` to overlay several runs; each run gets its own colour.
    ``test``, what ``model.evaluate(..., return_dict=True)`` returned for the trained network on
    the test images, adds those values as a star after the last epoch: measured once, after
    training, so a point rather than a curve. Raises ``ValueError`` naming the available metrics
    when a metric is in no history.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    runs = _runs(histories)
    test = _with_accuracy(dict(test)) if test is not None else {}
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    available = sorted({key.removeprefix("val_") for run in runs.values() for key in run})
    missing = [m for m in metrics if not any(k in run for run in runs.values()
                                             for k in (m, f"val_{m}"))]
    if missing:
        raise ValueError(
            f"No history has the metric(s) {', '.join(missing)}. Available: "
            f"{', '.join(available) or 'none'}. (A metric is recorded only if it was passed to "
            "model.compile(metrics=[...]).)"
        )

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, metrics):
        for (label, run), colour in zip(runs.items(), itertools.cycle(colours)):
            curves = ((metric, "-", "training"), (f"val_{metric}", "--", "validation"))
            for key, style, kind in curves:
                if key in run:
                    values = run[key]
                    name = kind if label is None else f"{label} ({kind})"
                    ax.plot(range(1, len(values) + 1), values, linestyle=style, color=colour,
                            label=name)
        if metric in test:
            last_epoch = max((len(run.get(metric, ())) for run in runs.values()), default=0)
            ax.plot([last_epoch], [float(test[metric])], marker="*", markersize=12, linestyle="none",
                    color="black", label=f"test images, after training ({float(test[metric]):.3f})")
        ax.set(title=metric, xlabel="epoch", ylabel=metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # Epochs are whole numbers.
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Confusion matrix


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Return the ``(num_classes, num_classes)`` int matrix: row = true class, column = predicted.

    Labels take any form :func:`class_indices` accepts.
    """
    true, pred = class_indices(y_true), class_indices(y_pred)
    if len(true) != len(pred):
        raise ValueError(f"There are {len(true)} true labels but {len(pred)} predictions.")
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} has classes outside 0-{num_classes - 1}.")
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def plot_confusion_matrix(y_true, y_pred, class_names=CLASS_NAMES, normalize=True, title=None):
    """Plot the confusion matrix with every cell annotated, rows = true class.

    With ``normalize`` each row is divided by its total, so the diagonal holds each class's
    recall (the fraction of its images classified correctly).
    """
    plt = _pyplot()
    counts = confusion_matrix(y_true, y_pred, len(class_names))
    if normalize:
        # max(total, 1): a class absent from y_true gets a row of zeros rather than NaN.
        values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    else:
        values = counts

    size = 0.65 * len(class_names) + 1.5
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, label="fraction of the true class" if normalize else "images")
    ticks = range(len(class_names))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=class_names, yticklabels=class_names,
           xlabel="predicted class", ylabel="true class")
    ax.set_title(title or ("Confusion matrix (rows sum to 1)" if normalize else "Confusion matrix"))
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")

    threshold = values.max() / 2 if values.size else 0  # White text on dark cells.
    for row, col in np.ndindex(values.shape):
        value = values[row, col]
        ax.text(col, row, f"{value:.2f}" if normalize else f"{value:d}", ha="center",
                va="center", fontsize=8, color="white" if value > threshold else "black")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Augmentation (Part 5) and per-class recall (Part 6)


def show_augmented_images(images, augment, copies=5, title=None):
    """Show each image (first column) beside ``copies`` augmented versions of it, one row each.

    ``augment`` is called as ``augment(batch, training=True)``, as Keras calls a model's
    preprocessing layers while it trains; ``images`` is ``(N, 32, 32, 3)`` in [0, 1]. The random
    layers draw from the notebook's seed (``seed_everything``); nothing here reseeds, which would
    make every later training cell start from the same state whatever ``COURSE_SEED`` says.
    """
    plt = _pyplot()
    images = np.asarray(images, dtype="float32")
    versions = [np.clip(np.asarray(augment(images, training=True)), 0, 1) for _ in range(copies)]
    fig, axes = plt.subplots(len(images), copies + 1, figsize=(1.5 * (copies + 1), 1.5 * len(images)),
                             squeeze=False)
    for row, image in enumerate(images):
        for col, shown in enumerate([image] + [version[row] for version in versions]):
            axes[row, col].imshow(shown)
            axes[row, col].axis("off")
        axes[row, 0].set_title("original" if row == 0 else "", fontsize=9)
    for col in range(1, copies + 1):
        axes[0, col].set_title(f"augmented {col}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_per_class_recall(recalls, class_names=CLASS_NAMES, title=None, highlight=None):
    """Bar chart of each class's recall, one bar per run side by side: ``{"run": recalls, ...}``.

    A dashed line marks each run's mean recall (its balanced accuracy); ``highlight`` (a class
    number) shades the class the comparison is about.
    """
    plt = _pyplot()
    runs = {label: np.asarray(values, dtype=float) for label, values in recalls.items()}
    for label, values in runs.items():
        if values.shape != (len(class_names),):
            raise ValueError(f"Run {label!r} has {values.shape[0] if values.ndim else 0} recalls "
                             f"for {len(class_names)} classes.")
    positions = np.arange(len(class_names))
    width = 0.8 / max(len(runs), 1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(class_names)), 3.8))
    if highlight is not None:
        ax.axvspan(highlight - 0.45, highlight + 0.45, color="0.9", zorder=0)
    for number, ((label, values), colour) in enumerate(zip(runs.items(), itertools.cycle(colours))):
        offset = (number - (len(runs) - 1) / 2) * width
        ax.bar(positions + offset, values, width, color=colour, label=label, zorder=2)
        ax.axhline(np.nanmean(values), color=colour, linestyle="--", linewidth=1, zorder=1)
    ax.set(xticks=positions, ylim=(0, 1), ylabel="recall (share found)",
           title=title or "Recall of each class (dashed: mean over classes)")
    ax.set_xticklabels(class_names, rotation=45, ha="right", rotation_mode="anchor")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    return fig

"""The figures: image grid titles, learning-curve lines, confusion-matrix counts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # Before pyplot is imported: no window, no display needed.

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cifar10_course.data import CLASS_NAMES  # noqa: E402
from cifar10_course.plots import (  # noqa: E402
    confusion_matrix,
    plot_confusion_matrix,
    plot_learning_curves,
    plot_per_class_recall,
    show_augmented_images,
    show_image_grid,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def sample():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=20)
    return images, labels


def titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


# ---------------------------------------------------------------------------------------------
# show_image_grid


@pytest.mark.parametrize("form", ["int", "column", "one-hot"])
def test_grid_titles_are_the_class_names_of_the_first_images(sample, form):
    images, labels = sample
    given = {"int": labels, "column": labels.reshape(-1, 1), "one-hot": np.eye(10)[labels]}[form]
    fig = show_image_grid(images, given, rows=2, cols=3)
    assert len(fig.axes) == 6
    assert titles(fig) == [CLASS_NAMES[c] for c in labels[:6]]
    assert all(not ax.axison for ax in fig.axes)


def test_grid_with_seed_shows_a_repeatable_random_sample(sample):
    images, labels = sample
    # Give every image a distinct label so the titles say which images were picked.
    names = [f"image {i}" for i in range(20)]
    first = titles(show_image_grid(images, np.arange(20), class_names=names, seed=1))
    again = titles(show_image_grid(images, np.arange(20), class_names=names, seed=1))
    other = titles(show_image_grid(images, np.arange(20), class_names=names, seed=2))
    assert first == again
    assert first != other
    assert first != names[:18]
    assert len(set(first)) == 18


def test_grid_with_fewer_images_than_cells_leaves_the_rest_blank(sample):
    images, labels = sample
    fig = show_image_grid(images[:4], labels[:4], rows=2, cols=3, title="Four")
    assert len(fig.axes) == 6
    assert [len(ax.images) for ax in fig.axes] == [1, 1, 1, 1, 0, 0]
    assert titles(fig) == [CLASS_NAMES[c] for c in labels[:4]]
    assert fig._suptitle.get_text() == "Four"


def test_grid_shows_float_images_in_0_1(sample):
    images, labels = sample
    fig = show_image_grid(images.astype("float32") / 255, labels, rows=1, cols=2)
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, images[0] / 255, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# plot_learning_curves


HISTORY = {
    "loss": [2.0, 1.5, 1.2],
    "accuracy": [0.3, 0.45, 0.55],
    "val_loss": [1.8, 1.6, 1.5],
    "val_accuracy": [0.35, 0.42, 0.48],
}


class FakeHistory:
    """What ``model.fit`` returns, as far as the plot is concerned."""

    def __init__(self, history):
        self.history = history


@pytest.mark.parametrize("given", [HISTORY, FakeHistory(HISTORY)], ids=["dict", "History"])
def test_single_run_has_solid_training_and_dashed_validation_lines(given):
    fig = plot_learning_curves(given)
    assert len(fig.axes) == 2
    for ax, metric in zip(fig.axes, ("loss", "accuracy")):
        assert ax.get_title() == metric
        assert ax.get_xlabel() == "epoch"
        training, validation = ax.get_lines()
        assert training.get_label() == "training"
        assert validation.get_label() == "validation"
        assert training.get_linestyle() == "-"
        assert validation.get_linestyle() == "--"
        assert training.get_color() == validation.get_color()
        assert list(training.get_xdata()) == [1, 2, 3]
        assert list(training.get_ydata()) == HISTORY[metric]
        assert list(validation.get_ydata()) == HISTORY[f"val_{metric}"]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training", "validation"]


def test_several_runs_overlay_with_one_colour_each():
    shorter = {key: values[:2] for key, values in HISTORY.items()}
    fig = plot_learning_curves(
        {"without augmentation": FakeHistory(HISTORY), "with augmentation": shorter},
        metrics=("accuracy",),
    )
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [
        "without augmentation (training)", "without augmentation (validation)",
        "with augmentation (training)", "with augmentation (validation)",
    ]
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert all(line.get_xdata()[0] == 1 for line in lines)
    assert list(lines[2].get_xdata()) == [1, 2]


def test_history_without_validation_has_only_training_lines():
    fig = plot_learning_curves({"loss": [1.0, 0.5]}, metrics="loss")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["training"]


def test_test_results_show_as_a_star_after_the_last_epoch():
    """Part 2 shows the trained network on the test images beside its training curves: one point
    each for loss and accuracy, after the last epoch, whatever name the accuracy was recorded under."""
    history = {"loss": [2.0, 1.6, 1.4], "acc": [0.2, 0.35, 0.45]}
    fig = plot_learning_curves(history, test={"loss": 1.7, "acc": 0.38})
    for ax, value in zip(fig.axes, (1.7, 0.38)):
        (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
        assert list(star.get_xdata()) == [3] and list(star.get_ydata()) == [value]
        assert star.get_label().startswith("test images, after training")
    assert not [line for line in plot_learning_curves(history).axes[0].get_lines() if line.get_marker() == "*"]


def test_missing_metric_names_the_available_ones():
    with pytest.raises(ValueError, match="top5") as error:
        plot_learning_curves(HISTORY, metrics=("loss", "top5"))
    assert "Available: accuracy, loss" in str(error.value)
    assert not plt.get_fignums()  # No half-drawn figure left behind.


# ---------------------------------------------------------------------------------------------
# confusion_matrix and plot_confusion_matrix


def test_confusion_matrix_counts_a_known_example():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    expected = np.array([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), expected)
    # The same labels as Keras's (N, 1), as one-hot and as predicted probabilities.
    probabilities = np.eye(3)[y_pred] * 0.5 + 0.1
    np.testing.assert_array_equal(
        confusion_matrix(np.array(y_true).reshape(-1, 1), probabilities, 3), expected
    )
    np.testing.assert_array_equal(confusion_matrix(np.eye(3)[y_true], y_pred, 3), expected)


def test_confusion_matrix_rejects_mismatched_or_out_of_range_labels():
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        confusion_matrix([0, 1, 2], [0, 1], 3)
    with pytest.raises(ValueError, match="outside 0-2"):
        confusion_matrix([0, 1, 3], [0, 1, 2], 3)


def test_plot_normalizes_rows_and_annotates_every_cell():
    y_true = [0, 0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 2, 2]
    fig = plot_confusion_matrix(y_true, y_pred, class_names=("a", "b", "c"))
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # The matrix and its colour bar.
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown.sum(axis=1), 1)
    np.testing.assert_allclose(shown[0], [0.75, 0.25, 0])
    assert [t.get_text() for t in ax.texts] == [
        "0.75", "0.25", "0.00", "0.00", "0.50", "0.50", "0.00", "0.00", "1.00"
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_ylabel() == "true class"
    assert ax.get_xlabel() == "predicted class"


def test_plot_of_counts_uses_the_class_names_and_one_hot_predictions():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, size=(200, 1))
    scores = rng.random((200, 10))
    fig = plot_confusion_matrix(y_true, scores, normalize=False, title="Test set")
    ax = fig.axes[0]
    counts = confusion_matrix(y_true, scores.argmax(axis=1), 10)
    assert counts.sum() == 200
    np.testing.assert_array_equal(ax.images[0].get_array(), counts)
    assert [t.get_text() for t in ax.texts] == [str(c) for c in counts.flat]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES)
    assert ax.get_title() == "Test set"


# ---------------------------------------------------------------------------------------------
# Augmented images and per-class recall


def test_augmented_grid_shows_each_original_beside_its_copies(sample):
    images = sample[0][:3] / 255
    calls = []

    def brighter(batch, training=False):
        calls.append(training)
        return np.asarray(batch) + 0.5

    fig = show_augmented_images(images, brighter, copies=4)
    assert calls == [True] * 4  # augmentation runs in training mode, once per copy
    axes = np.array(fig.axes).reshape(3, 5)
    np.testing.assert_allclose(axes[1, 0].images[0].get_array(), images[1])
    np.testing.assert_allclose(axes[1, 2].images[0].get_array(), np.clip(images[1] + 0.5, 0, 1))
    assert axes[0, 0].get_title() == "original" and axes[0, 4].get_title() == "augmented 4"


def test_per_class_recall_draws_one_bar_per_class_and_run():
    balanced = np.linspace(0.3, 0.9, 10)
    reduced = balanced.copy()
    reduced[3] = 0.05
    fig = plot_per_class_recall({"balanced": balanced, "cats cut": reduced}, highlight=3)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches if patch.get_width() < 0.5]
    assert sorted(heights) == sorted([*balanced, *reduced])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CLASS_NAMES)
    means = sorted(line.get_ydata()[0] for line in ax.get_lines())
    assert means == pytest.approx(sorted([balanced.mean(), reduced.mean()]))


def test_per_class_recall_refuses_the_wrong_number_of_classes():
    with pytest.raises(ValueError, match="has 3 recalls for 10 classes"):
        plot_per_class_recall({"run": [0.1, 0.2, 0.3]})


def test_augmented_grid_leaves_the_notebooks_random_state_alone(sample):
    """Reseeding inside a plot would make every later training identical whatever COURSE_SEED says."""
    import random

    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    show_augmented_images(sample[0][:2] / 255, lambda batch, training=False: np.asarray(batch), copies=2)
    assert (np.random.rand(), random.random()) == expected

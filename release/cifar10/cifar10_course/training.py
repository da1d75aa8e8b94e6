"""Train once, grade from saved weights: the training cells of Parts 2-4 call :func:`train_or_load`.

Retraining every submission would cost hours per student on a CPU. So when a student runs a
notebook, the training cell trains with the student's functions and saves the weights to
``trained_models/<part>.weights.h5`` beside the notebook. Under ``nbgrader autograde`` and
``nbgrader validate`` (nbgrader sets ``NBGRADER_EXECUTION``) training is skipped: the student's
build function makes the architecture again and the saved weights are loaded into it. Missing,
damaged or mismatching weights do not raise here; they are kept as :attr:`TrainedModel.problem`,
which fails the accuracy test with that message and leaves every other test alone.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .plots import class_indices

WEIGHTS_FOLDER = "trained_models"
GRADING_VALUES = ("autograde", "validate")
# Every model the notebooks' training cells save, as (part, variant): a part that trains several
# models names each one. nbgrader_config.py protects these files of a student's at autograde.
TRAINED_MODELS = (
    ("part2_mlp", None),
    ("part3_cnn", None),
    ("part4_binary", None),
    ("part5_deeper", "plain"),
    ("part5_deeper", "augmented"),
    ("part6_bias", "balanced"),
    ("part6_bias", "undersampled"),
    ("part6_bias", "rebalanced"),
)


@dataclass
class TrainedModel:
    """What a training cell produced: a model, its training history, or why there is no model."""

    part: str
    model: object = None
    history: object = None
    problem: str | None = None
    variant: str | None = None

    @property
    def name(self) -> str:
        """``part2_mlp``, or ``part5_deeper/augmented`` for one of several models of a part."""
        return self.part if self.variant is None else f"{self.part}/{self.variant}"


def is_grading() -> bool:
    """True while nbgrader autogrades or validates the notebook: then nothing is trained."""
    return os.environ.get("NBGRADER_EXECUTION", "") in GRADING_VALUES


def weights_path(part: str, variant: str | None = None) -> Path:
    """Where a model's trained weights live, relative to the notebook's folder."""
    stem = part if variant is None else f"{part}_{variant}"
    return Path(WEIGHTS_FOLDER) / f"{stem}.weights.h5"


@contextlib.contextmanager
def _keras_numpy_noise_silenced():
    """Keras 3.15 converts variables with np.array(), which NumPy 2.4 flags as deprecated on
    stderr while saving and loading weights: noise for a student, and nothing they could act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def train_or_load(part: str, build, train, x_train, y_train, variant: str | None = None) -> TrainedModel:
    """Train ``build()`` with ``train(model, x, y)`` and save the weights; when grading, load them.

    ``variant`` names one of several models that a part trains (see :data:`TRAINED_MODELS`).
    """
    path = weights_path(part, variant)
    if not is_grading():
        model = build()
        history = train(model, x_train, y_train)
        path.parent.mkdir(exist_ok=True)
        with _keras_numpy_noise_silenced():
            model.save_weights(path)
        print(f"Saved the trained weights to {path}: submit this file with the notebook.")
        return TrainedModel(part, model, history, variant=variant)

    build_name = getattr(build, "__name__", "the build function")
    try:
        model = build()
    except Exception as error:  # The student's code: any failure is theirs to read about.
        return TrainedModel(part, problem=f"{build_name}() failed, so there is no model to test: "
                                          f"{type(error).__name__}: {error}", variant=variant)
    if not path.is_file():
        return TrainedModel(part, model, variant=variant, problem=(
            f"No trained weights at {path}. Run the whole notebook once without nbgrader (the "
            f"training cell saves them there), then submit the {WEIGHTS_FOLDER} folder with it."))
    try:
        with _keras_numpy_noise_silenced():
            model.load_weights(path)
    except ValueError as error:
        return TrainedModel(part, model, variant=variant, problem=(
            f"The weights in {path} do not fit the model that {build_name}() builds now, probably "
            "because it changed after training. Run the training cell again, then submit. "
            f"Keras said: {str(error).splitlines()[0]}"))
    except Exception as error:
        return TrainedModel(part, model, variant=variant, problem=(
            f"The weights file {path} cannot be read ({type(error).__name__}): it is damaged or "
            "not a Keras weights file. Run the training cell again, then submit."))
    print(f"Grading: loaded the trained weights from {path}; training skipped.")
    return TrainedModel(part, model, variant=variant)


# Predicting the 10,000 test images takes seconds; the visible and the hidden accuracy test ask for
# the same predictions, so the last ones are kept.
_last_predictions: dict = {}


def predict(model, x) -> np.ndarray:
    """``model.predict(x)``, reused when the same model is asked about the same images again."""
    cached = _last_predictions.get("entry")
    if cached and cached[0] is model and cached[1].shape == x.shape and np.array_equal(cached[1], x):
        return cached[2]
    predictions = np.asarray(model.predict(x, batch_size=500, verbose=0))
    _last_predictions["entry"] = (model, np.array(x, copy=True), predictions)
    return predictions


def accuracy(model, x, y) -> float:
    """Share of ``x`` classified as ``y`` says, computed here from the model's predictions.

    One output unit means a sigmoid (class 1 above 0.5); several mean one score per class.
    ``y`` may be integer labels or one-hot rows.
    """
    scores = predict(model, x)
    if scores.ndim == 2 and scores.shape[1] == 1:
        predicted = (scores[:, 0] > 0.5).astype(np.int64)
        truth = np.asarray(y).reshape(-1).astype(np.int64)
    else:
        predicted = scores.argmax(axis=1)
        truth = class_indices(y)
    if len(truth) != len(predicted):
        raise AssertionError(f"There are {len(predicted)} images but {len(truth)} labels.")
    return float(np.mean(predicted == truth))

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
import hashlib
import json
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base_checks import CheckFailed
from .data import class_indices

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


def is_autograding() -> bool:
    """True while nbgrader autogrades the notebook: then the grader's checker measures the saved
    networks itself, and the notebook's own measurement would be thrown away."""
    return os.environ.get("NBGRADER_EXECUTION", "") == "autograde"


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

    trained = load_trained_model(part, build, variant)
    if trained.problem is None:
        print(f"Grading: loaded the trained weights from {path}; training skipped.")
    return trained


def missing_weights(path, present: list[str]) -> str:
    """What to tell a student whose weights file is not at ``path`` (relative to the notebook's
    folder), given the files ``present`` there and in :data:`WEIGHTS_FOLDER` (relative paths): the
    file of that model they did submit, under another name or elsewhere, if any."""
    path = Path(path)
    model = path.name.split(".")[0]  # part2_mlp, part5_deeper_plain
    similar = sorted(name for name in present if Path(name).name.startswith(model) and Path(name) != path
                     and not name.endswith(".ipynb"))
    message = f"No trained weights at {path}."
    if similar:
        found = ", ".join(similar[:3])
        message += (f" You submitted {found}: the grader reads only {path}, the name the training cell saves, so "
                    f"rename or move that file to {path} (a browser that downloads a file twice renames it).")
    return message + (f" Run the whole notebook once without nbgrader (the training cell saves them there), then "
                      f"submit the {WEIGHTS_FOLDER} folder with it.")


def _present(folder: Path) -> list[str]:
    """The files in ``folder`` and in its trained_models folder, as relative paths."""
    found = []
    for where in (folder, folder / WEIGHTS_FOLDER):
        try:
            found += [str((entry.relative_to(folder))) for entry in where.iterdir()]
        except OSError:
            pass
    return found


def load_trained_model(part: str, build, variant: str | None = None) -> TrainedModel:
    """Build ``build()`` again and load the weights its training cell saved into it.

    What :func:`train_or_load` does while grading, and what the accuracy tests do whenever they
    run (:func:`cifar10_course.checks.check_saved_model_accuracy`): only the build function and
    the weights file count, not a model some cell left in a variable. Problems are kept as
    :attr:`TrainedModel.problem` with advice; nothing here raises.
    """
    path = weights_path(part, variant)
    build_name = getattr(build, "__name__", "the build function")
    try:
        model = build()
    except Exception as error:  # The student's code: any failure is theirs to read about.
        return TrainedModel(part, problem=f"{build_name}() failed, so there is no model to test: "
                                          f"{type(error).__name__}: {error}", variant=variant)
    if not path.is_file():
        return TrainedModel(part, model, variant=variant, problem=missing_weights(path, _present(Path("."))))
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
    return TrainedModel(part, model, variant=variant)


# Predicting the 10,000 test images takes seconds, and a notebook asks for the same predictions
# more than once (the accuracy test, then a confusion matrix; Part 6 its three models in a cell, two
# again in a test), so the last few are kept. The accuracy test builds its own copy of the network
# from the saved weights: a plain Keras model is therefore recognised by its class, architecture and
# weights, anything else only as the same object. Images are recognised by a digest of their bytes.
KEPT_PREDICTIONS = 4
_kept_predictions: OrderedDict = OrderedDict()  # (model key, images key) -> (model, predictions)


def _model_key(model):
    """What identifies ``model``'s predictions: for a plain Keras model its class, architecture
    and weights (a copy rebuilt from the same weights file has the same key); else the object."""
    from .model_checks import plain_keras_problem

    if plain_keras_problem(model) is not None:
        return ("object", id(model))
    digest = hashlib.blake2b(digest_size=16)
    with _keras_numpy_noise_silenced():
        for weight in model.weights:
            digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return ("keras", type(model), json.dumps(_without_names(model.get_config()), sort_keys=True, default=str),
            digest.hexdigest())


def _without_names(config):
    """A model's config without the layer names that Keras numbers anew at every build."""
    if isinstance(config, dict):
        return {key: _without_names(value) for key, value in config.items() if key != "name"}
    if isinstance(config, (list, tuple)):
        return [_without_names(value) for value in config]
    return config


def _images_key(x) -> tuple:
    images = np.ascontiguousarray(x)
    return images.shape, images.dtype.str, hashlib.blake2b(images.reshape(-1).view(np.uint8), digest_size=16).hexdigest()


def remember_predictions(model, x, predictions) -> None:
    """Keep ``predictions`` of ``model`` for ``x``, for :func:`predict` to reuse."""
    _kept_predictions[(_model_key(model), _images_key(x))] = (model, predictions)
    while len(_kept_predictions) > KEPT_PREDICTIONS:
        _kept_predictions.popitem(last=False)


def remembered(model, x) -> np.ndarray | None:
    """The kept predictions of ``model`` (or a plain Keras copy of it) for ``x``, if any."""
    key = (_model_key(model), _images_key(x))
    kept = _kept_predictions.get(key)
    if kept is None or (key[0][0] == "object" and kept[0] is not model):
        return None
    _kept_predictions.move_to_end(key)
    return kept[1]


def predict(model, x) -> np.ndarray:
    """``model.predict(x)``, reused when the same model is asked about the same images again."""
    kept = remembered(model, x)
    if kept is not None:
        return kept
    predictions = np.asarray(model.predict(x, batch_size=500, verbose=0))
    remember_predictions(model, x, predictions)
    return predictions


def accuracy_of_scores(scores, y) -> float:
    """Share of the rows of ``scores`` (a model's outputs) that classify as ``y`` says.

    One output unit means a sigmoid (class 1 above 0.5); several mean one score per class.
    ``y`` may be integer labels or one-hot rows.
    """
    scores = np.asarray(scores)
    if scores.ndim == 2 and scores.shape[1] == 1:
        predicted = (scores[:, 0] > 0.5).astype(np.int64)
        truth = np.asarray(y).reshape(-1).astype(np.int64)
    else:
        predicted = scores.argmax(axis=1)
        truth = class_indices(y)
    if len(truth) != len(predicted):
        raise CheckFailed(f"There are {len(predicted)} images but {len(truth)} labels.")
    return float(np.mean(predicted == truth))


def accuracy(model, x, y) -> float:
    """Share of ``x`` classified as ``y`` says, from ``model``'s predictions (see :func:`accuracy_of_scores`)."""
    return accuracy_of_scores(predict(model, x), y)

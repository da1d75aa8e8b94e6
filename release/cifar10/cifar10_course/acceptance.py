"""What counts as a correct answer, in one place: the free choices every task leaves open.

The visible tests (:mod:`cifar10_course.checks`, in the student's notebook) and the hidden ones
(``grading/checker``, at grading) both read a model, a History or compile settings through these
functions, so that any correct Keras 3 formulation earns the same marks in both:

- a model may be ``keras.Sequential([...])`` or ``keras.Model(inputs, outputs)``, with or without
  ``keras.Input``: :func:`layers` leaves out the ``InputLayer`` a functional model lists first;
- the accuracy metric may go by any of Keras's names for it (``"accuracy"``, ``"acc"``,
  ``"categorical_accuracy"``, ``keras.metrics.CategoricalAccuracy()``, their binary forms):
  :func:`is_accuracy`, :func:`accuracy_key`;
- an optimizer or a loss may be a string or an object, in any spelling Keras accepts
  (``"sgd"``, ``"SGD"``, ``keras.optimizers.SGD(...)``; ``"categorical_crossentropy"``,
  ``keras.losses.CategoricalCrossentropy()``): :func:`setting_name`. A string optimizer has
  Keras's default learning rate, which is right wherever that equals the required one.

It also turns Keras 2 habits into advice (:func:`keras2_hint`): the error Keras 3 gives for them
seldom says what to write instead.
"""

from __future__ import annotations

import re

ACCURACY_NAMES = frozenset({"accuracy", "acc", "categoricalaccuracy", "binaryaccuracy"})


def setting_name(setting) -> str:
    """A compile setting as a comparable name: 'SGD', CategoricalCrossentropy() or its config -> 'categoricalcrossentropy'."""
    if isinstance(setting, dict):
        setting = setting.get("class_name") or setting.get("config", {}).get("name", "")
    elif not isinstance(setting, str):
        setting = type(setting).__name__
    return str(setting).replace("_", "").lower()


def is_accuracy(metric) -> bool:
    """Whether a metric (a name, an object or its config) is the accuracy the tasks ask for."""
    return setting_name(metric) in ACCURACY_NAMES


def accuracy_key(keys, validation: bool = False) -> str | None:
    """The key under which a History (``history.history``) records training accuracy (with
    ``validation``, validation accuracy: ``val_`` and the same name), or None."""
    for key in keys:
        if isinstance(key, str) and key.startswith("val_") == validation and is_accuracy(key.removeprefix("val_")):
            return key
    return None


def layers(model) -> list:
    """The model's layers as the tasks count them: without the InputLayer of a functional model."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


# Keras 2 habits, the error (or warning) Keras 3 gives for each, and what to write instead.
_KERAS2_HINTS = [
    (re.compile(r"not recognized.*\blr\b|unexpected keyword argument 'lr'", re.S),
     "Keras 3 calls the learning rate learning_rate: write keras.optimizers.SGD(learning_rate=0.01), not SGD(lr=0.01)."),
    (re.compile(r"fit_generator|evaluate_generator|predict_generator"),
     "Keras 3 has no fit_generator (nor evaluate_ or predict_generator): model.fit, evaluate and predict take "
     "generators and datasets themselves."),
    (re.compile(r"np_utils"),
     "Keras 3 has no keras.utils.np_utils: write keras.utils.to_categorical(labels, 10)."),
    (re.compile(r"input_shape|input_dim"),
     "In Keras 3 a model starts with keras.Input(shape=(32, 32, 3)) as its first item, instead of an "
     "input_shape argument to its first layer."),
    (re.compile(r"(output size would be|Computed output size would be|Negative dimension size|"
                r"would be zero or negative)", re.I),
     "A layer shrank the image to nothing. In Keras 3 the third argument of Conv2D is the strides: "
     "Conv2D(32, 3, 3) means 3x3 kernels with strides of 3. Write Conv2D(32, (3, 3)) for strides of 1."),
    (re.compile(r"Data cardinality is ambiguous"),
     "model.fit got images and labels of different lengths: train on the x and y given to the function, "
     "not on global variables."),
    (re.compile(r"URL fetch failure|cifar-10-python\.tar\.gz|cifar-10-batches-py|Failed to download|Name or service not known|"
                r"Temporary failure in name resolution|Network is unreachable", re.I),
     "Grading has no internet, so keras.datasets.cifar10.load_data() cannot download the data there: load it "
     "with the course's loader, cifar10_course.load_course_split()."),
]


def keras2_hint(message: str) -> str | None:
    """Advice for an error ``message`` that comes from Keras 2 code, or None."""
    for pattern, hint in _KERAS2_HINTS:
        if pattern.search(message or ""):
            return hint
    return None


def with_hint(message: str) -> str:
    """``message`` followed by its Keras 2 advice, when it has one."""
    hint = keras2_hint(message)
    return f"{message}\nHint: {hint}" if hint else message

"""What counts as a correct answer, in one place: the free choices every task leaves open.

The visible tests (:mod:`cifar10_course.checks`, in the student's notebook) and the hidden ones
(``grading/checker``, at grading) both read a model, a History or compile settings through these
functions, so that any correct Keras 3 formulation earns the same marks in both:

- a model may be ``keras.Sequential([...])`` or ``keras.Model(inputs, outputs)``, with or without
  ``keras.Input``: :func:`layers` leaves out the ``InputLayer`` a functional model lists first;
- the accuracy metric may go by any of Keras's names for it (``"accuracy"``, ``"acc"``,
  ``"categorical_accuracy"``, ``keras.metrics.CategoricalAccuracy()``, their binary forms):
  :func:`is_accuracy`, :func:`accuracy_key`;
- an optimizer, a loss or a metric may be a string, an object or a Keras function, in any
  spelling Keras accepts (``"sgd"``, ``"SGD"``, ``keras.optimizers.SGD(...)``;
  ``"categorical_crossentropy"``, ``keras.losses.CategoricalCrossentropy()``,
  ``keras.losses.categorical_crossentropy``): :func:`setting_name`. A string optimizer has
  Keras's default learning rate, which is right wherever that equals the required one;
- an activation may be a name, Keras's function or TensorFlow's twin of it (``tf.nn.softmax``,
  which TensorFlow names ``softmax_v2``): :func:`activation_name`;
- a layer's activation may be its ``activation`` argument, or a layer of its own right after it
  (``Dense(100)`` then ``Activation("relu")``, or a ``ReLU()`` layer): the same network, so the same
  marks (:func:`layer_activations`).

It also turns Keras 2 habits into advice (:func:`keras2_hint`): the error Keras 3 gives for them
seldom says what to write instead.
"""

from __future__ import annotations

import re

ACCURACY_NAMES = frozenset({"accuracy", "acc", "categoricalaccuracy", "binaryaccuracy"})


def setting_label(setting) -> str:
    """A compile setting as a student wrote it, in a word: ``"sgd"``, ``SGD``, ``categorical_crossentropy``
    (a Keras function, or the config Keras keeps of one), never the config itself."""
    if isinstance(setting, dict):
        if setting.get("class_name") == "function":  # how Keras describes a function it was given
            return str(setting.get("config") or "a function")
        found = setting.get("class_name") or (setting.get("config") or {}).get("name", "")
        return str(found) if found else "an unknown setting"
    if isinstance(setting, str):
        return setting
    if callable(setting) and hasattr(setting, "__name__") and not isinstance(setting, type):
        return setting.__name__
    return type(setting).__name__


def setting_name(setting) -> str:
    """A compile setting as a comparable name: 'SGD', CategoricalCrossentropy(), the function
    categorical_crossentropy or their configs -> 'categoricalcrossentropy'."""
    return setting_label(setting).replace("_", "").lower()


# TensorFlow's activations that Keras's do the same as, by the name TensorFlow gives them.
ACTIVATION_TWINS = {"softmax_v2": "softmax", "log_softmax_v2": "log_softmax", "swish": "silu"}


def activation_name(activation) -> str:
    """An activation (a function, a name, or the config Keras keeps of a function) as Keras names it."""
    if isinstance(activation, dict):
        name = activation.get("config") if activation.get("class_name") == "function" else activation.get("class_name")
    elif isinstance(activation, str):
        name = activation
    else:
        name = getattr(activation, "__name__", type(activation).__name__)
    name = str(name or "linear")
    return ACTIVATION_TWINS.get(name, name)


def _activation_layer(layer) -> str | None:
    """The activation a layer that is only an activation applies (None for any other layer)."""
    kind = type(layer).__name__
    if kind == "Activation":
        return activation_name(layer.activation)
    if kind == "Softmax" and getattr(layer, "axis", -1) in (-1, [-1]):
        return "softmax"
    if kind == "ReLU" and not getattr(layer, "max_value", None) and not getattr(layer, "negative_slope", 0) \
            and not getattr(layer, "threshold", 0):
        return "relu"
    return None


def layer_activations(model) -> list[tuple[object, str | None]]:
    """The model's layers as the tasks count them (:func:`layers`), each with the activation it
    applies: its own, or, when it has none, that of an activation layer right after it, which is
    then not counted on its own (``Dense(100)`` then ``Activation("relu")`` is ``Dense(100,
    activation="relu")``). Layers without an activation argument have None."""
    found: list[list] = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        applied = _activation_layer(layer)
        if applied is not None and found and found[-1][1] == "linear":
            found[-1][1] = applied
            continue
        own = getattr(layer, "activation", None)
        found.append([layer, activation_name(own) if own is not None and applied is None else None])
    return [(layer, activation) for layer, activation in found]


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
    """The model's layers as the tasks count them: without the InputLayer of a functional model,
    and without an activation layer that only applies the activation of the layer before it
    (see :func:`layer_activations`)."""
    return [layer for layer, _ in layer_activations(model)]


def shorten(text: str, limit: int) -> str:
    """``text`` of at most about ``limit`` characters, cut at a space (never within a word) with an ellipsis."""
    text = str(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(None, 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:") + " …"


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

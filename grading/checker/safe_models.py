"""Rebuild a Keras model from a description the student's kernel gave, without trusting it.

A model travels from the kernel as the JSON of ``model.to_json()``. Keras's own loader can be
told to import modules and call functions by name, so the description is checked first, all of
it: every object in it must be one of Keras's own layers, models, initializers, regularizers,
constraints or dtype policies (:data:`LAYERS` and friends), activations must be Keras's own by
name, no Lambda layer, no function, no pickled or NumPy payload, and sizes stay within limits that
keep a rebuilt model small. Its size is worked out from the description before anything is
allocated (:mod:`grading.checker.sizes`): too many parameters, activations or operations per image
fail the test with the numbers, instead of the checker. Only then does Keras build it, in safe
mode. Weights are loaded with Keras from a private copy of the submitted file (:func:`load_weights`).
"""

from __future__ import annotations

import json

from cifar10_course.acceptance import activation_name, shorten
from grading import compat
from grading.checker import Failed, sizes

MAX_JSON_CHARS = 2_000_000
MAX_LAYERS = 300
MAX_DEPTH = 40
# Keras's own layers that a network of this course, or a student's experiment, may use.
LAYERS = {
    "InputLayer", "Dense", "Conv2D", "Conv1D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose",
    "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling1D",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "Flatten", "Reshape", "Activation",
    "BatchNormalization", "LayerNormalization", "ReLU", "LeakyReLU", "Softmax", "ZeroPadding2D", "Cropping2D",
    "Rescaling", "Normalization", "Resizing", "CenterCrop", "Add", "Concatenate", "Multiply", "Average",
    "RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip", "RandomShear", "RandomContrast",
    "RandomBrightness", "RandomCrop",
}
MODELS = {"Sequential", "Functional", "Model"}
# Other Keras objects a layer's configuration may hold, by the Keras module that defines them.
HELPERS = {"keras.initializers", "keras.regularizers", "keras.constraints"}
POLICIES = {"DTypePolicy", "FloatDTypePolicy"}
ACTIVATIONS = {
    "relu", "softmax", "sigmoid", "tanh", "linear", "elu", "selu", "softplus", "softsign", "swish", "silu",
    "gelu", "exponential", "leaky_relu", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "mish", "log_softmax",
}
# Sizes that keep a model small enough to rebuild; far above anything this course needs.
SIZE_LIMITS = {"units": 20_000, "filters": 4_096, "kernel_size": 64, "pool_size": 64, "strides": 64,
               "dilation_rate": 16, "depth_multiplier": 64}


class Mismatch(ValueError):
    """The weights file does not fit the model."""


def build(text: str, what: str = "The model"):
    """The Keras model described by ``text`` (``model.to_json()``); raises :class:`Failed` when
    the description is not of a model made from Keras's own parts, or cannot be built."""
    keras = sizes.keras()
    config = parse(text, what)
    sizes.check(config, what)  # before Keras allocates anything
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as error:
        raise Failed(f"{what} could not be rebuilt from its description ({type(error).__name__}: "
                     f"{shorten(error, 300)})") from None
    if not isinstance(model, keras.Model):
        raise Failed(f"{what} should be a Keras model.")
    if sum(_size(w.shape) for w in model.weights) > sizes.MAX_PARAMETERS:  # what the estimate did not foresee
        raise Failed(f"{what} has more than {sizes.MAX_PARAMETERS:,} parameters, more than the grader rebuilds.")
    return model


def prediction_batch(text: str) -> int:
    """How many images the model described by ``text`` predicts at once (fewer for large activations)."""
    return sizes.prediction_batch(sizes.measure(parse(text)))


def parse(text: str, what: str = "The model") -> dict:
    """The checked configuration in ``text``; raises :class:`Failed` naming what is not allowed."""
    if not isinstance(text, str) or len(text) > MAX_JSON_CHARS:
        raise Failed(f"{what} has a description the grader cannot read (too long or not text).")
    try:
        config = json.loads(text)
    except ValueError:
        raise Failed(f"{what} has a description that is not JSON.") from None
    if not (isinstance(config, dict) and config.get("class_name") in MODELS):
        raise Failed(f"{what} should be a Keras model made with keras.Sequential([...]) or "
                     "keras.Model(inputs, outputs).")
    # How a model was compiled is no part of the network (and never rebuilt): whether a build
    # function compiles its model is a fact of the kernel's record, checked by its own test.
    config.pop("compile_config", None)
    counter = {"layers": 0}
    _check(config, what, counter, depth=0)
    return config


def _check(node, what: str, counter: dict, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Failed(f"{what} is nested too deeply for the grader.")
    if isinstance(node, list):
        for item in node:
            _check(item, what, counter, depth + 1)
        return
    if not isinstance(node, dict):
        if isinstance(node, str) and len(node) > 10_000:
            raise Failed(f"{what} holds a string too long for the grader.")
        return
    if "class_name" in node:
        _check_object(node, what, counter)
    for key, value in node.items():
        if key in SIZE_LIMITS:
            _check_size(key, value, what)
        if key == "activation" and value is not None:
            name = activation_name(value)  # Keras's name, also for TensorFlow's twin (tf.nn.softmax)
            if name not in ACTIVATIONS:
                raise Failed(f"{what} uses the activation {shorten(name, 60)!r}, which is not one of Keras's own; "
                             "write it by name, such as activation=\"relu\" or \"softmax\".")
            node[key] = name
            continue
        _check(value, what, counter, depth + 1)


def _check_object(node: dict, what: str, counter: dict) -> None:
    name, module = node.get("class_name"), node.get("module")
    registered = node.get("registered_name")
    if name == "__keras_tensor__":  # an edge of a functional model: shape, dtype and history only
        inner = node.get("config")
        if not (isinstance(inner, dict) and set(inner) <= {"shape", "dtype", "keras_history"}):
            raise Failed(f"{what} has a connection the grader cannot read.")
        return
    if name == "__tuple__":
        inner = node.get("config")
        if not (isinstance(inner, dict) and set(inner) == {"value"} and isinstance(inner["value"], list)):
            raise Failed(f"{what} has a value the grader cannot read.")
        return
    if not isinstance(name, str) or not isinstance(module, str):
        raise Failed(f"{what} holds an object the grader cannot read.")
    if registered not in (None, name):
        raise Failed(f"{what} uses {name} registered as {shorten(registered, 80)!r}: the grader accepts "
                     "only Keras's own classes.")
    if name in MODELS and module in ("keras", "keras.models", compat.FUNCTIONAL_MODULE):
        return
    if name in LAYERS and module == "keras.layers":
        counter["layers"] += 1
        if counter["layers"] > MAX_LAYERS:
            raise Failed(f"{what} has more than {MAX_LAYERS} layers.")
        if name == "RandomShear":
            _fix_random_shear(node)
        return
    if name in POLICIES and module == "keras":
        return
    if module in HELPERS and _is_keras_class(module, name):
        return
    if name == "Lambda" or name == "function" or name.startswith("__"):
        raise Failed(f"{what} holds {'a Lambda layer' if name == 'Lambda' else 'a function of its own'}, "
                     "which runs code the grader does not run; the networks of this course need none.")
    raise Failed(f"{shorten(what, 200)} uses {shorten(name, 60)} from {shorten(module, 60)}: the grader accepts only "
                 "Keras's own layers, such as Dense, Conv2D, MaxPooling2D, Dropout and Flatten (README: 'How a score "
                 "is decided').")


def _check_size(key: str, value, what: str) -> None:
    values = value if isinstance(value, list) else [value]
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        values = value.get("config", {}).get("value", [])
    for number in values:
        if isinstance(number, int) and not isinstance(number, bool) and not 0 <= number <= SIZE_LIMITS[key]:
            raise Failed(f"{what} has {key}={number}, more than the grader rebuilds ({SIZE_LIMITS[key]:,}).")


def _fix_random_shear(node: dict) -> None:
    """Keras 3.15's RandomShear describes a factor ``f`` as ``[-f, f]``, which its constructor
    refuses (negative values); written back as ``f`` it means the same."""
    config = node.get("config")
    if not isinstance(config, dict):
        return
    for key in ("x_factor", "y_factor"):
        factor = config.get(key)
        if (isinstance(factor, list) and len(factor) == 2 and all(isinstance(v, (int, float)) for v in factor)
                and factor[0] < 0 and abs(factor[0] + factor[1]) < 1e-12):
            config[key] = float(factor[1])


def _is_keras_class(module: str, name: str) -> bool:
    found = getattr(__import__("importlib").import_module(module), name, None)
    return isinstance(found, type) and (found.__module__ or "").startswith("keras")


def _size(shape) -> int:
    total = 1
    for dimension in tuple(shape):
        total *= int(dimension)
    return total


def load_weights(model, path) -> None:
    """Load a ``.weights.h5`` file into ``model`` with Keras; :class:`Mismatch` when it does not fit."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(str(path))
    except ValueError as error:
        raise Mismatch(str(error).splitlines()[0][:300]) from None



"""Checks of a model's kind, size and layers: plain Keras models only."""

from __future__ import annotations

import inspect
import math
import sys

from . import acceptance
from .base_checks import CheckFailed, article


# Methods through which the checks read a model or a layer: each must still be Keras's own.
_MODEL_METHODS = ("__call__", "call", "predict", "predict_step", "make_predict_function", "fit",
                  "get_compile_config", "load_weights")
_LAYER_METHODS = ("__call__", "call")
_PLAIN_KERAS = ("a plain Keras model, made with keras.Sequential([...]) or keras.Model(inputs, outputs) "
                "from Keras's own layers")


def _from_keras(thing) -> bool:
    """True for a function or object that Keras (or this package) defines."""
    module = getattr(thing, "__module__", None)
    if not isinstance(module, str):
        module = type(thing).__module__
    return module.split(".")[0] in {"keras", "cifar10_course"}


def _keras_class(cls) -> bool:
    """True for a class that Keras itself defines, not a subclass or look-alike made elsewhere."""
    module = getattr(cls, "__module__", "") or ""
    if module.split(".")[0] != "keras":
        return False
    return getattr(sys.modules.get(module), cls.__qualname__, None) is cls


def _replaced_methods(thing, names) -> list[str]:
    """The methods of ``thing`` that are not Keras's own: replaced on the object or on its class."""
    replaced = []
    cls = type(thing)
    for name, value in vars(thing).items():  # thing.predict = ... hides the class's method
        if name == "loss":  # compile() keeps the loss it is given there, a function of one's own too.
            continue
        try:
            on_class = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        if (inspect.isfunction(on_class) or isinstance(on_class, (staticmethod, classmethod))) and (
                callable(value) and not _from_keras(value)):
            replaced.append(name)
    for name in names:  # keras.Model.predict = ... changes every model
        try:
            on_class = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        function = on_class.fget if isinstance(on_class, property) else on_class
        function = getattr(function, "__func__", function)
        if not _from_keras(function) and name not in replaced:
            replaced.append(name)
    return replaced


def _all_layers(model, depth: int = 0):
    """Every layer inside ``model``, those of nested models too (Keras's public ``layers``, walked)."""
    if depth > 20:
        raise ValueError("models nested more than 20 deep")
    for layer in model.layers:
        yield layer
        if isinstance(getattr(layer, "layers", None), list):
            yield from _all_layers(layer, depth + 1)


def plain_keras_problem(model) -> str | None:
    """Why ``model`` is not a plain Keras model, or None when it is one.

    Plain: an object of Keras's own Sequential or Functional class (not a subclass), every layer
    inside it (nested ones too) of one of Keras's own layer classes, no Lambda layer (a function of
    one's own), and no method that the checks use replaced on the model, a layer or their classes.
    """
    try:
        keras = sys.modules.get("keras")
        cls = type(model)
        if keras is None or not isinstance(model, keras.Model) or not _keras_class(cls):
            where = f"defined in {cls.__module__}" if cls.__module__ != "builtins" else "a Python built-in"
            return f"it is {article(cls.__name__)} {cls.__name__} ({where}), not {_PLAIN_KERAS}"
        replaced = _replaced_methods(model, _MODEL_METHODS)
        if replaced:
            return f"its method {', '.join(replaced)} is not Keras's own: it should be {_PLAIN_KERAS}"
        for layer in _all_layers(model):
            layer_cls = type(layer)
            if not _keras_class(layer_cls):
                return (f"its layer {layer.name!r} is {article(layer_cls.__name__)} {layer_cls.__name__} "
                        f"defined in {layer_cls.__module__}, not one of Keras's own layers: it should be "
                        f"{_PLAIN_KERAS}")
            if layer_cls.__name__ == "Lambda":
                return (f"its layer {layer.name!r} is a Lambda layer, which runs a function of its own; "
                        "the networks of this course need none")
            replaced = _replaced_methods(layer, _LAYER_METHODS)
            if replaced:
                return (f"the method {', '.join(replaced)} of its layer {layer.name!r} is not Keras's own: "
                        f"it should be {_PLAIN_KERAS}")
    except Exception as error:  # Whatever a strange object raises, it is no plain model.
        return f"it could not be inspected ({type(error).__name__}: {error}); it should be {_PLAIN_KERAS}"
    return None


def check_keras_model(model, name: str = "The model") -> None:
    """Check that ``model`` is a plain Keras model (see :func:`plain_keras_problem`).

    The model checks read a model's layers, weights and predictions, so they accept only what
    Keras itself made: a subclass or a look-alike could answer anything.
    """
    problem = plain_keras_problem(model)
    if problem is not None:
        raise CheckFailed(f"{name} should be a plain Keras model, but {problem}. The tests "
                             "read its layers, weights and predictions, so they accept only Keras's "
                             "own classes.")


def _parameter_count(layer_or_model) -> int:
    """Parameters counted from the weights' shapes, not by the object's count_params()."""
    return sum(math.prod(int(size) for size in tuple(weight.shape)) for weight in layer_or_model.weights)


def check_parameter_count(model, expected: int) -> None:
    """Check that ``model`` has ``expected`` parameters; on failure, list them layer by layer.

    Only a plain Keras model passes (:func:`check_keras_model`), and the total is summed from the
    shapes of its weights rather than taken from ``model.count_params()``, so redefining
    ``count_params`` cannot make a wrong model pass.
    """
    check_keras_model(model)
    found = _parameter_count(model)
    if found == expected:
        return
    lines = [
        f"The model should have {expected:,} parameters but has {found:,} "
        f"({found - expected:+,}).",
        f"  {'layer':<24} {'type':<20} {'output shape':<22} {'parameters':>12}",
    ]
    for layer in model.layers:
        count = f"{_parameter_count(layer):,}" if layer.built else "not built"
        lines.append(
            f"  {layer.name:<24} {type(layer).__name__:<20} {_output_shape(layer):<22} {count:>12}"
        )
    lines.append(
        f"Total found: {found:,}; expected: {expected:,}; difference: {found - expected:+,}."
    )
    if found == 0:
        lines.append("The model has no weights yet: give it an input shape, e.g. keras.Input(...).")
    raise CheckFailed("\n".join(lines))


def _output_shape(layer) -> str:
    """The layer's output shape, or "" for a layer that has not been called on an input."""
    try:
        return str(tuple(layer.output.shape))
    except (AttributeError, ValueError):  # Keras raises these for layers without an output.
        return ""


def check_layer_types(model, expected) -> None:
    """Check that the model's layers have the Keras classes ``expected``, e.g. ``["Dense"]``.

    A functional model's InputLayer is not counted (:func:`cifar10_course.acceptance.layers`). On
    failure the message shows both lists and the first position where they differ. Only a plain
    Keras model passes (:func:`check_keras_model`).
    """
    check_keras_model(model)
    expected = list(expected)
    counted = acceptance.layers(model)
    found = [type(layer).__name__ for layer in counted]
    if found == expected:
        return
    position = next(
        (i for i, (want, have) in enumerate(zip(expected, found)) if want != have),
        min(len(expected), len(found)),
    )
    if position < min(len(expected), len(found)):
        detail = (
            f"layer {position} ('{counted[position].name}') should be "
            f"{expected[position]} but is {found[position]}"
        )
    elif len(found) < len(expected):
        detail = f"the model ends there; still expected: {expected[position:]}"
    else:
        detail = f"the model should end there but goes on with {found[position:]}"
    raise CheckFailed(
        f"The model's layers should be\n  {expected}\nbut are\n  {found}\n"
        f"First difference at position {position} (counting from 0): {detail}."
    )

"""Checks for notebook cells whose failure messages a student can act on.

Each check returns nothing when all is well and raises :class:`CheckFailed` (an ``AssertionError``)
otherwise, with a message that says what was expected and what was found, so a failed nbgrader
cell explains itself, and shows only that message. NumPy is the only import at module level; the
model checks use whatever Keras model they are given.

A student may add cells anywhere, and a cell can rebind any global a test reads. So the graded
checks take nothing from the notebook but the student's own functions: they build models with the
student's build function, load the weights file the training cell saved, load the course's data
themselves, and accept only plain Keras models (:func:`check_keras_model`), whose layers,
weights and predictions are Keras's own.
"""

from __future__ import annotations

import inspect
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from . import acceptance
from .acceptance import accuracy_key, is_accuracy, keras2_hint, setting_name


class CheckFailed(AssertionError):
    """A course check that failed; its message says what was expected and what was found.

    IPython shows an exception that has a ``_render_traceback_`` method by the lines it returns,
    and nbgrader's Validate dialog shows the same lines: here the message alone, in place of a
    traceback through the course's helpers that ends in it and says nothing a student can act on.
    """

    def _render_traceback_(self) -> list[str]:
        notes = getattr(self, "__notes__", [])
        return [f"\x1b[0;31mTest failed\x1b[0m: {self}", *map(str, notes)]


def report_passed(checked: str, at_grading: str | None = None) -> None:
    """Print what a test cell has just checked and, when grading checks more, what that is.

    Every visible test ends with this, so that a test that passes says what it passed.
    """
    print(f"Passed: {checked}.")
    if at_grading:
        print(f"Checked when your notebook is graded: {at_grading}.")


# ---------------------------------------------------------------------------------------------
# Plain Keras models: the only kind the model checks accept

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
            return f"it is {_article(cls.__name__)} {cls.__name__} ({where}), not {_PLAIN_KERAS}"
        replaced = _replaced_methods(model, _MODEL_METHODS)
        if replaced:
            return f"its method {', '.join(replaced)} is not Keras's own: it should be {_PLAIN_KERAS}"
        try:
            layers = list(model._flatten_layers(include_self=False, recursive=True))
        except Exception:  # A Keras without this private helper: the top-level layers only.
            layers = list(model.layers)
        for layer in layers:
            layer_cls = type(layer)
            if not _keras_class(layer_cls):
                return (f"its layer {layer.name!r} is {_article(layer_cls.__name__)} {layer_cls.__name__} "
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


def largest_difference(found, expected, rows_at_once: int = 5000) -> float:
    """The largest absolute difference between two arrays of the same shape.

    Computed a few thousand rows at a time: ``np.allclose`` on the 50,000 training images builds
    several temporary arrays of 600 MB and takes ten times as long.
    """
    found, expected = np.asarray(found), np.asarray(expected)
    if found.shape != expected.shape:
        raise ValueError(f"Cannot compare shapes {found.shape} and {expected.shape}.")
    common = np.result_type(found, expected, np.float32)  # Never subtract in uint8, which wraps.
    largest = 0.0
    for start in range(0, len(found), rows_at_once):
        rows = slice(start, start + rows_at_once)
        difference = np.abs(np.subtract(found[rows], expected[rows], dtype=common))
        if difference.size:
            chunk_largest = float(np.max(difference))  # NaN if any value is NaN.
            if np.isnan(chunk_largest):
                return float("inf")
            largest = max(largest, chunk_largest)
    return largest


def check_array(name: str, array, shape=None, dtype=None, value_range=None) -> None:
    """Check an array's shape, dtype and value range; report every mismatch at once.

    ``shape`` may hold ``None`` for "any size" in a dimension; ``value_range`` is an inclusive
    ``(low, high)``. Something that is not an array (a list, say) fails with a message saying so.
    """
    if not hasattr(array, "shape"):
        kind = type(array).__name__
        raise CheckFailed(
            f"{name} should be a NumPy array but is {_article(kind)} {kind} "
            f"(np.asarray({name}) converts it)."
        )
    array = np.asarray(array)  # A tensor or a DataFrame: compare as NumPy would see it.
    problems = array_problems(name, array.shape, array.dtype, array, shape, dtype, value_range)
    if problems:
        raise CheckFailed("\n".join(problems))


def array_problems(name: str, found_shape, found_dtype, values, shape=None, dtype=None, value_range=None) -> list[str]:
    """What :func:`check_array` reports, for an array known by its shape, dtype and ``values``
    (all of its values, or a sample of its rows: the grader's checker sees large arrays that way)."""
    problems = []
    found_shape = tuple(found_shape)
    if shape is not None:
        shape = tuple(shape)
        if len(found_shape) != len(shape) or any(
            want is not None and want != have for want, have in zip(shape, found_shape)
        ):
            note = " (None means any size)" if None in shape else ""
            problems.append(f"{name} should have shape {shape}{note} but has shape {found_shape}")
    if dtype is not None and np.dtype(found_dtype) != np.dtype(dtype):
        problems.append(
            f"{name} should have dtype {np.dtype(dtype)} but has dtype {np.dtype(found_dtype)} "
            f"({name}.astype('{np.dtype(dtype)}') converts it)"
        )
    values = np.asarray(values)
    if value_range is not None and values.size:
        low, high = value_range
        smallest, largest = np.min(values), np.max(values)
        if np.isnan(smallest) or np.isnan(largest):
            problems.append(f"{name} should have values between {low} and {high} but holds NaN")
        elif smallest < low or largest > high:
            hint = " (did you forget to divide by 255?)" if high <= 1 < largest <= 255 else ""
            problems.append(
                f"{name} should have values between {low} and {high} but has values between "
                f"{smallest} and {largest}{hint}"
            )
    return problems


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


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


# ---------------------------------------------------------------------------------------------
# Training and accuracy (Parts 2-4): the settings come from cifar10_course.modes


def check_test_accuracy(trained, x_test, y_test) -> float:
    """Check that a :class:`~cifar10_course.training.TrainedModel` beats its part's threshold.

    Prints the accuracy beside the threshold and returns it. A model that could not be built or
    loaded fails with the reason recorded by ``train_or_load``. The notebooks' graded tests use
    :func:`check_saved_model_accuracy` instead, which trusts neither a ``TrainedModel`` that a
    cell may have replaced nor the notebook's test images.
    """
    from .modes import budget, current_mode
    from .training import accuracy

    if trained.problem:
        raise CheckFailed(trained.problem)
    threshold = budget(trained.part).threshold(trained.variant)
    found = accuracy(trained.model, x_test, y_test)
    mode = current_mode().name
    print(f"Test accuracy: {found:.4f} on {len(x_test):,} test images "
          f"({trained.name}; needed: above {threshold:.2f} in {mode} mode)")
    if not found > threshold:
        raise CheckFailed(
            f"Test accuracy {found:.4f} is not above the threshold {threshold:.2f} for "
            f"{trained.name} in {mode} mode. Check the architecture and the training settings, "
            "then run the training cell again."
        )
    return found


# The labels a part's model is graded on, from the ten classes, when they are not the classes
# themselves: Part 4 tells animals (1) from vehicles (0).
ANIMAL_CLASSES = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse
_TASK_LABELS = {"part4_binary": lambda classes: np.isin(classes, ANIMAL_CLASSES).astype("int32")}


def _saved_model_scores(part: str, build, variant: str | None):
    """Rebuild the saved model of ``part`` and predict the course's test images, loaded here.

    Returns the model's outputs, the true classes (0-9) and the model as loaded. Fails with the
    advice of :func:`~cifar10_course.training.load_trained_model` when there is no usable model.
    """
    from .data import load_course_test_data
    from .environment import quiet_tensorflow
    from .training import load_trained_model, remember_predictions

    quiet_tensorflow()
    trained = load_trained_model(part, build, variant)
    if trained.model is not None:  # What the build function made comes first: weights do not fix it.
        check_keras_model(trained.model, f"What {getattr(build, '__name__', 'the build function')}() returns")
    if trained.problem:
        raise CheckFailed(trained.problem)
    x_test, y_test = load_course_test_data()
    model = trained.model
    model.predict_function = None  # Keras compiles its own predict function, whatever was set before.
    scores = np.asarray(model.predict(x_test, batch_size=500, verbose=0))
    remember_predictions(model, x_test, scores)  # The notebook's next cells may ask for the same.
    return scores, np.argmax(y_test, axis=1), trained


def check_saved_model_accuracy(part: str, build, variant: str | None = None) -> None:
    """Check that the network saved by ``part``'s training cell beats the part's threshold.

    Measured afresh, whatever the notebook's variables hold: the network is built again with the
    student's ``build`` function, given the weights that the training cell saved (the file that is
    submitted), and tested on the course's test images, loaded here. Prints the accuracy beside
    the threshold; returns nothing, so that a test cell never ends in a number.
    """
    from .modes import budget, current_mode
    from .training import accuracy_of_scores, weights_path

    scores, classes, trained = _saved_model_scores(part, build, variant)
    labels = _TASK_LABELS.get(part, lambda found: found)(classes)
    found = accuracy_of_scores(scores, labels)
    threshold = budget(part).threshold(variant)
    mode = current_mode().name
    print(f"Test accuracy: {found:.4f} on {len(labels):,} test images ({trained.name}: "
          f"{getattr(build, '__name__', 'the network')}() with the weights in {weights_path(part, variant)}; "
          f"needed: above {threshold:.2f} in {mode} mode)")
    if not found > threshold:
        raise CheckFailed(
            f"Test accuracy {found:.4f} is not above the threshold {threshold:.2f} for "
            f"{trained.name} in {mode} mode. Check the architecture and the training settings, "
            "then run the training cell again.")


def saved_model_predictions(part: str, build, variant: str | None = None):
    """``(true_classes, predicted_classes)`` of the saved model on the course's test images.

    Like :func:`check_saved_model_accuracy`, the model is built again with ``build`` and given the
    weights its training cell saved, and the test images are loaded here.
    """
    scores, classes, _ = _saved_model_scores(part, build, variant)
    return classes, scores.argmax(axis=1)


def small_training_sample(count: int, binary: bool = False, seed: int = 0):
    """``count`` random images (float32 in [0, 1], 32x32x3) with labels, made here for a test.

    Labels are one-hot rows over ten classes, or with ``binary=True`` integer labels 0 and 1;
    every class appears. Enough to run a training function for one epoch and look at what it did.
    """
    rng = np.random.default_rng(seed)
    images = rng.random((count, 32, 32, 3), dtype=np.float32)
    if binary:
        return images, (np.arange(count) % 2).astype("int32")
    return images, np.eye(10, dtype="float32")[np.arange(count) % 10]


class RecordingAugment:
    """Stands in for an augmentation model: adds 1000 to every pixel and records ``training``."""

    def __init__(self):
        self.training_flags = []

    def __call__(self, images, training=False):
        from .environment import quiet_tensorflow

        self.training_flags.append(training)
        return quiet_tensorflow().ops.convert_to_tensor(np.asarray(images, dtype="float32") + 1000)


@dataclass
class TrainingRun:
    """What one call of a student's training function did, for :func:`check_training_settings`."""

    name: str
    model: object
    x: object
    y: object
    history: object
    fit_calls: list = field(default_factory=list)  # the arguments of each model.fit call


def record_training(train, model, x, y) -> TrainingRun:
    """Call ``train(model, x, y)``, recording the arguments of every ``model.fit`` it makes.

    The visible test checks the returned History; the hidden test checks the recorded settings
    with :func:`check_training_settings`, so the model is trained once for both. Each fit runs one
    epoch on the arrays given, whatever it asks for: the epochs and arrays are checked from the
    recorded arguments, and running all 20 epochs on a small sample would only add seconds to the
    grading of every submission. An error gets a hint when it comes from Keras 2 code. Only a
    plain Keras model is trained (:func:`check_keras_model`): the tests hand over a fresh one.
    """
    from .environment import quiet_tensorflow

    keras = quiet_tensorflow()
    check_keras_model(model)
    run = TrainingRun(getattr(train, "__name__", "the training function"), model, x, y, None)
    real_fit = model.fit

    def recording_fit(*args, **kwargs):
        arguments = inspect.signature(keras.Model.fit).bind(model, *args, **kwargs).arguments
        run.fit_calls.append(dict(arguments))
        arguments.pop("self")
        arguments["epochs"] = arguments.get("initial_epoch", 0) + 1
        if not (_is_given(arguments.get("x"), x) and _is_given(arguments.get("y"), y)):
            # Training on other arrays (global variables) fails the settings test, with the course's
            # message; the fit runs on the arrays given, so the History is not lost to Keras's error too.
            arguments["x"], arguments["y"] = x, y
        return real_fit(**arguments)

    model.fit = recording_fit
    try:
        run.history = train(model, x, y)
    except Exception as error:
        hint = keras2_hint(str(error))
        if hint:
            error.add_note(f"Hint: {hint}")
        raise
    finally:
        vars(model).pop("fit", None)  # Keras's own fit again.
    return run


def _shape_or_type(value) -> str:
    shape = getattr(value, "shape", None)
    return str(tuple(shape)) if shape is not None else type(value).__name__


def _is_given(used, given) -> bool:
    """True when ``used`` is the array ``given`` or an equal copy of it."""
    return used is given or (hasattr(used, "shape") and tuple(used.shape) == tuple(given.shape)
                             and bool(np.array_equal(used, given)))


def training_record(run: TrainingRun) -> dict:
    """What a recorded training run did, as plain data (numbers, strings and lists).

    The checks of a training function read only this record: in the student's notebook from
    :func:`record_training`, and at grading from the same record made in the student's kernel and
    read by the grader's checker, in another process.
    """
    from .environment import quiet_tensorflow

    keras = quiet_tensorflow()
    history = run.history
    record = {
        "name": run.name,
        "returned": type(history).__name__,
        "is_history": isinstance(history, keras.callbacks.History),
        "history_keys": sorted(str(key) for key in getattr(history, "history", {}) or {}),
        "fit_calls": [],
        "compiled": False,
    }
    for fitted in run.fit_calls:
        record["fit_calls"].append({
            "x_given": _is_given(fitted.get("x"), run.x),
            "y_given": _is_given(fitted.get("y"), run.y),
            "x": _shape_or_type(fitted.get("x")),
            "y": _shape_or_type(fitted.get("y")),
            "given_x": _shape_or_type(run.x),
            "given_y": _shape_or_type(run.y),
            "batch_size": fitted.get("batch_size"),
            "epochs": fitted.get("epochs", 1),
            "validation_split": fitted.get("validation_split") or 0.0,
        })
    config = run.model.get_compile_config() or {}
    if config:
        rate = getattr(getattr(run.model, "optimizer", None), "learning_rate", None)
        rate = rate.numpy() if hasattr(rate, "numpy") else rate  # A Variable; .numpy() avoids NumPy 2.4's warning.
        record.update(
            compiled=True,
            optimizer=setting_name(config.get("optimizer")),
            learning_rate=None if rate is None else float(rate),
            loss=setting_name(config.get("loss")),
            loss_given=acceptance.shorten(acceptance.setting_label(config.get("loss")), 100),
            metrics=[setting_name(metric) for metric in config.get("metrics") or []],
            metrics_given=acceptance.shorten(", ".join(acceptance.setting_label(metric)
                                                       for metric in config.get("metrics") or []) or "none", 200),
        )
    return record


def history_problems(record: dict, validation: bool = False) -> list[str]:
    """What is wrong with the History a training function returned (see :func:`training_record`);
    with ``validation``, it must also record the validation accuracy."""
    if not record.get("is_history"):
        return [f"{record.get('name')} should return what model.fit returns (a History), "
                f"not {record.get('returned')}."]
    recorded = [str(key) for key in record.get("history_keys") or []]
    if "loss" not in recorded or accuracy_key(recorded) is None:
        return [f"The History should record loss and accuracy, but records {sorted(recorded)}."]
    if validation and accuracy_key(recorded, validation=True) is None:
        return [f"The History records {sorted(recorded)} but no validation accuracy (val_accuracy): pass "
                "validation_split=BUDGET.validation_split to fit."]
    return []


def training_problems(record: dict, part: str, wanted, loss: str, optimizer: str = "SGD",
                      learning_rate: float = 0.01) -> list[str]:
    """What is wrong with how a training function compiled and fitted its model.

    ``record`` comes from :func:`training_record`; ``wanted`` is the part's
    :class:`~cifar10_course.modes.PartBudget`. Checks: one call of ``fit``, on exactly the ``x``
    and ``y`` given (not on global variables), with the part's batch size, epochs and validation
    split; compiled with ``loss``, ``optimizer`` at ``learning_rate``, and the accuracy metric.
    """
    name = record.get("name")
    calls = record.get("fit_calls") or []
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        return [f"The record of what {name} did cannot be read."]
    if len(calls) != 1:
        return [f"{name} should call model.fit once, but called it {len(calls)} times."]
    fitted, problems = calls[0], []
    for argument in ("x", "y"):
        if not fitted.get(f"{argument}_given"):
            problems.append(
                f"model.fit got {argument}={fitted.get(argument)}, not the {fitted.get('given_' + argument)} array "
                f"passed to {name}: train on the function's arguments, not on global variables.")
    batch_size = fitted.get("batch_size") or 32  # Keras's default batch size is 32.
    if batch_size != wanted.batch_size:
        problems.append(f"batch_size should be {wanted.batch_size} but is {batch_size}.")
    epochs = fitted.get("epochs")
    if epochs != wanted.epochs:
        problems.append(f"epochs should be {wanted.epochs} (course.budget({part!r}).epochs) but is {epochs}.")
    split = fitted.get("validation_split") or 0.0
    if not isinstance(split, (int, float)) or not np.isclose(split, wanted.validation_split):
        problems.append(f"validation_split should be {wanted.validation_split} "
                        f"(course.budget({part!r}).validation_split) but is {split}.")
    if not record.get("compiled"):
        problems.append(f"{name} should compile the model before fitting it.")
    else:
        if record.get("optimizer") != optimizer.lower():
            problems.append(f"The optimizer should be {optimizer} but is {acceptance.shorten(record.get('optimizer'), 60)}.")
        else:
            rate = record.get("learning_rate")
            if not isinstance(rate, (int, float)) or not np.isclose(rate, learning_rate, rtol=1e-4):
                problems.append(f"The learning rate should be {learning_rate} but is {rate:g}." if isinstance(
                    rate, (int, float)) else f"The learning rate should be {learning_rate} but is {rate}.")
        if record.get("loss") != loss.replace("_", ""):
            problems.append(f"The loss should be {loss} but is {record.get('loss_given')}.")
        metrics = record.get("metrics")
        if not isinstance(metrics, list) or not any(is_accuracy(metric) for metric in metrics):
            problems.append(f"The metrics should include 'accuracy', but are: {record.get('metrics_given')}.")
    return problems


def check_history(run: TrainingRun, validation: bool = False) -> None:
    """Check that the training function returned the History of its fit, with loss and accuracy
    (and with ``validation``, the validation accuracy)."""
    problems = history_problems(training_record(run), validation)
    if problems:
        raise CheckFailed("\n".join(problems))


def check_training_settings(run: TrainingRun, part: str, loss: str, optimizer: str = "SGD",
                            learning_rate: float = 0.01) -> None:
    """Check how a recorded training run compiled and fitted its model (see :func:`training_problems`).

    Only a plain Keras model counts (:func:`check_keras_model`): its settings are read from Keras.
    """
    from .modes import budget

    check_keras_model(run.model, f"The model after {run.name}")
    problems = training_problems(training_record(run), part, budget(part), loss, optimizer, learning_rate)
    if problems:
        raise CheckFailed(f"{run.name}:\n  " + "\n  ".join(problems))

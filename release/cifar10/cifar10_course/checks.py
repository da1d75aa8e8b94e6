"""Checks for notebook cells whose failure messages a student can act on.

Each check returns nothing when all is well and raises ``AssertionError`` otherwise, with a message
that says what was expected and what was found, so a failed nbgrader cell explains itself. NumPy
is the only import at module level; the model checks use whatever Keras model they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def check_parameter_count(model, expected: int) -> None:
    """Check that ``model`` has ``expected`` parameters; on failure, list them layer by layer.

    The total is summed from ``model.weights`` rather than taken from ``model.count_params()``,
    so redefining ``count_params`` cannot make a wrong model pass.
    """
    found = sum(int(np.prod(weight.shape)) for weight in model.weights)
    if found == expected:
        return
    lines = [
        f"The model should have {expected:,} parameters but has {found:,} "
        f"({found - expected:+,}).",
        f"  {'layer':<24} {'type':<20} {'output shape':<22} {'parameters':>12}",
    ]
    for layer in model.layers:
        count = f"{layer.count_params():,}" if layer.built else "not built"
        lines.append(
            f"  {layer.name:<24} {type(layer).__name__:<20} {_output_shape(layer):<22} {count:>12}"
        )
    lines.append(
        f"Total found: {found:,}; expected: {expected:,}; difference: {found - expected:+,}."
    )
    if found == 0:
        lines.append("The model has no weights yet: give it an input shape, e.g. keras.Input(...).")
    raise AssertionError("\n".join(lines))


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
        raise AssertionError(
            f"{name} should be a NumPy array but is {_article(kind)} {kind} "
            f"(np.asarray({name}) converts it)."
        )
    array = np.asarray(array)  # A tensor or a DataFrame: compare as NumPy would see it.
    problems = []
    if shape is not None:
        shape = tuple(shape)
        if len(array.shape) != len(shape) or any(
            want is not None and want != have for want, have in zip(shape, array.shape)
        ):
            note = " (None means any size)" if None in shape else ""
            problems.append(f"{name} should have shape {shape}{note} but has shape {array.shape}")
    if dtype is not None and array.dtype != np.dtype(dtype):
        problems.append(
            f"{name} should have dtype {np.dtype(dtype)} but has dtype {array.dtype} "
            f"({name}.astype('{np.dtype(dtype)}') converts it)"
        )
    if value_range is not None and array.size:
        low, high = value_range
        smallest, largest = np.min(array), np.max(array)
        if np.isnan(smallest) or np.isnan(largest):
            problems.append(f"{name} should have values between {low} and {high} but holds NaN")
        elif smallest < low or largest > high:
            hint = " (did you forget to divide by 255?)" if high <= 1 < largest <= 255 else ""
            problems.append(
                f"{name} should have values between {low} and {high} but has values between "
                f"{smallest} and {largest}{hint}"
            )
    if problems:
        raise AssertionError("\n".join(problems))


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def check_layer_types(model, expected) -> None:
    """Check that the model's layers have the Keras classes ``expected``, e.g. ``["Dense"]``.

    On failure the message shows both lists and the first position where they differ.
    """
    expected = list(expected)
    found = [type(layer).__name__ for layer in model.layers]
    if found == expected:
        return
    position = next(
        (i for i, (want, have) in enumerate(zip(expected, found)) if want != have),
        min(len(expected), len(found)),
    )
    if position < min(len(expected), len(found)):
        detail = (
            f"layer {position} ('{model.layers[position].name}') should be "
            f"{expected[position]} but is {found[position]}"
        )
    elif len(found) < len(expected):
        detail = f"the model ends there; still expected: {expected[position:]}"
    else:
        detail = f"the model should end there but goes on with {found[position:]}"
    raise AssertionError(
        f"The model's layers should be\n  {expected}\nbut are\n  {found}\n"
        f"First difference at position {position} (counting from 0): {detail}."
    )


# ---------------------------------------------------------------------------------------------
# Training and accuracy (Parts 2-4): the settings come from cifar10_course.modes


def check_test_accuracy(trained, x_test, y_test) -> float:
    """Check that a :class:`~cifar10_course.training.TrainedModel` beats its part's threshold.

    Prints the accuracy beside the threshold and returns it. A model that could not be built or
    loaded fails with the reason recorded by ``train_or_load``.
    """
    from .modes import budget, current_mode
    from .training import accuracy

    if trained.problem:
        raise AssertionError(trained.problem)
    threshold = budget(trained.part).threshold(trained.variant)
    found = accuracy(trained.model, x_test, y_test)
    mode = current_mode().name
    print(f"Test accuracy: {found:.4f} on {len(x_test):,} test images "
          f"({trained.name}; needed: above {threshold:.2f} in {mode} mode)")
    if not found > threshold:
        raise AssertionError(
            f"Test accuracy {found:.4f} is not above the threshold {threshold:.2f} for "
            f"{trained.name} in {mode} mode. Check the architecture and the training settings, "
            "then run the training cell again."
        )
    return found


def _name_of(setting) -> str:
    """A compile setting as a comparable name: 'SGD', CategoricalCrossentropy() -> 'categoricalcrossentropy'."""
    if isinstance(setting, dict):
        setting = setting.get("class_name") or setting.get("config", {}).get("name", "")
    elif not isinstance(setting, str):
        setting = type(setting).__name__
    return str(setting).replace("_", "").lower()


_ACCURACY_NAMES = {"accuracy", "acc", "categoricalaccuracy", "binaryaccuracy"}


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
    epoch, whatever it asks for: the epochs are checked from the recorded arguments, and running
    all 20 on a small sample would only add seconds to the grading of every submission.
    """
    import inspect

    from .environment import quiet_tensorflow

    keras = quiet_tensorflow()
    run = TrainingRun(getattr(train, "__name__", "the training function"), model, x, y, None)
    real_fit = model.fit

    def recording_fit(*args, **kwargs):
        arguments = inspect.signature(keras.Model.fit).bind(model, *args, **kwargs).arguments
        run.fit_calls.append(dict(arguments))
        arguments.pop("self")
        arguments["epochs"] = arguments.get("initial_epoch", 0) + 1
        return real_fit(**arguments)

    model.fit = recording_fit
    run.history = train(model, x, y)
    return run


def check_history(run: TrainingRun) -> None:
    """Check that the training function returned the History of its fit, with loss and accuracy."""
    from .environment import quiet_tensorflow

    keras = quiet_tensorflow()
    if not isinstance(run.history, keras.callbacks.History):
        raise AssertionError(f"{run.name} should return what model.fit returns (a History), "
                             f"not {type(run.history).__name__}.")
    recorded = set(run.history.history)
    if not {"loss", "accuracy"} <= recorded:
        raise AssertionError(f"The History should record loss and accuracy, but records {sorted(recorded)}.")


def check_training_settings(run: TrainingRun, part: str, loss: str, optimizer: str = "SGD",
                            learning_rate: float = 0.01) -> None:
    """Check how a recorded training run compiled and fitted its model.

    Checks: one call of ``fit``, on exactly the ``x`` and ``y`` given (not on global variables),
    with the part's batch size, epochs and validation split; compiled with ``loss``,
    ``optimizer`` at ``learning_rate``, and the accuracy metric.
    """
    from .modes import budget

    wanted, name, model = budget(part), run.name, run.model
    if len(run.fit_calls) != 1:
        raise AssertionError(f"{name} should call model.fit once, but called it {len(run.fit_calls)} times.")
    fitted = run.fit_calls[0]
    problems = []
    for argument, given in (("x", run.x), ("y", run.y)):
        used = fitted.get(argument)
        used_shape = getattr(used, "shape", type(used).__name__)
        if used is not given and not (hasattr(used, "shape") and used.shape == given.shape
                                      and np.array_equal(used, given)):
            problems.append(
                f"model.fit got {argument}={used_shape}, not the {given.shape} array passed to "
                f"{name}: train on the function's arguments, not on global variables.")
    batch_size = fitted.get("batch_size") or 32  # Keras's default batch size is 32.
    if batch_size != wanted.batch_size:
        problems.append(f"batch_size should be {wanted.batch_size} but is {batch_size}.")
    epochs = fitted.get("epochs", 1)
    if epochs != wanted.epochs:
        problems.append(f"epochs should be {wanted.epochs} (course.budget({part!r}).epochs) but is {epochs}.")
    split = fitted.get("validation_split") or 0.0
    if not np.isclose(split, wanted.validation_split):
        problems.append(f"validation_split should be {wanted.validation_split} "
                        f"(course.budget({part!r}).validation_split) but is {split}.")

    config = model.get_compile_config() or {}
    if not config:
        problems.append(f"{name} should compile the model before fitting it.")
    else:
        if _name_of(config.get("optimizer")) != optimizer.lower():
            problems.append(f"The optimizer should be {optimizer} but is {_name_of(config.get('optimizer'))}.")
        else:
            rate = model.optimizer.learning_rate  # A Variable or tensor; .numpy() avoids NumPy 2.4's warning.
            rate = float(rate.numpy() if hasattr(rate, "numpy") else rate)
            if not np.isclose(rate, learning_rate, rtol=1e-4):
                problems.append(f"The learning rate should be {learning_rate} but is {rate:g}.")
        if _name_of(config.get("loss")) != loss.replace("_", ""):
            problems.append(f"The loss should be {loss} but is {config.get('loss')!r}.")
        metrics = config.get("metrics") or []
        if not any(_name_of(metric) in _ACCURACY_NAMES for metric in metrics):
            problems.append(f"The metrics should include 'accuracy', but are {metrics!r}.")
    if problems:
        raise AssertionError(f"{name}:\n  " + "\n  ".join(problems))

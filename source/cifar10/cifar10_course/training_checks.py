"""Checks of what a student's training function did: how it compiled and fitted the model, and
the History it returned."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from . import acceptance
from .acceptance import accuracy_key, is_accuracy, keras2_hint, setting_name
from .base_checks import CheckFailed
from .model_checks import check_keras_model


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

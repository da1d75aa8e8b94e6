"""Checks that several parts share: arrays returned, models, training settings, test accuracy."""

from __future__ import annotations

import numpy as np

from cifar10_course import checks
from cifar10_course.acceptance import layers  # noqa: F401 (the checks' one way to list a model's layers)
from grading.checker import Failed
from grading.checker.evidence import Evidence, Foreign, Returned, Sample


def fail_on(problems: list[str], prefix: str = "") -> None:
    if problems:
        raise Failed(prefix + "\n".join(problems))


def kind_of(value) -> str:
    if isinstance(value, Foreign):
        return value.kind.rsplit(".", 1)[-1]
    return {list: "list", tuple: "tuple", dict: "dict", str: "str", float: "float", int: "int",
            bool: "bool", type(None): "None"}.get(type(value), type(value).__name__)


def returned_values(evidence: Evidence, probe: dict, names: tuple[str, ...], what: str) -> list:
    """The values a function returned as a tuple of ``names``, in order."""
    result = evidence.result(probe)
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        count = len(result) if isinstance(result, (tuple, list)) else 1
        raise Failed(f"{what} should return {len(names)} values, {', '.join(names)}, but returned {count}.")
    return list(result)


def as_array(name: str, value) -> Returned | Sample:
    """An array value, or a failure saying what it is instead (as ``check_array`` would)."""
    if isinstance(value, (Returned, Sample)):
        return value
    kind = kind_of(value)
    raise Failed(f"{name} should be a NumPy array but is {checks._article(kind)} {kind} "
                 f"(np.asarray({name}) converts it).")


def shape_of(value: Returned | Sample) -> tuple:
    return value.shape if isinstance(value, Sample) else value.values.shape


def array_problems(name: str, value, shape=None, dtype=None, value_range=None) -> list[str]:
    value = as_array(name, value)
    return checks.array_problems(name, shape_of(value), value.values.dtype, value.values, shape, dtype, value_range)


def numbers(value, what: str) -> np.ndarray:
    """Numbers a function returned (an array, a list or tuple of numbers, or one number) as an array."""
    if isinstance(value, Returned):
        return value.values
    if isinstance(value, bool) or isinstance(value, Foreign) or isinstance(value, Sample):
        raise Failed(f"{what} should be numbers, not {checks._article(kind_of(value))} {kind_of(value)}.")
    try:
        found = np.asarray(_plain(value))
    except (TypeError, ValueError):
        found = None
    if found is None or found.dtype.kind not in "biuf":
        raise Failed(f"{what} should be numbers, not {checks._article(kind_of(value))} {kind_of(value)}.")
    return found


def _plain(value):
    if isinstance(value, Returned):
        return value.values
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (Foreign, Sample, str)) or value is None:
        raise TypeError
    return value


# -- models ------------------------------------------------------------------------------------

def parameter_count(evidence: Evidence, probe: dict, expected: int) -> None:
    model = evidence.model(probe)
    try:
        checks.check_parameter_count(model, expected)
    except AssertionError as error:
        raise Failed(str(error)) from None


def layer_types(model, expected: list[str]) -> None:
    try:
        checks.check_layer_types(model, expected)
    except AssertionError as error:
        raise Failed(str(error)) from None


def not_compiled(evidence: Evidence, probe: dict, name: str, why: str = "") -> None:
    answer = evidence.model_answer(probe, name)
    if answer.get("compiled"):
        raise Failed(f"{name} should return the model uncompiled{why}.")


def new_each_call(evidence: Evidence, probe: dict, name: str) -> None:
    if not evidence.model_answer(probe, name).get("fresh"):
        raise Failed(f"{name} should build a new model at every call.")


def activation(layer) -> str:
    return getattr(layer.activation, "__name__", str(layer.activation))


# -- training ----------------------------------------------------------------------------------

def training_record(evidence: Evidence, probe: dict) -> dict:
    record = evidence.answer(probe)
    record["name"] = probe["train"]  # The grader's name for it, not the kernel's.
    return record


def reference_note(record: dict, probe: dict) -> str | None:
    """What the student reads when the training function was tried on the task's own network."""
    used = record.get("reference_used")
    if not used:
        return None
    return (f"{probe['build']}() failed or its network could not be trained ({str(used)[:300]}), so "
            f"{probe['train']} was tested with the task's own network: its points do not depend on {probe['build']}.")


def history(evidence: Evidence, probe: dict, validation: bool = False) -> str | None:
    record = training_record(evidence, probe)
    fail_on(checks.history_problems(record, validation))
    return reference_note(record, probe)


def training_settings(evidence: Evidence, probe: dict, part: str, loss: str, optimizer: str = "SGD",
                      learning_rate: float = 0.01) -> str | None:
    record = training_record(evidence, probe)
    problems = checks.training_problems(record, part, evidence.data.budget(part), loss, optimizer, learning_rate)
    fail_on(problems, f"{probe['train']}:\n  " if problems else "")
    return reference_note(record, probe)


# -- accuracy ----------------------------------------------------------------------------------

ANIMAL_CLASSES = checks.ANIMAL_CLASSES


TRAINING_SAMPLE = 2000  # training images measured beside the test images, for the instructor's signals


def predictions(evidence: Evidence, probe: dict, part: str, variant: str | None = None, model=None) -> np.ndarray:
    """What the submitted network of ``part`` (built by ``probe``'s function, with the submitted
    weights; or ``model``, already so built) answers for the checker's own test images."""
    from cifar10_course.training import weights_path

    if model is None:
        model = evidence.trained_model(probe, str(weights_path(part, variant)))
    return np.asarray(model.predict(evidence.data.test_images, batch_size=500, verbose=0))


def task_labels(part: str, classes: np.ndarray) -> np.ndarray:
    """What a part's network is graded on: the classes, or animal (1) or vehicle (0) in Part 4."""
    return np.isin(classes, ANIMAL_CLASSES).astype("int32") if part == "part4_binary" else classes


def accuracy(evidence: Evidence, probe: dict, part: str, variant: str | None = None) -> str:
    """The test accuracy of the submitted network against the mode's threshold, measured here.

    Beside it, for the instructor (never for the score): the accuracy on a sample of the training
    images, which a network trained on the test images falls below."""
    from cifar10_course.training import accuracy_of_scores, weights_path

    model = evidence.trained_model(probe, str(weights_path(part, variant)))
    scores = predictions(evidence, probe, part, variant, model)
    labels = task_labels(part, evidence.data.test_classes)
    try:
        found = accuracy_of_scores(scores, labels)
    except (AssertionError, ValueError, IndexError) as error:
        raise Failed(f"The network's outputs cannot be read as answers for the test images: {error}") from None
    rows = np.sort(np.random.default_rng(0).choice(len(evidence.data.train_classes), replace=False,
                                                   size=min(TRAINING_SAMPLE, len(evidence.data.train_classes))))
    training = np.asarray(model.predict(evidence.data.scaled_rows("train", rows), batch_size=500, verbose=0))
    evidence.signals.update(test_accuracy=round(found, 4), test_images=len(labels),
                            training_sample_accuracy=round(accuracy_of_scores(
                                training, task_labels(part, evidence.data.train_classes[rows])), 4))
    threshold = evidence.data.threshold(part, variant)
    mode = evidence.data.mode.name
    name = part if variant is None else f"{part}/{variant}"
    line = (f"Test accuracy: {found:.4f} on {len(labels):,} test images ({name}: {probe['function']}() with the "
            f"weights in {weights_path(part, variant)}; needed: above {threshold:.2f} in {mode} mode)")
    if not found > threshold:
        raise Failed(f"{line}\nTest accuracy {found:.4f} is not above the threshold {threshold:.2f} for {name} in "
                     f"{mode} mode. Check the architecture and the training settings, then run the training cell again.")
    return line

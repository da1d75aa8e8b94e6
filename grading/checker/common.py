"""Checks that several parts share: arrays returned, models, training settings, test accuracy."""

from __future__ import annotations

import math

import numpy as np

from cifar10_course import checks
from cifar10_course.data import CLASS_NAMES
from cifar10_course.acceptance import layer_activations, layers, shorten  # noqa: F401 (the checks' one way to list a model's layers)
from grading.checker import Failed
from grading.checker.evidence import MAX_WEIGHTS_BYTES, Evidence, Foreign, Returned, Sample


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
    raise Failed(checks.not_an_array(name, kind_of(value)))


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
        raise Failed(f"{what} should be numbers, not {checks.article(kind_of(value))} {kind_of(value)}.")
    try:
        found = np.asarray(_plain(value))
    except (TypeError, ValueError):
        found = None
    if found is None or found.dtype.kind not in "biuf":
        raise Failed(f"{what} should be numbers, not {checks.article(kind_of(value))} {kind_of(value)}.")
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


def not_compiled(evidence: Evidence, probe: dict, name: str, trainer: str) -> None:
    answer = evidence.model_answer(probe, name)
    if answer.get("compiled"):
        raise Failed(f"{name} compiles its model, but it should return it uncompiled: {trainer} compiles it. Take the "
                     f"model.compile(...) call out of {name} (only this test depends on it).")


def new_each_call(evidence: Evidence, probe: dict, name: str) -> None:
    if not evidence.model_answer(probe, name).get("fresh"):
        raise Failed(f"{name} should build a new model at every call.")


def activated(model, kind: str) -> list[tuple]:
    """The model's layers of Keras class ``kind``, each with the activation it applies (its own, or
    an activation layer's right after it: :func:`cifar10_course.acceptance.layer_activations`)."""
    return [(layer, name) for layer, name in layer_activations(model) if type(layer).__name__ == kind]


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
    return (f"{probe['build']}() failed or its network could not be trained ({shorten(used, 300)}), so "
            f"{probe['train']} was tested with the task's own network: its points do not depend on {probe['build']}.")


def history(evidence: Evidence, probe: dict, validation: bool = False) -> str | None:
    record = training_record(evidence, probe)
    fail_on(checks.history_problems(record, validation))
    return reference_note(record, probe)


def training_settings(evidence: Evidence, probe: dict, part: str, loss: str, optimizer: str = "SGD",
                      learning_rate: float = 0.01, variants: tuple = (None,)) -> str | None:
    """The compile and fit settings of a training function, from the kernel's record of a run of
    it, and from the optimizer's state in the submitted weights files of ``part`` (one per
    variant), which show the learning rate and the number of batches the network was trained on:
    where a file holds them, the file decides."""
    record = training_record(evidence, probe)
    budget = evidence.data.budget(part)
    problems = checks.training_problems(record, part, budget, loss, optimizer, learning_rate)
    for variant in variants:
        problems += weights_file_settings(evidence, part, variant, budget, learning_rate, record)
    fail_on(problems, f"{probe['train']}:\n  " if problems else "")
    return reference_note(record, probe)


def fitted_images(training_images: int, budget) -> int:
    """The images a fit with ``budget`` trains on: Keras holds out the last share given by
    ``validation_split`` (it fits on ``floor(n * (1 - validation_split))``)."""
    return int(math.floor(training_images * (1.0 - budget.validation_split)))


def expected_steps(training_images: int, budget) -> int:
    """The optimizer's steps of a training run with ``budget`` (a last partial batch is a step too)."""
    return budget.epochs * math.ceil(fitted_images(training_images, budget) / budget.batch_size)


def weights_file_settings(evidence: Evidence, part: str, variant: str | None, budget, learning_rate: float,
                          record: dict) -> list[str]:
    """What the submitted weights file of ``part`` says against the required settings: problems
    for the student (a learning rate, or a number of steps no run mode gives), signals for the
    instructor (the file and the kernel's record disagree, or it was trained in another mode)."""
    from cifar10_course.modes import MODES
    from cifar10_course.training import weights_path

    path = str(weights_path(part, variant))
    try:
        state = optimizer_state(evidence.submitted_file(path, MAX_WEIGHTS_BYTES, advice=""))
    except (Failed, ValueError):
        return []  # no file, or none Keras could read: the accuracy test says so; the kernel's record decides alone
    if state is None:
        evidence.signals["weights_without_optimizer"] = path
        return []
    problems = []
    rate = state.get("learning_rate")
    if rate is not None and not np.isclose(rate, learning_rate, rtol=1e-4):
        problems.append(f"The weights in {path} were trained with a learning rate of {rate:g} (the optimizer's state "
                        f"saved with them says so); the task asks for {learning_rate}. Train again, then submit.")
    steps = state.get("iterations")
    training_images = len(evidence.data.train_classes)
    wanted = expected_steps(training_images, budget)
    if steps is not None and steps != wanted:
        others = [name for name, mode in MODES.items() if name != evidence.data.mode.name and part in mode.parts
                  and steps == expected_steps(training_images_of(mode), mode.parts[part])]
        if others:
            evidence.signals["trained_in_mode"] = f"{path}: {others[0]}"
        else:
            problems.append(
                f"The weights in {path} were trained for {steps:,} steps of the optimizer (its state saved with them "
                f"says so), but batches of {budget.batch_size} for {budget.epochs} epochs of the "
                f"{fitted_images(training_images, budget):,} images a fit trains on make {wanted:,}. Run the training "
                "cell again with the required settings, then submit.")
            fits = record.get("fit_calls") or []
            if len(fits) == 1 and fits[0].get("batch_size") == budget.batch_size and fits[0].get("epochs") == budget.epochs:
                evidence.signals["settings_disagree"] = (f"{path}: {steps} steps in the file, {wanted} from the settings "
                                                         "the kernel recorded")
    return problems


FULL_TRAINING_IMAGES = 50_000  # CIFAR-10's training set


def training_images_of(mode) -> int:
    """Training images of a run mode (the whole training set when it takes no subset)."""
    return FULL_TRAINING_IMAGES if mode.train_per_class is None else len(CLASS_NAMES) * mode.train_per_class


def optimizer_state(path) -> dict | None:
    """The iteration count and learning rate a ``.weights.h5`` file holds for its optimizer
    (Keras 3 saves them after training: ``optimizer/vars/0`` and ``/1``), or None without them;
    ValueError for a file that is no HDF5 file. Read without following links, external files or
    virtual datasets (a student's file)."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise ValueError("not an HDF5 file") from None
    try:
        with handle:
            group = handle
            for name in ("optimizer", "vars"):
                if not isinstance(group.get(name, getlink=True), h5py.HardLink):
                    return None
                group = group[name]
            values = {}
            for index, key in ((0, "iterations"), (1, "learning_rate")):
                if not isinstance(group.get(str(index), getlink=True), h5py.HardLink):
                    return None
                dataset = group[str(index)]
                if (not isinstance(dataset, h5py.Dataset) or dataset.is_virtual or dataset.external
                        or dataset.shape != () or dataset.dtype.kind not in "iuf"):
                    return None
                values[key] = dataset[()].item()
    except (OSError, KeyError, ValueError, TypeError):
        return None
    iterations, rate = values["iterations"], values["learning_rate"]
    if not (isinstance(iterations, int) and 0 <= iterations < 2**40 and isinstance(rate, float) and math.isfinite(rate)):
        return None
    return {"iterations": iterations, "learning_rate": rate}


# -- accuracy ----------------------------------------------------------------------------------

ANIMAL_CLASSES = checks.ANIMAL_CLASSES


TRAINING_SAMPLE = 2000  # training images measured beside the test images, for the instructor's signals


def predictions(evidence: Evidence, probe: dict, part: str, variant: str | None = None, model=None,
                answer: dict | None = None) -> np.ndarray:
    """What the submitted network of ``part`` (built from ``answer``, the description of what
    ``probe``'s function returned, with the submitted weights; or ``model``, already so built)
    answers for the checker's own test images, in batches its size allows."""
    from cifar10_course.training import weights_path

    answer = answer or evidence.model_answer(probe, probe["function"])
    if model is None:
        model = evidence.trained_model(probe, str(weights_path(part, variant)), answer)
    return predict(evidence, model, evidence.data.test_images, answer)


def predict(evidence: Evidence, model, images: np.ndarray, answer: dict) -> np.ndarray:
    from grading.checker import safe_models

    with evidence.timed("predictions"):
        return np.asarray(model.predict(images, batch_size=safe_models.prediction_batch(answer["json"]), verbose=0))


def one_model(evidence: Evidence, probe: dict) -> dict:
    """The description of the network a part's tests measure: the first one its build function
    gave in this notebook (the parameter and architecture tests'). The current test's must be the
    same network, else the test fails and says so."""
    name = probe["function"]
    current = evidence.model_answer(probe, name)
    first = evidence.first_answer(probe)
    if first is None or first is current or not isinstance(first.get("json"), str):
        return current
    if _signature(first) != _signature(current) or not _same_outputs(evidence, probe, first, current):
        raise Failed(f"{name}() returned another network for this test than for the earlier tests of this notebook "
                     f"(its architecture or what it computes differs). A part's tests all measure one network: the "
                     f"one {name}() builds when the notebook runs from the top. Define {name} once, in its own cell.")
    return first


def _signature(answer: dict) -> list:
    """A model description's layers, in order, without the names Keras numbers anew at every build."""
    try:
        config = __import__("json").loads(answer["json"])
    except (ValueError, TypeError):
        return []

    def described(node) -> list:
        found = []
        for layer in (node.get("config") or {}).get("layers") or []:
            if isinstance(layer, dict) and layer.get("class_name") in ("Sequential", "Functional", "Model"):
                found.append([layer.get("class_name"), described(layer)])
            elif isinstance(layer, dict):
                found.append([layer.get("class_name"), _unnamed(layer.get("config"))])
        return found

    return described(config) if isinstance(config, dict) else []


def _unnamed(config):
    if isinstance(config, dict):
        return {key: _unnamed(value) for key, value in config.items() if key != "name"}
    if isinstance(config, list):
        return [_unnamed(value) for value in config]
    return config


def _same_outputs(evidence: Evidence, probe: dict, first: dict, current: dict) -> bool:
    try:
        one, other = evidence.decode(first.get("outputs"), probe), evidence.decode(current.get("outputs"), probe)
    except Failed:
        return False
    one, other = getattr(one, "values", None), getattr(other, "values", None)
    return (isinstance(one, np.ndarray) and isinstance(other, np.ndarray) and one.shape == other.shape
            and np.allclose(one, other, rtol=1e-5, atol=1e-6, equal_nan=True))


def accuracy(evidence: Evidence, probe: dict, part: str, variant: str | None = None) -> str:
    """The test accuracy of the submitted network against the mode's threshold, measured here.

    Beside it, for the instructor (never for the score): the accuracy on a sample of the training
    images, which a network trained on the test images falls below."""
    from cifar10_course.training import accuracy_of_scores, weights_path

    answer = one_model(evidence, probe)
    model = evidence.trained_model(probe, str(weights_path(part, variant)), answer)
    scores = predictions(evidence, probe, part, variant, model, answer)
    labels = checks.task_labels(part, evidence.data.test_classes)
    try:
        found = accuracy_of_scores(scores, labels)
    except (AssertionError, ValueError, IndexError) as error:
        raise Failed(f"The network's outputs cannot be read as answers for the test images: {error}") from None
    rows = np.sort(np.random.default_rng(0).choice(len(evidence.data.train_classes), replace=False,
                                                   size=min(TRAINING_SAMPLE, len(evidence.data.train_classes))))
    training = predict(evidence, model, evidence.data.scaled_rows("train", rows), answer)
    evidence.signals.update(test_accuracy=round(found, 4), test_images=len(labels),
                            training_sample_accuracy=round(accuracy_of_scores(
                                training, checks.task_labels(part, evidence.data.train_classes[rows])), 4))
    threshold = evidence.data.threshold(part, variant)
    mode = evidence.data.mode.name
    name = part if variant is None else f"{part}/{variant}"
    line = checks.accuracy_line(found, len(labels), name, f"{probe['function']}() with the weights in "
                                f"{weights_path(part, variant)}", threshold, mode)
    problem = checks.below_threshold(found, threshold, name, mode)
    if problem:
        raise Failed(f"{line}\n{problem}")
    return line

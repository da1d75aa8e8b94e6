"""Part 1's graded tests: loading the data set and counting its classes."""

from __future__ import annotations

import numpy as np

from cifar10_course import checks
from grading.protocol import harvest
from grading.protocol import probes as p
from grading.checker import Failed, graded_test
from grading.checker.common import array_problems, as_array, fail_on, numbers, returned_values
from grading.checker.evidence import Sample

TESTS: dict = {}
LOAD = p.call("load_cifar10")
NAMES = ("xtrain", "ytrain_1hot", "xtest", "ytest_1hot")
TRAINING_LABELS = p.call("class_counts", p.data("train_labels_onehot"))


def example_labels(fresh: p.Fresh) -> np.ndarray:
    """Between 5 and 30 random classes, new at every grading (some classes appear twice, some never)."""
    rng = fresh.rng("class_counts_example")
    return rng.integers(0, 10, size=int(rng.integers(5, 31)))


def example(fresh: p.Fresh) -> dict:
    return p.call("class_counts", p.value(np.eye(10)[example_labels(fresh)]))


def loaded(evidence) -> dict:
    return dict(zip(NAMES, returned_values(evidence, LOAD, NAMES, "load_cifar10()")))


def fail_with_loader_hint(evidence, arrays: dict, problems: list[str]) -> None:
    """Fail with ``problems``; when the whole data set came back in a mode that works on a subset
    (keras.datasets.cifar10.load_data() instead of the course's loader), say what to use."""
    found = arrays["xtrain"]
    shape = found.shape if isinstance(found, Sample) else getattr(getattr(found, "values", None), "shape", ())
    if problems and shape[:1] == (50_000,) and len(evidence.data.train_classes) != 50_000:
        problems.append(f"xtrain holds all 50,000 training images, as keras.datasets.cifar10.load_data() returns "
                        f"them; {evidence.data.mode.name} mode works on {len(evidence.data.train_classes):,}: load "
                        "them with cifar10_course.load_course_split(), which follows the mode.")
    fail_on(problems)


@graded_test(TESTS, "load_cifar10_shapes", LOAD)
def shapes(evidence):
    arrays = loaded(evidence)
    n_train, n_test = len(evidence.data.train_classes), len(evidence.data.test_classes)
    fail_with_loader_hint(evidence, arrays,
                          array_problems("xtrain", arrays["xtrain"], shape=(n_train, 32, 32, 3), dtype="float32")
                          + array_problems("xtest", arrays["xtest"], shape=(n_test, 32, 32, 3), dtype="float32")
                          + array_problems("ytrain_1hot", arrays["ytrain_1hot"], shape=(n_train, 10))
                          + array_problems("ytest_1hot", arrays["ytest_1hot"], shape=(n_test, 10)))


@graded_test(TESTS, "load_cifar10_values", LOAD)
def values(evidence):
    arrays = loaded(evidence)
    fail_on(array_problems("xtrain", arrays["xtrain"], value_range=(0, 1))
            + array_problems("xtest", arrays["xtest"], value_range=(0, 1)))
    for name in ("ytrain_1hot", "ytest_1hot"):
        labels = as_array(name, arrays[name]).values
        one_hot = labels.ndim == 2 and set(np.unique(labels)) <= {0, 1} and np.all(labels.sum(axis=1) == 1)
        if not one_hot:
            raise Failed(f"Each row of {name} should hold one 1 and nine 0s; the first rows are\n{labels[:3]}")


@graded_test(TESTS, "load_cifar10_matches_data", LOAD)
def matches_data(evidence):
    arrays = loaded(evidence)
    for name, which in (("xtrain", "train"), ("xtest", "test")):
        found = as_array(name, arrays[name])
        classes = evidence.data.train_classes if which == "train" else evidence.data.test_classes
        rows = found.rows if isinstance(found, Sample) else np.arange(min(len(found.values), len(classes)))
        same_shape = tuple(found.shape if isinstance(found, Sample) else found.values.shape) == (len(classes), 32, 32, 3)
        if not same_shape or checks.largest_difference(found.values, evidence.data.scaled_rows(which, rows)) > 1e-6:
            fail_with_loader_hint(evidence, arrays,
                                  [f"{name} should hold the data set's images divided by 255, in their original order."])
    for name, classes in (("ytrain_1hot", evidence.data.train_classes), ("ytest_1hot", evidence.data.test_classes)):
        labels = as_array(name, arrays[name]).values
        if labels.shape != (len(classes), 10) or not np.array_equal(np.argmax(labels, axis=1), classes):
            raise Failed(f"{name} should encode the data set's labels, in their original order.")


@graded_test(TESTS, "class_counts_example", example)
def counts_example(evidence):
    labels = example_labels(evidence.fresh)
    counts = numbers(evidence.result(example(evidence.fresh)), "What class_counts returns")
    expected = np.bincount(labels, minlength=10)
    if counts.shape != (10,) or counts.tolist() != expected.tolist():
        raise Failed(f"class_counts of the one-hot labels of the classes {labels.tolist()} should be "
                     f"{expected.tolist()}, not {counts.tolist()}")


@graded_test(TESTS, "class_counts_training_labels", TRAINING_LABELS)
def counts_training(evidence):
    counts = numbers(evidence.result(TRAINING_LABELS), "What class_counts returns")
    classes = evidence.data.train_classes
    chosen = classes[harvest.data_rows(len(classes), evidence.fresh_of(TRAINING_LABELS))]
    expected = np.bincount(chosen, minlength=10)
    if counts.shape != (10,) or counts.tolist() != expected.tolist():
        raise Failed(f"class_counts of {len(chosen):,} of the training labels (rows chosen at random for this grading) "
                     f"should be {expected.tolist()}, not {counts.tolist()}")

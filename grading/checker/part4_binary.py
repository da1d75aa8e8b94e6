"""Part 4's graded tests: the animal/vehicle labels, the binary network, its training and accuracy."""

from __future__ import annotations

import numpy as np

from grading.protocol import probes as p
from grading.checker import Failed, graded_test
from grading.checker.common import (ANIMAL_CLASSES, accuracy, array_problems, as_array, fail_on, history,
                                    layer_activations, not_compiled, parameter_count, returned_values, training_settings)
from grading.checker.part3_cnn import convolution_layers, network

TESTS: dict = {}
DATA = p.call("get_binary_cifar10")
NAMES = ("xtrain", "ytrain", "xtest", "ytest")
BUILD = p.model("build_binary_classifier")
TRAIN = p.training("train_binary_classifier", "build_binary_classifier", 32, binary=True,
                   reference=network(1, "sigmoid"))


def binary_data(evidence) -> dict:
    return dict(zip(NAMES, returned_values(evidence, DATA, NAMES, "get_binary_cifar10()")))


@graded_test(TESTS, "binary_data_shapes", DATA)
def shapes(evidence):
    arrays = binary_data(evidence)
    n_train, n_test = len(evidence.data.train_classes), len(evidence.data.test_classes)
    fail_on(array_problems("xtrain", arrays["xtrain"], shape=(n_train, 32, 32, 3), dtype="float32", value_range=(0, 1))
            + array_problems("xtest", arrays["xtest"], shape=(n_test, 32, 32, 3), dtype="float32", value_range=(0, 1))
            + array_problems("ytrain", arrays["ytrain"], shape=(n_train,), value_range=(0, 1))
            + array_problems("ytest", arrays["ytest"], shape=(n_test,), value_range=(0, 1)))
    found = set(np.unique(as_array("ytrain", arrays["ytrain"]).values).tolist())
    if found != {0, 1}:
        raise Failed(f"ytrain should hold only 0 and 1, not {sorted(found)}.")


@graded_test(TESTS, "binary_data_mapping", DATA)
def mapping(evidence):
    arrays = binary_data(evidence)
    for split, classes in (("ytrain", evidence.data.train_classes), ("ytest", evidence.data.test_classes)):
        labels = as_array(split, arrays[split]).values.reshape(-1)
        if len(labels) != len(classes):
            raise Failed(f"{split} should hold one label for each of the {len(classes):,} images, not {len(labels):,}.")
        for label, name in enumerate(evidence.data.class_names):
            expected = 1 if label in ANIMAL_CLASSES else 0
            wrong = int(np.sum(labels[classes == label] != expected))
            if wrong:
                raise Failed(f"In {split}, class {name} ({label}) should be {expected} "
                             f"({'animal' if expected else 'vehicle'}), but {wrong} of its images are not.")


@graded_test(TESTS, "binary_classifier_parameters", BUILD)
def parameters(evidence):
    parameter_count(evidence, BUILD, 566_091)


@graded_test(TESTS, "binary_classifier_architecture", BUILD)
def architecture(evidence):
    model = evidence.model(BUILD)
    convolution_layers(model, ten_classes=False)
    last, applied = layer_activations(model)[-1]
    if (getattr(last, "units", None), applied) != (1, "sigmoid"):
        raise Failed(f"The last layer should be Dense(1, activation='sigmoid'), not {type(last).__name__}"
                     f"({getattr(last, 'units', '')}, {applied}).")
    if tuple(model.output_shape) != (None, 1):
        raise Failed(f"The output shape should be (None, 1), not {model.output_shape}.")
    not_compiled(evidence, BUILD, "build_binary_classifier", "train_binary_classifier")


@graded_test(TESTS, "train_binary_classifier_runs", TRAIN)
def runs(evidence):
    return history(evidence, TRAIN)


@graded_test(TESTS, "train_binary_classifier_settings", TRAIN)
def settings(evidence):
    return training_settings(evidence, TRAIN, "part4_binary", loss="binary_crossentropy")


@graded_test(TESTS, "binary_classifier_accuracy", BUILD)
def test_accuracy(evidence):
    return accuracy(evidence, BUILD, "part4_binary")

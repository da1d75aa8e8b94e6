"""Part 2's graded tests: the multilayer network, its training function and its test accuracy."""

from __future__ import annotations

from grading.protocol import probes as p
from grading.checker import Failed, graded_test
from grading.checker.common import (accuracy, history, layer_activations, layer_types, new_each_call, not_compiled,
                                    parameter_count, training_settings)

TESTS: dict = {}
BUILD = p.model("build_multilayer_nn")
NETWORK = p.network((32, 32, 3), [("Flatten", {}), ("Dense", {"units": 100, "activation": "relu"}),
                                   ("Dense", {"units": 10, "activation": "softmax"})])
TRAIN = p.training("train_multilayer_nn", "build_multilayer_nn", 32, reference=NETWORK)


@graded_test(TESTS, "multilayer_nn_parameters", BUILD)
def parameters(evidence):
    parameter_count(evidence, BUILD, 308_310)


@graded_test(TESTS, "multilayer_nn_architecture", BUILD)
def architecture(evidence):
    model = evidence.model(BUILD)
    layer_types(model, ["Flatten", "Dense", "Dense"])
    units = [layer.units for layer, _ in layer_activations(model)[1:]]
    activations = [name for _, name in layer_activations(model)[1:]]
    if units != [100, 10]:
        raise Failed(f"The Dense layers should have 100 and 10 units, not {units}.")
    if activations != ["relu", "softmax"]:
        raise Failed(f"The activations should be relu, then softmax, not {activations}.")
    if tuple(model.input_shape) != (None, 32, 32, 3):
        raise Failed(f"The input shape should be (None, 32, 32, 3), not {model.input_shape}.")
    if tuple(model.output_shape) != (None, 10):
        raise Failed(f"The output shape should be (None, 10), not {model.output_shape}.")
    not_compiled(evidence, BUILD, "build_multilayer_nn", "train_multilayer_nn")
    new_each_call(evidence, BUILD, "build_multilayer_nn")


@graded_test(TESTS, "train_multilayer_nn_runs", TRAIN)
def runs(evidence):
    return history(evidence, TRAIN)


@graded_test(TESTS, "train_multilayer_nn_settings", TRAIN)
def settings(evidence):
    return training_settings(evidence, TRAIN, "part2_mlp", loss="categorical_crossentropy")


@graded_test(TESTS, "multilayer_nn_accuracy", BUILD)
def test_accuracy(evidence):
    return accuracy(evidence, BUILD, "part2_mlp")

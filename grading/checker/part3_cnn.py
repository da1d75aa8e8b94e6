"""Part 3's graded tests: the convolutional network, its training function and its test accuracy."""

from __future__ import annotations

from grading.protocol import probes as p
from grading.checker import Failed, graded_test
from grading.checker.common import (accuracy, activated, history, layer_types, layers, not_compiled, parameter_count,
                                    training_settings)

TESTS: dict = {}
BUILD = p.model("build_convolution_nn")
LAYERS = ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten",
          "Dense", "Dense", "Dense"]


def network(outputs: int, activation: str) -> dict:
    """Part 3's network (Part 4's with one sigmoid output), for training tests when the student's fails."""
    convolution = ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "padding": "same", "activation": "relu"})
    return p.network((32, 32, 3), [
        convolution, convolution, ("MaxPooling2D", {"pool_size": [2, 2]}), ("Dropout", {"rate": 0.25}),
        convolution, convolution, ("MaxPooling2D", {"pool_size": [2, 2]}), ("Dropout", {"rate": 0.5}),
        ("Flatten", {}), ("Dense", {"units": 250, "activation": "relu"}), ("Dense", {"units": 100, "activation": "relu"}),
        ("Dense", {"units": outputs, "activation": activation})])


TRAIN = p.training("train_convolution_nn", "build_convolution_nn", 32, reference=network(10, "softmax"))


def convolution_layers(model, ten_classes: bool = True) -> None:
    """The layers of Part 3's network (Part 4 reuses all but the last)."""
    layer_types(model, LAYERS)
    convolutions = [(layer.filters, tuple(layer.kernel_size), tuple(layer.strides), layer.padding, name)
                    for layer, name in activated(model, "Conv2D")]
    if convolutions != [(32, (3, 3), (1, 1), "same", "relu")] * 4:
        strides = " Strides of 3 come from the old Conv2D(32, 3, 3) spelling: write Conv2D(32, (3, 3))." if any(
            c[2] != (1, 1) for c in convolutions) else ""
        raise Failed("Each Conv2D should have 32 filters of 3x3, strides 1, padding 'same' and relu; found "
                     f"(filters, kernel, strides, padding, activation) {convolutions}.{strides}")
    pooled = [tuple(layer.output.shape[1:]) for layer in layers(model) if type(layer).__name__ == "MaxPooling2D"]
    if pooled != [(16, 16, 32), (8, 8, 32)]:
        raise Failed(f"Pooling should give 16x16x32, then 8x8x32; found {pooled}.")
    rates = [layer.rate for layer in layers(model) if type(layer).__name__ == "Dropout"]
    if rates != [0.25, 0.5]:
        raise Failed(f"The dropout rates should be 0.25, then 0.5; found {rates}.")
    dense = [(layer.units, name) for layer, name in activated(model, "Dense")]
    if ten_classes and dense != [(250, "relu"), (100, "relu"), (10, "softmax")]:
        raise Failed(f"The Dense layers should be 250 relu, 100 relu, 10 softmax; found {dense}.")
    if not ten_classes and dense[:2] != [(250, "relu"), (100, "relu")]:
        raise Failed(f"The first two Dense layers should be 250 relu and 100 relu; found {dense[:2]}.")


@graded_test(TESTS, "convolution_nn_parameters", BUILD)
def parameters(evidence):
    parameter_count(evidence, BUILD, 567_000)


@graded_test(TESTS, "convolution_nn_architecture", BUILD)
def architecture(evidence):
    convolution_layers(evidence.model(BUILD))
    not_compiled(evidence, BUILD, "build_convolution_nn", "train_convolution_nn")


@graded_test(TESTS, "train_convolution_nn_runs", TRAIN)
def runs(evidence):
    return history(evidence, TRAIN)


@graded_test(TESTS, "train_convolution_nn_settings", TRAIN)
def settings(evidence):
    return training_settings(evidence, TRAIN, "part3_cnn", loss="categorical_crossentropy")


@graded_test(TESTS, "convolution_nn_accuracy", BUILD)
def test_accuracy(evidence):
    return accuracy(evidence, BUILD, "part3_cnn")

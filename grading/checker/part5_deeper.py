"""Part 5's graded tests: the deeper network, augmentation, both accuracies, saving and loading."""

from __future__ import annotations

import numpy as np

from cifar10_course import checks
from cifar10_course.acceptance import shorten
from grading.protocol import harvest
from grading.protocol import probes as p
from grading.checker import Failed, graded_test, safe_models
from grading.checker.common import (accuracy, activated, fail_on, history, layer_types, layers, not_compiled,
                                    parameter_count, training_settings)

TESTS: dict = {}
BUILD = p.model("build_deeper_nn")
NETWORK = p.network((32, 32, 3), [
    ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "padding": "same", "activation": "relu"}),
    ("Conv2D", {"filters": 32, "kernel_size": [3, 3], "activation": "relu"}),
    ("MaxPooling2D", {"pool_size": [2, 2]}), ("Dropout", {"rate": 0.25}),
    ("Conv2D", {"filters": 64, "kernel_size": [3, 3], "padding": "same", "activation": "relu"}),
    ("Conv2D", {"filters": 64, "kernel_size": [3, 3], "activation": "relu"}),
    ("MaxPooling2D", {"pool_size": [2, 2]}), ("Dropout", {"rate": 0.25}),
    ("Flatten", {}), ("Dense", {"units": 512, "activation": "relu"}), ("Dropout", {"rate": 0.5}),
    ("Dense", {"units": 10, "activation": "softmax"})])
TRAIN = p.training("train_deeper_nn", "build_deeper_nn", 40, reference=NETWORK)
AUGMENTATION = p.model("build_augmentation")
AUGMENTED = p.model("build_augmented_nn")
# Models the saving tests hand to the student's functions: not the course's networks, and with
# weights drawn afresh at every grading, so that the functions must really write and read them.
SAVED = p.challenge(6, [(5, "tanh"), (3, None)])
LOADED = p.challenge(7, [(4, "relu"), (2, "softmax")])
SAVE = p.saved_files("save_model_files", SAVED)
LOAD = p.loaded_model("load_model_files", LOADED)
PARAMETERS = 1_250_858


@graded_test(TESTS, "deeper_nn_parameters", BUILD)
def parameters(evidence):
    parameter_count(evidence, BUILD, PARAMETERS)


@graded_test(TESTS, "deeper_nn_architecture", BUILD)
def architecture(evidence):
    model = evidence.model(BUILD)
    layer_types(model, ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "Conv2D", "MaxPooling2D",
                        "Dropout", "Flatten", "Dense", "Dropout", "Dense"])
    convolutions = [(layer.filters, tuple(layer.kernel_size), tuple(layer.strides), layer.padding, name)
                    for layer, name in activated(model, "Conv2D")]
    expected = [(32, (3, 3), (1, 1), "same", "relu"), (32, (3, 3), (1, 1), "valid", "relu"),
                (64, (3, 3), (1, 1), "same", "relu"), (64, (3, 3), (1, 1), "valid", "relu")]
    if convolutions != expected:
        raise Failed(f"The Conv2D layers should be (filters, kernel, strides, padding, activation) {expected}; "
                     f"found {convolutions}. Strides of 3 come from the old Conv2D(64, 3, 3) spelling.")
    pooled = [tuple(layer.output.shape[1:]) for layer in layers(model) if type(layer).__name__ == "MaxPooling2D"]
    if pooled != [(15, 15, 32), (6, 6, 64)]:
        raise Failed(f"Pooling should give 15x15x32, then 6x6x64; found {pooled}.")
    rates = [layer.rate for layer in layers(model) if type(layer).__name__ == "Dropout"]
    if rates != [0.25, 0.25, 0.5]:
        raise Failed(f"The dropout rates should be 0.25, 0.25, then 0.5; found {rates}.")
    dense = [(layer.units, name) for layer, name in activated(model, "Dense")]
    if dense != [(512, "relu"), (10, "softmax")]:
        raise Failed(f"The Dense layers should be 512 relu, then 10 softmax; found {dense}.")
    not_compiled(evidence, BUILD, "build_deeper_nn", "train_deeper_nn")


@graded_test(TESTS, "train_deeper_nn_runs", TRAIN)
def runs(evidence):
    return history(evidence, TRAIN, validation=True)


@graded_test(TESTS, "train_deeper_nn_settings", TRAIN)
def settings(evidence):
    return training_settings(evidence, TRAIN, "part5_deeper", loss="categorical_crossentropy", optimizer="RMSprop",
                             learning_rate=0.001, variants=("plain", "augmented"))


@graded_test(TESTS, "augmentation_layers", AUGMENTATION)
def augmentation_layers(evidence):
    augmentation = evidence.model(AUGMENTATION)
    sample, _ = checks.small_training_sample(8, seed=evidence.fresh.integer("augmentation_sample"))
    while_training = np.asarray(augmentation(sample, training=True))
    while_predicting = np.asarray(augmentation(sample, training=False))
    fail_on(checks.array_problems("augmented images", while_training.shape, while_training.dtype, while_training,
                                  shape=sample.shape))
    if np.allclose(while_training, sample):
        raise Failed("In training, the augmentation should change the images, but they came out unchanged.")
    if not np.array_equal(while_predicting, sample):
        raise Failed("When predicting (training=False), the images should come out exactly as they went in.")
    layer_types(augmentation, ["RandomRotation", "RandomTranslation", "RandomZoom", "RandomFlip", "RandomShear"])
    if augmentation.name != "augmentation":
        raise Failed(f"The Sequential should be named 'augmentation', not {augmentation.name!r}.")
    rotation, translation, zoom, flip, shear = layers(augmentation)
    found = {
        "rotation": tuple(np.round(np.abs(rotation.factor), 4)),
        "translation": (float(np.max(np.abs(translation.height_factor))), float(np.max(np.abs(translation.width_factor)))),
        "zoom": float(np.max(np.abs(zoom.height_factor))),
        "flip": flip.mode,
        "shear": (float(np.max(np.abs(shear.x_factor))), float(np.max(np.abs(shear.y_factor)))),
    }
    expected = {"rotation": (round(40 / 360, 4), round(40 / 360, 4)), "translation": (0.2, 0.2), "zoom": 0.2,
                "flip": "horizontal", "shear": (0.2, 0.2)}
    wrong = {name: found[name] for name in expected if found[name] != expected[name]}
    if wrong:
        raise Failed(f"These augmentation settings differ from Task 5.3: found {wrong}; expected {expected}.")


@graded_test(TESTS, "augmented_nn_structure", AUGMENTED)
def augmented_structure(evidence):
    model = evidence.model(AUGMENTED)
    try:
        checks.check_parameter_count(model, PARAMETERS)
    except AssertionError as error:
        raise Failed(str(error)) from None
    parts = [layer.name for layer in layers(model)]
    if len(parts) != 2 or parts[0] != "augmentation":
        raise Failed(f"The model should hold two layers, the augmentation and then the deeper network; found {parts}.")
    inner = layers(model)[1]
    try:
        checks.check_parameter_count(inner, PARAMETERS)
    except AssertionError as error:
        raise Failed(str(error)) from None
    if tuple(model.output_shape) != (None, 10):
        raise Failed(f"The output shape should be (None, 10), not {model.output_shape}.")
    sample, _ = checks.small_training_sample(8, seed=evidence.fresh.integer("augmented_sample"))
    difference = float(np.max(np.abs(np.asarray(model(sample, training=False)) - np.asarray(inner(sample, training=False)))))
    if difference != 0:
        raise Failed(f"When predicting, the model should answer exactly as the network inside it, but differs by {difference}.")
    not_compiled(evidence, AUGMENTED, "build_augmented_nn", "train_deeper_nn")


@graded_test(TESTS, "deeper_nn_accuracy", BUILD)
def plain_accuracy(evidence):
    return accuracy(evidence, BUILD, "part5_deeper", "plain")


@graded_test(TESTS, "augmented_nn_accuracy", AUGMENTED)
def augmented_accuracy(evidence):
    return accuracy(evidence, AUGMENTED, "part5_deeper", "augmented")


def _same_model(model, challenge: dict, fresh: int, weights: list, what: str) -> None:
    """Fail unless ``model`` and ``weights`` are the challenge's architecture and weights (drawn from ``fresh``)."""
    expected = harvest.challenge_model(challenge, fresh)
    found_layers = [(type(layer).__name__, getattr(layer, "units", None)) for layer in layers(model)]
    expected_layers = [(type(layer).__name__, layer.units) for layer in layers(expected)]
    if found_layers != expected_layers:
        raise Failed(f"{what}: the architecture should be {expected_layers} (layer, units), as in the files given, "
                     f"but is {found_layers}.")
    reference = expected.get_weights()
    if len(weights) != len(reference) or any(np.shape(w) != r.shape or not np.array_equal(w, r)
                                             for w, r in zip(weights, reference)):
        raise Failed(f"{what}: the weights differ from those in the weights file.")


@graded_test(TESTS, "save_and_load_round_trip", SAVE, LOAD)
def save_and_load(evidence):
    files = evidence.answer(SAVE)
    if not files.get("json") or not files.get("weights"):
        raise Failed("save_model_files should write both files: the architecture as JSON and the weights.")
    text = evidence.file_answer(files["json"], ".json").read_text(errors="replace")
    try:
        saved = safe_models.build(text, "The architecture file that save_model_files writes")
    except Failed as error:
        raise Failed(f"{error} It should hold the architecture that model.to_json() writes, not "
                     f"{shorten(text, 80)!r}.") from None
    try:
        safe_models.load_weights(saved, evidence.file_answer(files["weights"], ".weights.h5"))
    except Exception:
        raise Failed("The weights file that save_model_files writes should be what model.save_weights writes; "
                     "Keras cannot load it into the saved architecture.") from None
    _same_model(saved, SAVED, evidence.fresh_of(SAVE), saved.get_weights(), "The files that save_model_files writes")

    loaded = evidence.answer(LOAD)
    if not isinstance(loaded.get("json"), str):
        raise Failed(f"load_model_files should return a Keras model, not {shorten(loaded.get('type'), 100)}.")
    model = safe_models.build(loaded["json"], "What load_model_files returns")
    weights = [evidence.decode(w, LOAD) for w in loaded.get("weights") or []]
    weights = [w.values if hasattr(w, "values") else w for w in weights]
    _same_model(model, LOADED, evidence.fresh_of(LOAD), weights, "What load_model_files returns")

"""One acceptance policy (cifar10_course/acceptance.py): every correct Keras 3 formulation passes
the visible checks, Keras 2 habits get advice, and a training function is tested on its own.

Real Keras on tiny models and samples; the same policy's use by the hidden tests is graded end to
end in tests/test_bad_submissions.py (the correct variants of tests/corpus.py).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cifar10_course import acceptance, checks, plots
from cifar10_course.environment import quiet_tensorflow
from cifar10_course.modes import PartBudget
from grading.protocol import harvest
from grading.protocol import probes as p
from grading.checker import part2_mlp, part3_cnn, part4_binary, part5_deeper

keras = quiet_tensorflow()


def functional_mlp():
    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Dense(100, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))


def sequential_mlp(with_input: bool = True):
    first = [keras.Input((32, 32, 3))] if with_input else []
    return keras.Sequential([*first, keras.layers.Flatten(), keras.layers.Dense(100, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def test_a_functional_and_a_sequential_model_have_the_same_layers():
    assert [type(layer).__name__ for layer in functional_mlp().layers][0] == "InputLayer"  # why the policy exists
    for model in (functional_mlp(), sequential_mlp()):
        checks.check_layer_types(model, ["Flatten", "Dense", "Dense"])
        checks.check_parameter_count(model, 308_310)
    with pytest.raises(AssertionError, match="layer 0 .* should be Dense but is Flatten"):
        checks.check_layer_types(functional_mlp(), ["Dense", "Dense", "Dense"])


@pytest.mark.parametrize("metric, optimizer, loss", [
    ("accuracy", "sgd", "categorical_crossentropy"),
    ("acc", "SGD", keras.losses.CategoricalCrossentropy()),
    ("categorical_accuracy", keras.optimizers.SGD(learning_rate=0.01), "categorical_crossentropy"),
    (keras.metrics.CategoricalAccuracy(), keras.optimizers.SGD(), keras.losses.CategoricalCrossentropy()),
])
def test_every_spelling_of_the_settings_passes_the_visible_and_hidden_checks(metric, optimizer, loss):
    optimizer = optimizer.from_config(optimizer.get_config()) if not isinstance(optimizer, str) else optimizer

    def train(model, x, y):
        model.compile(optimizer=optimizer, loss=loss, metrics=[metric])
        return model.fit(x, y, batch_size=32, epochs=2, verbose=0)

    x, y = checks.small_training_sample(32)
    run = checks.record_training(train, functional_mlp(), x, y)
    checks.check_history(run)
    record = checks.training_record(run)
    budget = PartBudget(epochs=2, batch_size=32, min_test_accuracy=None)
    assert checks.training_problems(record, "part2_mlp", budget, "categorical_crossentropy") == []
    figure = plots.plot_learning_curves(run.history)  # the locked training cell plots "accuracy" under any name
    plt.close(figure)


def test_the_validation_accuracy_is_found_under_its_keras_name():
    assert acceptance.accuracy_key(["loss", "val_acc", "acc"]) == "acc"
    assert acceptance.accuracy_key(["loss", "val_acc", "acc"], validation=True) == "val_acc"
    record = {"is_history": True, "history_keys": ["loss", "categorical_accuracy"]}
    assert "no validation accuracy" in checks.history_problems(record, validation=True)[0]
    assert checks.history_problems({**record, "history_keys": ["loss", "acc"]}) == []
    assert "records ['loss', 'mse']" in checks.history_problems({**record, "history_keys": ["loss", "mse"]})[0]


def keras_error(action) -> str:
    try:
        action()
    except Exception as error:
        return str(error)
    raise AssertionError("Keras accepted it")


def test_keras_2_habits_get_advice_from_the_errors_keras_3_really_gives():
    strided = [keras.layers.Conv2D(32, 3, 3, padding="same") for _ in range(4)]
    cases = {
        "learning_rate=0.01": lambda: keras.optimizers.SGD(lr=0.01),
        "Conv2D(32, (3, 3))": lambda: keras.Sequential([keras.Input((32, 32, 3)), *strided[:2],
                                                         keras.layers.MaxPooling2D((2, 2)), *strided[2:],
                                                         keras.layers.MaxPooling2D((2, 2))]),
        "keras.utils.to_categorical": lambda: __import__("keras.utils.np_utils"),
        "no fit_generator": lambda: sequential_mlp().fit_generator,
        "not on global variables": lambda: _fit_on_mismatched_data(),
    }
    for advice, action in cases.items():
        message = keras_error(action)
        assert advice in (acceptance.keras2_hint(message) or ""), (advice, message)
    assert acceptance.keras2_hint("name 'xtrain' is not defined") is None


def _fit_on_mismatched_data():
    model = sequential_mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(np.zeros((10, 32, 32, 3)), np.zeros((12, 10)), verbose=0)


def test_training_on_global_variables_keeps_the_history_and_fails_only_the_settings():
    x_global, y_global = checks.small_training_sample(50)

    def train(model, x, y):
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        return model.fit(x_global, y_global, batch_size=32, epochs=20, verbose=0)

    x, y = checks.small_training_sample(32)
    run = checks.record_training(train, sequential_mlp(), x, y)
    checks.check_history(run)
    with pytest.raises(AssertionError, match="train on the function's arguments, not on global variables"):
        checks.check_training_settings(run, "part2_mlp", "categorical_crossentropy")


def test_a_broken_build_function_does_not_cost_the_training_functions_points():
    def broken_build():
        layers = [keras.layers.Conv2D(32, 3, 3, padding="same") for _ in range(4)]
        return keras.Sequential([keras.Input((32, 32, 3)), *layers[:2], keras.layers.MaxPooling2D(),
                                 *layers[2:], keras.layers.MaxPooling2D()])

    def train(model, x, y):
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        return model.fit(x, y, batch_size=32, epochs=20, verbose=0)

    names = {"build_convolution_nn": broken_build, "train_convolution_nn": train}
    record = harvest._training({**part3_cnn.TRAIN, "fresh": 5}, names, {})
    assert "output size" in record["reference_used"] or "negative" in record["reference_used"]
    assert record["is_history"] and record["fit_calls"][0]["x_given"]
    # Without the task's network to fall back on, the build function's error is the answer.
    with pytest.raises(ValueError):
        harvest._training({**part3_cnn.TRAIN, "reference": None, "fresh": 5}, names, {})


@pytest.mark.parametrize("probe, parameters", [(part2_mlp.TRAIN, 308_310), (part3_cnn.TRAIN, 567_000),
                                               (part4_binary.TRAIN, 566_091), (part5_deeper.TRAIN, 1_250_858)])
def test_the_task_networks_the_training_tests_fall_back_on_are_the_tasks_own(probe, parameters):
    checks.check_parameter_count(harvest._network(probe["reference"]), parameters)
    with pytest.raises(ValueError, match="unknown layer"):
        harvest._network(p.network((4,), [("Lambda", {"function": "print"})]))

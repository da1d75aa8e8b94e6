"""Train once, grade from weights: train_or_load, accuracy, and the training-function check."""

from __future__ import annotations

import numpy as np
import pytest

from cifar10_course import checks, training
from cifar10_course.environment import quiet_tensorflow

keras = quiet_tensorflow()


def build_small(units=4):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])


def train_small(model, x, y):
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  metrics=["accuracy"])
    return model.fit(x, y, batch_size=8, epochs=2, verbose=0)


X = np.random.default_rng(0).random((16, 4)).astype("float32")
Y = np.eye(3, dtype="float32")[np.arange(16) % 3]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    return tmp_path


def test_a_students_run_trains_and_saves(in_tmp):
    trained = training.train_or_load("partx", build_small, train_small, X, Y)
    assert trained.problem is None and trained.history is not None
    assert (in_tmp / "trained_models" / "partx.weights.h5").is_file()


@pytest.mark.parametrize("mode", ["autograde", "validate"])
def test_grading_loads_the_saved_weights_without_training(in_tmp, monkeypatch, mode):
    saved = training.train_or_load("partx", build_small, train_small, X, Y)
    monkeypatch.setenv("NBGRADER_EXECUTION", mode)

    def must_not_train(*args):
        raise AssertionError("training ran while grading")

    loaded = training.train_or_load("partx", build_small, must_not_train, X, Y)
    assert loaded.problem is None and loaded.history is None
    for mine, theirs in zip(loaded.model.get_weights(), saved.model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def grading_problem(monkeypatch, build=build_small):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    trained = training.train_or_load("partx", build, train_small, X, Y)
    with pytest.raises(AssertionError) as caught:
        checks.check_test_accuracy(trained, X, Y)
    return str(caught.value)


def test_missing_weights_fail_the_accuracy_check_with_advice(in_tmp, monkeypatch):
    assert "No trained weights at trained_models/partx.weights.h5" in grading_problem(monkeypatch)


def test_corrupt_weights_are_reported(in_tmp, monkeypatch):
    (in_tmp / "trained_models").mkdir()
    (in_tmp / "trained_models" / "partx.weights.h5").write_bytes(b"not a weights file")
    assert "cannot be read" in grading_problem(monkeypatch)


def test_weights_of_another_architecture_are_reported(in_tmp, monkeypatch):
    training.train_or_load("partx", build_small, train_small, X, Y)
    assert "do not fit the model" in grading_problem(monkeypatch, build=lambda: build_small(units=5))


def test_a_build_function_that_raises_is_reported(in_tmp, monkeypatch):
    def broken():
        raise NotImplementedError()

    assert "broken() failed" in grading_problem(monkeypatch, build=broken)


def test_accuracy_counts_categorical_and_binary_predictions():
    class Fixed:
        def __init__(self, scores):
            self.scores = np.asarray(scores, dtype="float32")

        def predict(self, x, **kwargs):
            return self.scores

    ten = Fixed([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    assert training.accuracy(ten, np.zeros((4, 1)), np.eye(3)[[0, 1, 2, 2]]) == 0.75
    assert training.accuracy(ten, np.ones((4, 1)), np.array([0, 1, 2, 0])) == 1.0
    binary = Fixed([[0.9], [0.2], [0.51], [0.49]])
    assert training.accuracy(binary, np.zeros((4, 1)), np.array([1, 0, 0, 0])) == 0.75


def test_predictions_are_reused_only_for_the_same_model_and_images():
    calls = []

    class Counting:
        def predict(self, x, **kwargs):
            calls.append(len(x))
            return np.tile([[1.0, 0.0]], (len(x), 1))

    model, x = Counting(), np.arange(8.0).reshape(4, 2)
    training.predict(model, x)
    training.predict(model, x.copy())
    assert len(calls) == 1
    training.predict(model, x + 1)
    training.predict(Counting(), x)
    assert len(calls) == 3


def test_accuracy_below_the_threshold_names_it(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    always_class_0 = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax",
                                       kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([5.0, 0, 0]))])
    trained = training.TrainedModel("part2_mlp", model=always_class_0)
    labels = 1 + np.arange(16) % 2  # classes 1 and 2 only: accuracy 0
    with pytest.raises(AssertionError, match="Test accuracy 0.0000 is not above the threshold 0.20 for part2_mlp in fast mode"):
        checks.check_test_accuracy(trained, X, labels)


def train_by_the_book(model, x, y):
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  metrics=["accuracy"])
    return model.fit(x, y, batch_size=8, epochs=2, verbose=0)


GLOBAL_Y = np.eye(3, dtype="float32")[np.arange(40) % 3]
GLOBAL_X = np.zeros((40, 4), dtype="float32")


def train_on_globals(model, x, y):
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  metrics=["accuracy"])
    return model.fit(GLOBAL_X, GLOBAL_Y, batch_size=8, epochs=2, verbose=0)


def train_keras2_style(model, x, y):
    model.compile(loss=keras.losses.CategoricalCrossentropy(), optimizer="adam", metrics=["mse"])
    return model.fit(x, y, epochs=5, verbose=0)


def settings_problem(train):
    run = checks.record_training(train, build_small(), X, Y)
    with pytest.raises(AssertionError) as caught:
        checks.check_training_settings(run, "part2_mlp", loss="categorical_crossentropy")
    return str(caught.value)


def test_training_function_by_the_book_passes(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")  # batches of 8, 2 epochs
    run = checks.record_training(train_by_the_book, build_small(), X, Y)
    checks.check_history(run)
    checks.check_training_settings(run, "part2_mlp", loss="categorical_crossentropy")


def test_a_function_that_returns_no_history_is_told_so():
    def forgets_to_return(model, x, y):
        train_by_the_book(model, x, y)

    with pytest.raises(AssertionError, match="should return what model.fit returns"):
        checks.check_history(checks.record_training(forgets_to_return, build_small(), X, Y))


def test_training_on_global_variables_fails(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    message = settings_problem(train_on_globals)
    assert "model.fit got x=(40, 4), not the (16, 4) array" in message and "not on global variables" in message


def test_wrong_settings_are_each_named(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    message = settings_problem(train_keras2_style)
    assert "batch_size should be 8 but is 32" in message
    assert "epochs should be 2" in message and "but is 5" in message
    assert "optimizer should be SGD but is adam" in message
    assert "metrics should include 'accuracy'" in message
    assert "loss should be" not in message  # CategoricalCrossentropy() is the right loss


def test_recorded_training_runs_one_epoch_but_records_the_epochs_asked_for(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    run = checks.record_training(train_by_the_book, build_small(), X, Y)
    assert run.fit_calls[0]["epochs"] == 2 and run.fit_calls[0]["batch_size"] == 8
    assert len(run.history.history["loss"]) == 1

    def twenty_epochs_positionally(model, x, y):
        model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
        return model.fit(x, y, 8, 20, 0)

    message = settings_problem(twenty_epochs_positionally)
    assert "epochs" in message and "20" in message



def test_validation_split_is_checked_against_the_budget(monkeypatch):
    """Part 5 holds out 20% for validation; Parts 2-4 hold out nothing."""
    monkeypatch.setenv("COURSE_MODE", "fast")  # part5_deeper: batches of 16, 2 epochs, 20% held out

    def train_rmsprop(split):
        def train(model, x, y):
            model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=0.001),
                          metrics=["accuracy"])
            return model.fit(x, y, batch_size=16, epochs=2, validation_split=split, verbose=0)
        return train

    run = checks.record_training(train_rmsprop(0.2), build_small(), X, Y)
    checks.check_training_settings(run, "part5_deeper", loss="categorical_crossentropy",
                                   optimizer="RMSprop", learning_rate=0.001)
    assert "val_loss" in run.history.history
    run = checks.record_training(train_rmsprop(0.0), build_small(), X, Y)
    with pytest.raises(AssertionError, match=r"validation_split should be 0.2 .* but is 0.0"):
        checks.check_training_settings(run, "part5_deeper", loss="categorical_crossentropy",
                                       optimizer="RMSprop", learning_rate=0.001)


def test_several_models_of_one_part_keep_separate_weights(in_tmp):
    plain = training.train_or_load("part5_deeper", build_small, train_small, X, Y, variant="plain")
    augmented = training.train_or_load("part5_deeper", build_small, train_small, X, Y, variant="augmented")
    assert plain.name == "part5_deeper/plain" and augmented.name == "part5_deeper/augmented"
    saved = sorted(p.name for p in (in_tmp / "trained_models").iterdir())
    assert saved == ["part5_deeper_augmented.weights.h5", "part5_deeper_plain.weights.h5"]


def test_every_model_the_notebooks_train_is_protected_at_autograde():
    """Each train_or_load call of a notebook names a model of TRAINED_MODELS, whose weights file
    nbgrader_config.py keeps from being overwritten."""
    import ast

    import nbformat

    from grading.course import ASSIGNMENT, NOTEBOOKS, REPO

    found = set()
    for name in NOTEBOOKS:
        notebook = nbformat.read(REPO / "source" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "train_or_load":
                    variant = next((k.value.value for k in node.keywords if k.arg == "variant"), None)
                    found.add((node.args[0].value, variant))
    assert found == set(training.TRAINED_MODELS)
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(REPO)).load_config()  # as nbgrader loads it
    protected = set(config.Autograde.exclude_overwriting[ASSIGNMENT])
    assert protected == {str(training.weights_path(part, variant)) for part, variant in found}


def test_the_accuracy_check_uses_the_threshold_of_the_variant(monkeypatch):
    """Full mode: 0.5 is above the augmented network's 0.45 and below the plain one's 0.65."""
    monkeypatch.setenv("COURSE_MODE", "full")

    class HalfRight:
        def predict(self, x, **kwargs):
            return np.eye(3, dtype="float32")[np.zeros(len(x), dtype=int)]

    labels = np.array([0, 1] * 8)  # class 0 is right half of the time
    model = HalfRight()
    augmented = training.TrainedModel("part5_deeper", model=model, variant="augmented")
    assert checks.check_test_accuracy(augmented, X, labels) == 0.5
    with pytest.raises(AssertionError, match="threshold 0.65 for part5_deeper/plain"):
        checks.check_test_accuracy(training.TrainedModel("part5_deeper", model=model, variant="plain"), X + 1, labels)


# ---------------------------------------------------------------------------------------------
# The accuracy tests measure the saved weights afresh: nothing a notebook cell left behind counts


def build_flat(outputs=10, activation="softmax"):
    return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(outputs, activation=activation)])


@pytest.fixture
def course_folder(in_tmp, monkeypatch, fixture_folder):
    """A notebook folder, full mode, and the small CIFAR-10 copy (20 test images) as the data set."""
    from cifar10_course import data

    monkeypatch.setenv("COURSE_MODE", "full")
    monkeypatch.setenv(data.PATH_VARIABLE, str(fixture_folder))
    return in_tmp


def save_weights_that_answer(part, targets, variant=None, outputs=10, activation="softmax"):
    """Save weights of build_flat with which it answers ``targets`` (scores per test image)."""
    from cifar10_course.data import load_course_test_data

    x_test, _ = load_course_test_data()
    flat = x_test.reshape(len(x_test), -1).astype("float64")
    kernel = np.linalg.pinv(flat) @ np.asarray(targets, dtype="float64")  # 20 images, 3072 pixels: exact
    model = build_flat(outputs, activation)
    model.layers[-1].set_weights([kernel.astype("float32"), np.zeros(outputs, "float32")])
    path = training.weights_path(part, variant)
    path.parent.mkdir(exist_ok=True)
    with training._keras_numpy_noise_silenced():
        model.save_weights(path)


def test_saved_weights_are_measured_on_test_data_loaded_by_the_check(course_folder, capsys):
    from cifar10_course.data import load_course_test_data

    _, y_test = load_course_test_data()
    save_weights_that_answer("part2_mlp", 20 * y_test - 10)  # logits: +10 for the right class
    assert checks.check_saved_model_accuracy("part2_mlp", build_flat) is None  # never a number
    assert "Test accuracy: 1.0000 on 20 test images (part2_mlp: build_flat() with the weights in" in capsys.readouterr().out
    classes, predicted = checks.saved_model_predictions("part2_mlp", build_flat)
    np.testing.assert_array_equal(classes, y_test.argmax(axis=1))
    np.testing.assert_array_equal(predicted, classes)

    save_weights_that_answer("part2_mlp", np.roll(20 * y_test - 10, 1, axis=1))  # always one class off
    with pytest.raises(AssertionError, match="Test accuracy 0.0000 is not above the threshold 0.40 for part2_mlp"):
        checks.check_saved_model_accuracy("part2_mlp", build_flat)


def test_the_binary_part_is_measured_on_animal_or_vehicle(course_folder):
    from cifar10_course.data import load_course_test_data

    _, y_test = load_course_test_data()
    animal = np.isin(y_test.argmax(axis=1), checks.ANIMAL_CLASSES)
    build_binary = lambda: build_flat(1, "sigmoid")  # noqa: E731
    save_weights_that_answer("part4_binary", np.where(animal, 10.0, -10.0)[:, None], outputs=1, activation="sigmoid")
    checks.check_saved_model_accuracy("part4_binary", build_binary)
    save_weights_that_answer("part4_binary", np.where(animal, -10.0, 10.0)[:, None], outputs=1, activation="sigmoid")
    with pytest.raises(AssertionError, match="Test accuracy 0.0000 is not above the threshold 0.85"):
        checks.check_saved_model_accuracy("part4_binary", build_binary)


def test_each_variant_is_measured_from_its_own_weights_file(course_folder):
    from cifar10_course.data import load_course_test_data

    _, y_test = load_course_test_data()
    save_weights_that_answer("part5_deeper", 20 * y_test - 10, variant="augmented")
    checks.check_saved_model_accuracy("part5_deeper", build_flat, variant="augmented")
    with pytest.raises(AssertionError, match="No trained weights at trained_models/part5_deeper_plain.weights.h5"):
        checks.check_saved_model_accuracy("part5_deeper", build_flat, variant="plain")


def perfect_answers():
    from cifar10_course.data import load_course_test_data

    _, y_test = load_course_test_data()
    return y_test


def test_an_object_that_predicts_the_labels_gets_no_accuracy_points(course_folder):
    """The old test trusted whatever a cell had put in `trained`: a look-up of the test labels passed."""
    class LooksUpTheLabels:
        def load_weights(self, path):
            pass

        def predict(self, x, **kwargs):
            return perfect_answers()

    fake = training.TrainedModel("part2_mlp", model=LooksUpTheLabels())
    from cifar10_course.data import load_course_test_data

    assert checks.check_test_accuracy(fake, *load_course_test_data()) == 1.0  # the old check is fooled
    (course_folder / "trained_models").mkdir()
    (course_folder / "trained_models" / "part2_mlp.weights.h5").write_bytes(b"")
    with pytest.raises(AssertionError, match="What LooksUpTheLabels\\(\\) returns should be a plain Keras model"):
        checks.check_saved_model_accuracy("part2_mlp", LooksUpTheLabels)


def test_a_keras_model_with_a_predict_of_its_own_gets_no_accuracy_points(course_folder):
    from cifar10_course.data import load_course_test_data

    _, y_test = load_course_test_data()
    save_weights_that_answer("part2_mlp", np.zeros_like(y_test))  # an untrained network

    class Cheating(keras.Sequential):
        def predict(self, x, **kwargs):
            return perfect_answers()

    def build_cheating():
        return Cheating([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])

    def build_patched():
        model = build_flat()
        model.predict = lambda x, **kwargs: perfect_answers()
        return model

    def build_with_compiled_answers():
        model = build_flat()
        model.predict_function = lambda iterator: perfect_answers()
        return model

    for build, message in ((build_cheating, "it is a Cheating"), (build_patched, "its method predict"),
                           (build_with_compiled_answers, "Test accuracy 0.1000 is not above")):
        with pytest.raises(AssertionError, match=message):
            checks.check_saved_model_accuracy("part2_mlp", build)


def test_a_rebuilt_copy_reuses_the_predictions_of_the_accuracy_check(course_folder):
    from cifar10_course.data import load_course_test_data

    x_test, y_test = load_course_test_data()
    save_weights_that_answer("part2_mlp", 20 * y_test - 10)
    checks.check_saved_model_accuracy("part2_mlp", build_flat)
    same = training.load_trained_model("part2_mlp", build_flat).model  # another object, same weights
    kept = training.remembered(same, x_test)
    assert kept is not None and training.predict(same, x_test) is kept
    assert training.remembered(same, x_test + 0.5) is None  # other images
    assert training.accuracy(same, x_test, y_test) == 1.0
    assert training.predict(build_flat(), x_test) is not kept  # other weights: predicted again
    for _ in range(training.KEPT_PREDICTIONS):  # a few more models' predictions are kept beside them
        training.predict(build_flat(), x_test)
    assert training.remembered(same, x_test) is None  # the oldest make way


def test_the_settings_check_refuses_a_model_that_lies_about_its_compile_settings(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")

    def compiles_adam_but_says_sgd(model, x, y):
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        config = model.get_compile_config()
        model.get_compile_config = lambda: {**config, "optimizer": "SGD"}
        return model.fit(x, y, batch_size=8, epochs=2, verbose=0)

    run = checks.record_training(compiles_adam_but_says_sgd, build_small(), X, Y)
    with pytest.raises(AssertionError, match="its method get_compile_config is not Keras's own"):
        checks.check_training_settings(run, "part2_mlp", loss="categorical_crossentropy")
    with pytest.raises(AssertionError, match="plain Keras model"):
        checks.record_training(train_by_the_book, object(), X, Y)
    assert "fit" not in vars(run.model)  # the recording fit is removed again

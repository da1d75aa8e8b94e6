"""The notebook checks: they pass right answers and explain wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from cifar10_course import checks
from cifar10_course.checks import check_array, check_layer_types, check_parameter_count
from cifar10_course.environment import quiet_tensorflow

keras = quiet_tensorflow()

EXPECTED = 308_310  # 3072 * 100 + 100 weights and biases, then 100 * 10 + 10.


def dense_model(hidden: int = 100):
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


# ---------------------------------------------------------------------------------------------
# check_parameter_count


def test_parameter_count_passes_the_right_model():
    model = dense_model()
    assert model.count_params() == EXPECTED
    check_parameter_count(model, EXPECTED)


def test_parameter_count_lists_the_layers_of_a_wrong_model():
    model = dense_model(hidden=101)
    with pytest.raises(AssertionError) as error:
        check_parameter_count(model, EXPECTED)
    message = str(error.value)
    found = model.count_params()
    for layer in model.layers:
        assert layer.name in message
        assert type(layer).__name__ in message
        assert f"{layer.count_params():,}" in message
    assert "(None, 101)" in message  # The output shape of the hidden layer.
    assert "308,310" in message
    assert f"{found:,}" in message
    assert f"+{found - EXPECTED:,}" in message


def test_parameter_count_counts_non_trainable_weights_like_keras():
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(4),
        keras.layers.BatchNormalization(),  # 2 x 4 trainable, 2 x 4 non-trainable.
        keras.layers.Dropout(0.5),  # A seed generator, but no weights.
    ])
    assert model.count_params() == 36 + 16
    check_parameter_count(model, 52)
    with pytest.raises(AssertionError, match="should have 44 parameters but has 52"):
        check_parameter_count(model, 44)


def test_redefining_count_params_does_not_make_a_wrong_model_pass(monkeypatch):
    model = dense_model(hidden=101)
    monkeypatch.setattr(keras.Model, "count_params", lambda self: EXPECTED)
    assert model.count_params() == EXPECTED  # The patch fools Keras...
    with pytest.raises(AssertionError, match="308,310"):  # ...but not the check.
        check_parameter_count(model, EXPECTED)


def test_parameter_count_of_a_model_without_input_says_so():
    model = keras.Sequential([keras.layers.Dense(10)])
    with pytest.raises(AssertionError, match="no weights yet"):
        check_parameter_count(model, 10)


# ---------------------------------------------------------------------------------------------
# check_array


def test_array_that_matches_passes():
    xtrain = np.zeros((5, 32, 32, 3), dtype=np.float32)
    check_array("xtrain", xtrain, shape=(5, 32, 32, 3), dtype="float32", value_range=(0, 1))
    check_array("xtrain", xtrain, shape=(None, 32, 32, 3))
    check_array("xtrain", xtrain)


def test_array_with_wrong_shape_says_both_shapes():
    xtrain = np.zeros((7, 3072), dtype=np.uint8)
    with pytest.raises(AssertionError) as error:
        check_array("xtrain", xtrain, shape=(7, 32, 32, 3))
    assert str(error.value) == "xtrain should have shape (7, 32, 32, 3) but has shape (7, 3072)"


@pytest.mark.parametrize("shape", [(None, 32, 32), (None, 32, 32, 3, 1), (None, 32, 31, 3)])
def test_none_is_any_size_but_rank_and_other_sizes_still_count(shape):
    with pytest.raises(AssertionError, match=r"None means any size\) but has shape \(2, 32, 32, 3\)"):
        check_array("x", np.zeros((2, 32, 32, 3)), shape=shape)


def test_array_with_wrong_dtype_says_both_and_how_to_convert():
    with pytest.raises(AssertionError) as error:
        check_array("xtrain", np.zeros((2, 2), dtype=np.uint8), dtype=np.float32)
    assert "xtrain should have dtype float32 but has dtype uint8" in str(error.value)
    assert "xtrain.astype('float32')" in str(error.value)


def test_array_out_of_range_says_the_range_found():
    xtrain = np.array([[0, 128], [255, 3]], dtype=np.uint8)
    with pytest.raises(AssertionError) as error:
        check_array("xtrain", xtrain, value_range=(0, 1))
    message = str(error.value)
    assert "xtrain should have values between 0 and 1 but has values between 0 and 255" in message
    assert "divide by 255" in message
    check_array("xtrain", xtrain, value_range=(0, 255))  # Both ends are allowed.
    with pytest.raises(AssertionError, match="between -1 and 1 but has values between -2.5 and"):
        check_array("x", np.array([-2.5, 0.0]), value_range=(-1, 1))
    with pytest.raises(AssertionError, match="holds NaN"):
        check_array("x", np.array([0.5, np.nan]), value_range=(0, 1))


def test_array_reports_every_problem_at_once():
    with pytest.raises(AssertionError) as error:
        check_array("x", np.full((2, 3), 9, dtype=np.int64), shape=(2, 2), dtype="float32",
                    value_range=(0, 1))
    assert len(str(error.value).splitlines()) == 3


@pytest.mark.parametrize("given, kind", [([1, 2, 3], "a list"), (3, "an int"), (None, "a NoneType")])
def test_something_that_is_not_an_array_says_what_it_is(given, kind):
    with pytest.raises(AssertionError) as error:
        check_array("xtrain", given, shape=(3,))
    assert str(error.value).startswith(f"xtrain should be a NumPy array but is {kind}")


# ---------------------------------------------------------------------------------------------
# check_layer_types


def test_layer_types_that_match_pass():
    check_layer_types(dense_model(), ["Flatten", "Dense", "Dense"])


def test_layer_type_mismatch_names_the_position():
    model = dense_model()
    with pytest.raises(AssertionError) as error:
        check_layer_types(model, ["Flatten", "Conv2D", "Dense"])
    message = str(error.value)
    assert "['Flatten', 'Conv2D', 'Dense']" in message
    assert "['Flatten', 'Dense', 'Dense']" in message
    assert "position 1" in message
    assert f"layer 1 ('{model.layers[1].name}') should be Conv2D but is Dense" in message


def test_layer_count_mismatch_names_the_position():
    with pytest.raises(AssertionError, match="position 3 .* still expected: \\['Dense'\\]"):
        check_layer_types(dense_model(), ["Flatten", "Dense", "Dense", "Dense"])
    with pytest.raises(AssertionError, match="position 2 .* goes on with \\['Dense'\\]"):
        check_layer_types(dense_model(), ["Flatten", "Dense"])


def test_largest_difference_finds_the_one_changed_value_in_any_chunk():
    expected = np.linspace(0, 1, 23 * 4, dtype=np.float32).reshape(23, 4)
    assert checks.largest_difference(expected.copy(), expected, rows_at_once=5) == 0.0
    changed = expected.copy()
    changed[21, 3] += 0.25  # in the last, short chunk
    assert checks.largest_difference(changed, expected, rows_at_once=5) == pytest.approx(0.25)
    as_float64 = expected.astype(np.float64)
    as_float64[2, 1] = np.nan
    assert checks.largest_difference(as_float64, expected, rows_at_once=5) == float("inf")


def test_largest_difference_does_not_wrap_around_in_uint8():
    assert checks.largest_difference(np.array([0], np.uint8), np.array([255], np.uint8)) == 255.0


def test_largest_difference_refuses_different_shapes():
    with pytest.raises(ValueError, match=r"\(2,\) and \(3,\)"):
        checks.largest_difference(np.zeros(2), np.zeros(3))


# ---------------------------------------------------------------------------------------------
# Plain Keras models only: a student's cell can hand the checks any object


class LooksRight:
    """Not a Keras model, but answers like the right one: every attribute the checks used to read."""

    def __init__(self):
        real = dense_model()
        self.layers, self.weights, self.name = real.layers, real.weights, "fake"

    def count_params(self):
        return EXPECTED

    def predict(self, x, **kwargs):
        return np.eye(10, dtype="float32")[np.zeros(len(x), dtype=int)]


class CountsWhatItIsTold(keras.Sequential):
    """A real Keras model of the wrong size that reports the right size."""

    def count_params(self):
        return EXPECTED

    @property
    def weights(self):
        return dense_model().weights


def small_wrong_model():
    return CountsWhatItIsTold([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])


def test_an_object_that_only_looks_like_a_model_is_rejected():
    with pytest.raises(AssertionError, match="should be a plain Keras model, but it is a LooksRight"):
        check_parameter_count(LooksRight(), EXPECTED)
    with pytest.raises(AssertionError, match="plain Keras model"):
        check_layer_types(LooksRight(), ["Flatten", "Dense", "Dense"])


def test_a_keras_subclass_that_reports_the_right_count_is_rejected():
    model = small_wrong_model()
    assert model.count_params() == EXPECTED and sum(int(np.prod(w.shape)) for w in model.weights) == EXPECTED
    with pytest.raises(AssertionError) as error:
        check_parameter_count(model, EXPECTED)
    message = str(error.value)
    assert "CountsWhatItIsTold" in message and "keras.Sequential" in message and "plain Keras model" in message


def test_counts_are_right_when_count_params_is_patched_everywhere(monkeypatch):
    model = dense_model(hidden=101)
    monkeypatch.setattr(keras.Model, "count_params", lambda self: EXPECTED)
    monkeypatch.setattr(keras.layers.Layer, "count_params", lambda self: 0)
    with pytest.raises(AssertionError) as error:
        check_parameter_count(model, EXPECTED)
    message = str(error.value)
    assert "should have 308,310 parameters but has 311,393" in message
    assert f"{3072 * 101 + 101:,}" in message  # per layer, counted from the weights too
    check_parameter_count(dense_model(), EXPECTED)  # the right model still passes


def test_a_genuine_model_passes_in_every_shape_the_course_uses():
    functional_input = keras.Input((32, 32, 3))
    functional = keras.Model(functional_input, keras.layers.Dense(10)(keras.layers.Flatten()(functional_input)))
    nested = keras.Sequential([keras.Input((32, 32, 3)),
                               keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation"),
                               dense_model()])
    for model in (dense_model(), functional, nested):
        checks.check_keras_model(model)
    nested.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    checks.check_keras_model(nested)


def test_a_layer_of_ones_own_inside_a_model_is_rejected():
    class Memorising(keras.layers.Dense):
        pass

    model = keras.Sequential([keras.Input((4,)), keras.Sequential([Memorising(3)])])
    with pytest.raises(AssertionError, match="layer 'memorising.*Memorising defined in"):
        checks.check_keras_model(model)
    with pytest.raises(AssertionError, match="Lambda layer"):
        checks.check_keras_model(keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 0)]))


def test_a_method_replaced_on_the_model_a_layer_or_keras_itself_is_rejected(monkeypatch):
    model = dense_model()
    model.predict = lambda x, **kwargs: np.zeros((len(x), 10))
    with pytest.raises(AssertionError, match="its method predict is not Keras's own"):
        checks.check_keras_model(model)

    model = dense_model()
    model.layers[1].call = lambda inputs: inputs
    with pytest.raises(AssertionError, match="method call of its layer"):
        checks.check_keras_model(model)

    monkeypatch.setattr(keras.Model, "predict", lambda self, x, **kwargs: np.zeros((len(x), 10)))
    with pytest.raises(AssertionError, match="its method predict is not Keras's own"):
        checks.check_keras_model(dense_model())


def test_a_look_alike_class_that_claims_to_be_keras_is_rejected():
    Fake = type("Sequential", (keras.Sequential,), {"__module__": "keras.src.models.sequential"})
    with pytest.raises(AssertionError, match="plain Keras model"):
        checks.check_keras_model(Fake([keras.Input((4,)), keras.layers.Dense(2)]))


def test_small_training_sample_is_made_in_the_test():
    x, y = checks.small_training_sample(40)
    assert x.shape == (40, 32, 32, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (40, 10) and set(np.argmax(y, axis=1)) == set(range(10))
    x_binary, y_binary = checks.small_training_sample(32, binary=True)
    assert x_binary.shape == (32, 32, 32, 3) and y_binary.dtype == np.int32 and set(y_binary) == {0, 1}
    np.testing.assert_array_equal(checks.small_training_sample(8)[0], checks.small_training_sample(8)[0])


def test_recording_augment_adds_1000_and_records_the_training_flag():
    recorder = checks.RecordingAugment()
    out = np.asarray(recorder(np.zeros((2, 2, 2, 3)), training=True))
    assert out.dtype == np.float32 and np.all(out == 1000)
    recorder(np.zeros((1, 2, 2, 3)))
    assert recorder.training_flags == [True, False]


# ---------------------------------------------------------------------------------------------
# What a student sees: a failed check's message alone, a passed test's summary


def test_a_failed_check_shows_its_message_alone():
    """IPython (and nbgrader's Validate dialog after it) shows an exception with _render_traceback_
    by the lines it returns: the check's message, not the helpers' frames above it."""
    with pytest.raises(checks.CheckFailed) as failure:
        check_array("xtrain", np.zeros((3, 2)), shape=(4, 2))
    assert isinstance(failure.value, AssertionError)  # what the grader's checker and pytest catch
    assert failure.value._render_traceback_() == [
        "\x1b[0;31mTest failed\x1b[0m: xtrain should have shape (4, 2) but has shape (3, 2)"]


def test_every_course_check_raises_check_failed():
    """A bare AssertionError in the helpers would show a traceback again."""
    import inspect
    from cifar10_course import training

    for module in (checks, training):
        source = inspect.getsource(module)
        assert "raise AssertionError" not in source, module.__name__


def test_a_passed_test_says_what_it_checked_and_what_grading_adds(capsys):
    checks.report_passed("the shapes")
    checks.report_passed("build_model() runs", "its layers")
    assert capsys.readouterr().out.splitlines() == [
        "Passed: the shapes.", "Passed: build_model() runs.", "Checked when your notebook is graded: its layers."]

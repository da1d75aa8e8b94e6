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

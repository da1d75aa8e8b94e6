"""The run-mode table: one source of budgets and thresholds, and no silent default."""

from __future__ import annotations

import pytest

from cifar10_course import modes


def test_default_is_full(monkeypatch):
    monkeypatch.delenv(modes.MODE_VARIABLE, raising=False)
    assert modes.current_mode().name == "full"


@pytest.mark.parametrize("value", ["fast", "FAST", " fast "])
def test_mode_is_read_from_the_environment(monkeypatch, value):
    monkeypatch.setenv(modes.MODE_VARIABLE, value)
    assert modes.current_mode().name == "fast"


@pytest.mark.parametrize("value", ["quick", "ful", "test"])
def test_unknown_mode_is_an_error_that_lists_the_choices(monkeypatch, value):
    monkeypatch.setenv(modes.MODE_VARIABLE, value)
    with pytest.raises(ValueError) as caught:
        modes.current_mode()
    assert repr(value) in str(caught.value) and "fast, full" in str(caught.value)


def test_every_mode_budgets_the_same_parts():
    parts = {name: set(mode.parts) for name, mode in modes.MODES.items()}
    assert parts["fast"] == parts["full"]
    assert {"part2_mlp", "part3_cnn", "part4_binary", "part5_deeper", "part6_bias"} <= parts["full"]


def test_full_mode_keeps_the_original_training_budgets():
    """The original assignment: all data, 20 epochs with batches of 32 for Parts 2-4; Part 5
    batches of 128 with 20% of the training images held out."""
    full = modes.MODES["full"]
    assert full.train_per_class is None and full.test_per_class is None
    for part in ("part2_mlp", "part3_cnn", "part4_binary"):
        assert (full.parts[part].epochs, full.parts[part].batch_size) == (20, 32)
        assert full.parts[part].validation_split == 0
    deeper = full.parts["part5_deeper"]
    assert (deeper.epochs, deeper.batch_size, deeper.validation_split) == (20, 128, 0.2)


def test_fast_mode_is_small_and_its_thresholds_beat_chance():
    fast = modes.MODES["fast"]
    assert fast.train_per_class * 10 <= 5000 and fast.test_per_class * 10 <= 2000
    chance = {"part2_mlp": 0.10, "part3_cnn": 0.10, "part4_binary": 0.60,  # Part 4: always "animal"
              "part5_deeper": 0.10}
    for part, budget in fast.parts.items():
        assert 1 <= budget.epochs <= 4  # the CNN needs four (modes.py), everything else two or three
        if part in chance:
            assert budget.min_test_accuracy > chance[part]
        else:
            assert budget.min_test_accuracy is None, f"{part} has a threshold but no chance level here"


def test_thresholds_are_stricter_in_full_mode():
    from cifar10_course.training import TRAINED_MODELS

    for part, variant in TRAINED_MODELS:
        full, fast = modes.MODES["full"].parts[part], modes.MODES["fast"].parts[part]
        if full.threshold(variant) is not None:
            assert full.threshold(variant) > fast.threshold(variant), (part, variant)


def test_a_variant_may_have_its_own_threshold():
    deeper = modes.MODES["full"].parts["part5_deeper"]
    assert deeper.threshold("augmented") < deeper.threshold("plain") == deeper.threshold() == deeper.min_test_accuracy


def test_budget_lookup(monkeypatch):
    monkeypatch.setenv(modes.MODE_VARIABLE, "fast")
    assert modes.budget("part3_cnn") is modes.MODES["fast"].parts["part3_cnn"]
    assert modes.budget("part3_cnn", mode="full").epochs == 20
    with pytest.raises(KeyError, match="known parts"):
        modes.budget("part9_gan")

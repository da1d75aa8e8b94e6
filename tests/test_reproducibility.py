"""seed_everything: the same seed gives the same random numbers and the same initial weights."""

from __future__ import annotations

import random

import numpy as np
import pytest

from cifar10_course.environment import quiet_tensorflow
from cifar10_course.reproducibility import seed_everything

keras = quiet_tensorflow()


def draws(seed: int):
    """What a notebook would draw right after seeding: Python, NumPy, fresh Keras weights."""
    assert seed_everything(seed) == seed
    python_draw, numpy_draw = random.random(), np.random.rand()
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(4, activation="relu"),
        keras.layers.Dense(3),
    ])
    return python_draw, numpy_draw, model.get_weights()


def assert_same_weights(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_same_seed_gives_the_same_draws_and_weights():
    python_a, numpy_a, weights_a = draws(3)
    python_b, numpy_b, weights_b = draws(3)
    assert python_a == python_b
    assert numpy_a == numpy_b
    assert_same_weights(weights_a, weights_b)


def test_another_seed_gives_other_draws_and_weights():
    python_a, numpy_a, weights_a = draws(3)
    python_b, numpy_b, weights_b = draws(4)
    assert python_a != python_b
    assert numpy_a != numpy_b
    assert not np.array_equal(weights_a[0], weights_b[0])  # The kernels are random; biases are 0.


def test_deterministic_ops_turns_on_op_determinism_only_when_asked(monkeypatch):
    import tensorflow as tf

    calls = []
    # Recorded, not run: op determinism cannot be turned off again in this test process.
    monkeypatch.setattr(tf.config.experimental, "enable_op_determinism", lambda: calls.append(1))
    seed_everything(0)
    assert calls == []
    assert seed_everything(5, deterministic_ops=True) == 5
    assert calls == [1]


def test_a_seed_that_is_not_an_int_is_refused():
    with pytest.raises(ValueError, match="integer"):
        seed_everything(1.5)


def test_without_a_seed_each_student_gets_a_repeatable_seed_of_their_own(monkeypatch):
    monkeypatch.delenv("COURSE_SEED", raising=False)
    seeds = {}
    for user in ("demo_alice", "demo_bob", "demo_alice"):
        monkeypatch.setenv("JUPYTERHUB_USER", user)
        seeds.setdefault(user, set()).add(seed_everything())
    assert len(seeds["demo_alice"]) == 1 and seeds["demo_alice"] != seeds["demo_bob"]
    monkeypatch.setenv("COURSE_SEED", "7")
    assert seed_everything() == 7


def test_students_who_share_a_login_name_still_get_seeds_of_their_own(monkeypatch, tmp_path):
    """On Colab every student is root, in Jupyter's Docker images jovyan: each copy of the
    assignment draws its own seed once and keeps it beside the notebooks. A class of 30 honest
    students on one machine under one login name: 30 seeds, each repeatable."""
    from cifar10_course.reproducibility import SEED_FILE, personal_seed

    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    folders = [tmp_path / f"student{number}" for number in range(30)]
    seeds = []
    for folder in folders:
        folder.mkdir()
        seeds.append(personal_seed(folder))
        assert personal_seed(folder) == seeds[-1] and (folder / SEED_FILE).read_text().strip() == str(seeds[-1])
    assert len(set(seeds)) == 30

"""One call that makes a notebook's random choices repeatable: :func:`seed_everything`.

Seeding fixes initial weights, shuffling, dropout masks and augmentation, so two runs of a cell
start from the same state. On a GPU some operations still add up numbers in varying order;
``deterministic_ops=True`` removes that too, at a cost in speed.
"""

from __future__ import annotations

import os

from cifar10_course.environment import quiet_tensorflow

SEED_VARIABLE = "COURSE_SEED"


def seed_everything(seed: int | None = None, deterministic_ops: bool = False) -> int:
    """Seed Python's ``random``, NumPy and Keras/TensorFlow with ``seed``, and return it.

    Without ``seed``: ``$COURSE_SEED`` if set, else 0. (benchmarks/accuracy_evidence.py runs the
    notebooks under several seeds this way.)

    With ``deterministic_ops`` TensorFlow also runs only deterministic kernels; that cannot be
    undone for the rest of the Python session.
    """
    if seed is None:
        seed = int(os.environ.get(SEED_VARIABLE, "0"))
    keras = quiet_tensorflow()
    # Seeds random, np.random and tf.random, and resets Keras's global SeedGenerator.
    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        import tensorflow as tf

        # Keras then compiles without XLA (its jit_compile="auto" checks for this) and TensorFlow
        # uses deterministic kernels only: training may be noticeably slower.
        tf.config.experimental.enable_op_determinism()
    return seed

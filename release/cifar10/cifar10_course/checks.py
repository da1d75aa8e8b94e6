"""Checks for notebook cells whose failure messages a student can act on.

Each check returns nothing when all is well and raises :class:`CheckFailed` (an ``AssertionError``)
otherwise, with a message that says what was expected and what was found, so a failed nbgrader
cell explains itself, and shows only that message. NumPy is the only import at module level; the
model checks use whatever Keras model they are given.

A student may add cells anywhere, and a cell can rebind any global a test reads. So the graded
checks take nothing from the notebook but the student's own functions: they build models with the
student's build function, load the weights file the training cell saved, load the course's data
themselves, and accept only plain Keras models (:func:`check_keras_model`), whose layers,
weights and predictions are Keras's own.

The checks live by concern in ``base_checks``, ``model_checks``, ``array_checks``,
``accuracy_checks`` and ``training_checks``; this module gathers them for the notebooks
(``from cifar10_course import checks``).
"""

from __future__ import annotations

from .base_checks import (  # noqa: F401
    CheckFailed,
    report_passed,
    article,
)
from .model_checks import (  # noqa: F401
    plain_keras_problem,
    check_keras_model,
    check_parameter_count,
    check_layer_types,
)
from .array_checks import (  # noqa: F401
    largest_difference,
    check_array,
    array_problems,
    not_an_array,
)
from .accuracy_checks import (  # noqa: F401
    check_test_accuracy,
    ACCURACY_MIME,
    accuracy_line,
    below_threshold,
    show_accuracy,
    ANIMAL_CLASSES,
    task_labels,
    check_saved_model_accuracy,
    saved_model_predictions,
    small_training_sample,
)
from .training_checks import (  # noqa: F401
    RecordingAugment,
    TrainingRun,
    record_training,
    training_record,
    history_problems,
    training_problems,
    check_history,
    check_training_settings,
)

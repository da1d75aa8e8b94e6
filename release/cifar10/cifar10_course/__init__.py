"""Helpers for the CIFAR-10 notebooks: data, run modes, plots, checks, seeds and environment.

This folder is the one copy of the helpers. nbgrader copies it into every student release beside
the notebooks and restores this copy over the student's at autograde, so grading always runs the
instructor's helpers.
"""

from .environment import set_log_levels

set_log_levels()  # Before anything can import TensorFlow.

from .checks import (  # noqa: E402
    CheckFailed,
    RecordingAugment,
    check_array,
    check_keras_model,
    check_layer_types,
    check_parameter_count,
    check_history,
    check_saved_model_accuracy,
    check_test_accuracy,
    check_training_settings,
    largest_difference,
    record_training,
    report_passed,
    saved_model_predictions,
    small_training_sample,
)
from .data import (  # noqa: E402
    CLASS_NAMES,
    load_cifar10_arrays,
    load_course_data,
    load_course_split,
    load_course_test_data,
    stratified_subset,
)
from .environment import print_environment_report, quiet_tensorflow  # noqa: E402
from .modes import budget, current_mode  # noqa: E402
from .plots import (  # noqa: E402
    plot_confusion_matrix,
    plot_learning_curves,
    plot_per_class_recall,
    show_augmented_images,
    show_image_grid,
)
from .reproducibility import seed_everything  # noqa: E402
from .training import is_grading, train_or_load  # noqa: E402

__all__ = [
    "CLASS_NAMES",
    "CheckFailed",
    "RecordingAugment",
    "budget",
    "check_array",
    "check_keras_model",
    "check_layer_types",
    "check_parameter_count",
    "check_history",
    "check_saved_model_accuracy",
    "check_test_accuracy",
    "check_training_settings",
    "current_mode",
    "is_grading",
    "largest_difference",
    "load_cifar10_arrays",
    "load_course_data",
    "load_course_split",
    "load_course_test_data",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_per_class_recall",
    "print_environment_report",
    "record_training",
    "report_passed",
    "quiet_tensorflow",
    "saved_model_predictions",
    "seed_everything",
    "show_augmented_images",
    "show_image_grid",
    "small_training_sample",
    "stratified_subset",
    "train_or_load",
]

"""Checks of trained models (Parts 2-4): accuracy above the part's threshold, on test images
loaded here, from the weights the training cell saved. The settings come from cifar10_course.modes."""

from __future__ import annotations

import numpy as np

from .base_checks import CheckFailed
from .model_checks import check_keras_model


def check_test_accuracy(trained, x_test, y_test) -> float:
    """Check that a :class:`~cifar10_course.training.TrainedModel` beats its part's threshold.

    Prints the accuracy beside the threshold and returns it. A model that could not be built or
    loaded fails with the reason recorded by ``train_or_load``. The notebooks' graded tests use
    :func:`check_saved_model_accuracy` instead, which trusts neither a ``TrainedModel`` that a
    cell may have replaced nor the notebook's test images.
    """
    from .modes import budget, current_mode
    from .training import accuracy

    if trained.problem:
        raise CheckFailed(trained.problem)
    threshold = budget(trained.part).threshold(trained.variant)
    found = accuracy(trained.model, x_test, y_test)
    mode = current_mode().name
    show_accuracy(accuracy_line(found, len(x_test), trained.name, None, threshold, mode), found, len(x_test))
    problem = below_threshold(found, threshold, trained.name, mode)
    if problem:
        raise CheckFailed(problem)
    return found


# A test accuracy a notebook showed, as data beside its text (read by the grader's signals: the
# accuracy a notebook showed against the one measured at grading).
ACCURACY_MIME = "application/vnd.cifar10-course.accuracy+json"


def accuracy_line(found: float, images: int, name: str, model: str | None, threshold: float, mode: str) -> str:
    """The line a test prints about a model's test accuracy (the notebook's and the grader's)."""
    detail = f"{name}: {model}" if model else name
    return (f"Test accuracy: {found:.4f} on {images:,} test images ({detail}; needed: above {threshold:.2f} "
            f"in {mode} mode)")


def below_threshold(found: float, threshold: float, name: str, mode: str) -> str | None:
    """What a student reads when the accuracy is not above the threshold; ``None`` when it is."""
    if found > threshold:
        return None
    return (f"Test accuracy {found:.4f} is not above the threshold {threshold:.2f} for {name} in {mode} mode. "
            "Check the architecture and the training settings, then run the training cell again.")


def show_accuracy(line: str, found: float, images: int) -> None:
    """Show ``line``; in a notebook, as an output that also carries the numbers
    (:data:`ACCURACY_MIME`), so that nothing has to read them back from the text."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(line)
        return
    display({"text/plain": line, ACCURACY_MIME: {"accuracy": round(float(found), 4), "test_images": int(images)}},
            raw=True)


# The labels a part's model is graded on, from the ten classes, when they are not the classes
# themselves: Part 4 tells animals (1) from vehicles (0).
ANIMAL_CLASSES = (2, 3, 4, 5, 6, 7)  # bird, cat, deer, dog, frog, horse


def task_labels(part: str, classes):
    """What a part's network is graded on: the classes, or animal (1) or vehicle (0) in Part 4."""
    return np.isin(classes, ANIMAL_CLASSES).astype("int32") if part == "part4_binary" else classes


def _saved_model_scores(part: str, build, variant: str | None):
    """Rebuild the saved model of ``part`` and predict the course's test images, loaded here.

    Returns the model's outputs, the true classes (0-9) and the model as loaded. Fails with the
    advice of :func:`~cifar10_course.training.load_trained_model` when there is no usable model.
    """
    from .data import load_course_test_data
    from .environment import quiet_tensorflow
    from .training import load_trained_model, predict

    quiet_tensorflow()
    trained = load_trained_model(part, build, variant)
    if trained.model is not None:  # What the build function made comes first: weights do not fix it.
        check_keras_model(trained.model, f"What {getattr(build, '__name__', 'the build function')}() returns")
    if trained.problem:
        raise CheckFailed(trained.problem)
    x_test, y_test = load_course_test_data()
    model = trained.model
    model.make_predict_function(force=True)  # Keras's own, whatever the build function set before
    # The notebook's next cells, or a second call for the same saved network, may ask for the same.
    scores = predict(model, x_test)
    return scores, np.argmax(y_test, axis=1), trained


def check_saved_model_accuracy(part: str, build, variant: str | None = None) -> None:
    """Check that the network saved by ``part``'s training cell beats the part's threshold.

    Measured afresh, whatever the notebook's variables hold: the network is built again with the
    student's ``build`` function, given the weights that the training cell saved (the file that is
    submitted), and tested on the course's test images, loaded here. Prints the accuracy beside
    the threshold; returns nothing, so that a test cell never ends in a number.
    """
    from .modes import budget, current_mode
    from .training import accuracy_of_scores, is_autograding, weights_path

    if is_autograding():  # The grader's checker measures it, in a process of its own: no second prediction.
        name = part if variant is None else f"{part}/{variant}"
        print(f"At grading, the grader measures the test accuracy of {name} itself (below).")
        return
    scores, classes, trained = _saved_model_scores(part, build, variant)
    labels = task_labels(part, classes)
    found = accuracy_of_scores(scores, labels)
    threshold = budget(part).threshold(variant)
    mode = current_mode().name
    model = f"{getattr(build, '__name__', 'the network')}() with the weights in {weights_path(part, variant)}"
    show_accuracy(accuracy_line(found, len(labels), trained.name, model, threshold, mode), found, len(labels))
    problem = below_threshold(found, threshold, trained.name, mode)
    if problem:
        raise CheckFailed(problem)


def saved_model_predictions(part: str, build, variant: str | None = None):
    """``(true_classes, predicted_classes)`` of the saved model on the course's test images.

    Like :func:`check_saved_model_accuracy`, the model is built again with ``build`` and given the
    weights its training cell saved, and the test images are loaded here.
    """
    scores, classes, _ = _saved_model_scores(part, build, variant)
    return classes, scores.argmax(axis=1)


def small_training_sample(count: int, binary: bool = False, seed: int = 0):
    """``count`` random images (float32 in [0, 1], 32x32x3) with labels, made here for a test.

    Labels are one-hot rows over ten classes, or with ``binary=True`` integer labels 0 and 1;
    every class appears. Enough to run a training function for one epoch and look at what it did.
    """
    rng = np.random.default_rng(seed)
    images = rng.random((count, 32, 32, 3), dtype=np.float32)
    if binary:
        return images, (np.arange(count) % 2).astype("int32")
    return images, np.eye(10, dtype="float32")[np.arange(count) % 10]

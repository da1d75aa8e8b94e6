"""The checker's own view of the course: its run mode and data set, from the grader's configuration.

Nothing here reads what a student's kernel set: the mode and the data path come from the
checker's command line, which the grader writes (:class:`grading.verdicts.ApplyVerdicts`).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from cifar10_course.data import CLASS_NAMES, load_course_split, load_course_test_data, scale_images
from cifar10_course.modes import MODES, Mode


class CourseData:
    """The data set and budgets of one run mode, loaded once and kept."""

    class_names = CLASS_NAMES

    def __init__(self, mode: str, path: str | None):
        self.mode: Mode = MODES[mode]
        self.path = path or None

    def budget(self, part: str):
        return self.mode.parts[part]

    def threshold(self, part: str, variant: str | None = None) -> float:
        return self.budget(part).threshold(variant)

    @cached_property
    def split(self):
        """``(x_train, y_train), (x_test, y_test)`` as the data set has them (uint8 images)."""
        return load_course_split(self.mode.name, self.path)

    @property
    def train_classes(self) -> np.ndarray:
        return self.split[0][1].reshape(-1)

    @property
    def test_classes(self) -> np.ndarray:
        return self.split[1][1].reshape(-1)

    @cached_property
    def test_images(self) -> np.ndarray:
        """The test images as the networks take them: float32 in [0, 1] (mapped from the cache in
        full mode, where the grader filled it)."""
        return load_course_test_data(self.mode.name, self.path)[0]

    def scaled_rows(self, which: str, rows) -> np.ndarray:
        """Rows ``rows`` of the training or test images, scaled to [0, 1] as float32."""
        images = self.split[0 if which == "train" else 1][0]
        return scale_images(images[np.asarray(rows)])

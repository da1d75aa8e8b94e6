"""Run modes: how much data and training each part gets, and the accuracy it must reach.

``COURSE_MODE=full`` (the default) gives the training budgets of the original assignment and
measures accuracy on all 10,000 test images. ``COURSE_MODE=fast`` trains on small stratified
subsets for a few epochs, for CI, tests and quick checks. Notebooks, tests and the grader all
read :data:`MODES`, so a number changes in one place only. An unknown mode is an error.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field

MODE_VARIABLE = "COURSE_MODE"
DEFAULT_MODE = "full"


@dataclass(frozen=True)
class PartBudget:
    """Training settings of one part and the test accuracy its solution must exceed."""

    epochs: int
    batch_size: int
    min_test_accuracy: float | None  # None: the part is not graded on accuracy
    validation_split: float = 0.0  # share of the training images held out to validate each epoch
    variant_thresholds: dict[str, float] = field(default_factory=dict)  # a model of the part that differs

    def threshold(self, variant: str | None = None) -> float | None:
        """The test accuracy that the part's model ``variant`` must exceed."""
        return self.variant_thresholds.get(variant, self.min_test_accuracy)


@dataclass(frozen=True)
class Mode:
    """A run mode: the data every part uses (``None``: all of it) and each part's budget."""

    name: str
    train_per_class: int | None
    test_per_class: int | None
    parts: dict[str, PartBudget]


# Full-mode budgets follow the original assignment (20 epochs, batch 32; Part 5: batch 128 with 20%
# held out for validation). Its reference results: MLP about 0.48 test accuracy, CNN "high 60s"
# (0.77 after 30 epochs), binary 0.94. The thresholds below leave a margin under those; the
# README's section "Accuracy thresholds and their evidence" lists the runs that back them
# (benchmarks/accuracy_evidence.py). Part 6 trains a small network three times to compare
# per-class recall, not to reach an accuracy: 10 epochs with Adam keep it under an hour on a CPU.
MODES: dict[str, Mode] = {
    "full": Mode(
        name="full",
        train_per_class=None,
        test_per_class=None,
        parts={
            "part2_mlp": PartBudget(epochs=20, batch_size=32, min_test_accuracy=0.40),
            "part3_cnn": PartBudget(epochs=20, batch_size=32, min_test_accuracy=0.60),
            "part4_binary": PartBudget(epochs=20, batch_size=32, min_test_accuracy=0.85),
            # Heavy augmentation slows learning: 20 epochs reach 0.55 with it, 0.76 without.
            "part5_deeper": PartBudget(epochs=20, batch_size=128, min_test_accuracy=0.65,
                                       validation_split=0.2, variant_thresholds={"augmented": 0.45}),
            "part6_bias": PartBudget(epochs=10, batch_size=64, min_test_accuracy=None),
        },
    ),
    # Fast mode: 300 training and 100 test images per class, two epochs. Batches of 8, not 32:
    # SGD at 0.01 needs updates more than images, and 188 updates of 32 left the CNNs at chance
    # (0.175 for ten classes, 0.600 = always "animal" for Part 4), 750 updates of 8 reach about
    # 0.20 and 0.78 in the same time. Thresholds sit above chance (0.10; 0.60 in Part 4) and
    # below the lowest accuracy of repeated runs (benchmarks/accuracy_evidence.py). The CNN gets
    # four epochs: with two, 2 of 16 seeds stayed under 0.15 (0.116, 0.148; CI met one of them).
    "fast": Mode(
        name="fast",
        train_per_class=300,
        test_per_class=100,
        parts={
            "part2_mlp": PartBudget(epochs=2, batch_size=8, min_test_accuracy=0.20),
            "part3_cnn": PartBudget(epochs=4, batch_size=8, min_test_accuracy=0.15),
            "part4_binary": PartBudget(epochs=2, batch_size=8, min_test_accuracy=0.65),
            "part5_deeper": PartBudget(epochs=2, batch_size=16, min_test_accuracy=0.18,
                                       validation_split=0.2),
            "part6_bias": PartBudget(epochs=3, batch_size=16, min_test_accuracy=None),
        },
    ),
}


def current_mode(name: str | None = None) -> Mode:
    """The mode named, else ``$COURSE_MODE``, else ``full``; an unknown name raises ValueError."""
    if name is None:
        name = os.environ.get(MODE_VARIABLE, "").strip() or DEFAULT_MODE
    try:
        return MODES[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown {MODE_VARIABLE} {name!r}. Use one of: {', '.join(sorted(MODES))} "
            f"(unset means {DEFAULT_MODE!r})."
        ) from None


def budget(part: str, mode: str | None = None) -> PartBudget:
    """The budget of ``part`` (for example ``"part2_mlp"``) in the current or named mode."""
    chosen = current_mode(mode)
    try:
        return chosen.parts[part]
    except KeyError:
        raise KeyError(
            f"No budget for part {part!r}; known parts: {', '.join(sorted(chosen.parts))}."
        ) from None


# How long running a whole notebook takes on the course's 2-core CPU machines, in each mode: the
# one place for these figures. The setup cell of every notebook prints its part's line, and a test
# (tests/test_student_view.py) keeps the notebooks' headers and both READMEs equal to this table.
# Full mode: the runs behind the accuracy thresholds (README, "Accuracy thresholds and their
# evidence"). Fast mode: the solution notebooks run one after another with a warm data cache, while
# other jobs shared the machine (2026-12-06): 5, 13, 27, 24, 46 and 37 s for Parts 1-6.
RUN_TIMES: dict[str, dict[str, str]] = {
    "part1_data": {"fast": "about 5 seconds", "full": "about 10 seconds"},
    "part2_mlp": {"fast": "about 15 seconds", "full": "1 to 5 minutes"},
    "part3_cnn": {"fast": "about 30 seconds", "full": "about 15 minutes"},
    "part4_binary": {"fast": "about 30 seconds", "full": "about 15 minutes"},
    "part5_deeper": {"fast": "about a minute", "full": "about 30 minutes"},
    "part6_bias": {"fast": "about 40 seconds", "full": "about 10 minutes"},
}


def run_times(part: str) -> str:
    """Both modes' run times of ``part``, as the notebook headers state them."""
    times = RUN_TIMES[part]
    return f"fast mode {times['fast']}; full mode {times['full']}"


def run_time_report(part: str, mode: str | None = None) -> str:
    """What the setup cell prints: the run time in the current (or named) mode, then the other's."""
    chosen = current_mode(mode).name
    other = next(name for name in RUN_TIMES[part] if name != chosen)
    return (f"{RUN_TIMES[part][chosen]} in {chosen} mode on a 2-core CPU "
            f"({other} mode: {RUN_TIMES[part][other]})")


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def how_this_notebook_works(part: str, written_answers: bool) -> str:
    """The second cell of every notebook, from the facts it states: what the cells are, what
    grading adds (the grader checks in a process of its own; nothing is added to the notebook),
    and what fast mode does for this part. ``tests/test_student_view.py`` keeps every notebook's
    cell equal to it."""
    fast, full = MODES["fast"], MODES["full"]
    written = ', and cells that say "YOUR ANSWER HERE" are written answers, graded by hand' if written_answers else ""
    trains = part in fast.parts
    measured = ", and measures the networks your training cells saved on test images it loads itself" if trains else ""
    work = (f"**How this notebook works.** Run the cells from top to bottom. Cells that say `# YOUR CODE HERE` "
            f"are yours to complete{written}. Cells that start with a one-line docstring are tests: run them "
            "to check your work. When your notebook is graded, the grader checks more than these tests, in a "
            f"process of its own: it calls your functions again on inputs it makes afresh{measured}. Each "
            "heading gives the points. Do not rename the functions: the grader calls them by name.")
    if trains:
        epochs = fast.parts[part].epochs
        runs = (f"trains on {fast.train_per_class} images per class for {NUMBER_WORDS.get(epochs, epochs)} "
                f"epoch{'s' if epochs != 1 else ''}, to try things out quickly; the default, `full`, uses the "
                "whole data set and the training budget below.")
        threshold = ("Grade thresholds depend on the mode and are printed by the accuracy tests."
                     if full.parts[part].min_test_accuracy is not None else
                     "This part sets no accuracy threshold: the tests check your functions, and that your code "
                     "reports what the experiment measured, whatever it measured.")
    else:
        runs = (f"loads {fast.train_per_class} training and {fast.test_per_class} test images per class, to try "
                "things out quickly; the default, `full`, loads the whole data set.")
        threshold = ""
    mode = " ".join(filter(None, ["`COURSE_MODE=fast` (set before starting Jupyter)", runs, threshold]))
    return "\n\n".join(textwrap.fill(paragraph, width=100, break_on_hyphens=False) for paragraph in (work, mode))

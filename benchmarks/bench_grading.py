"""Autograding one full-mode submission, against re-running its notebooks with training.

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/bench_grading.py [--capped-steps 25] [--no-retraining]

1. Runs the solution notebooks once in fast mode, to get a submission with trained weights. The
   weights have the full-mode shapes; they are only less accurate, so the accuracy tests fail,
   which changes nothing of the work timed (the same predictions on all 10,000 test images).
2. Times the grading of that submission with COURSE_MODE=full, twice: in a course of Parts 1-4
   only (the goal of at most 60 s was set for those), and with every part. Each is graded once
   untimed first, so that caches are warm as on an instructor's machine. Two ways: plain ``nbgrader
   autograde``, and ``python -m grading grade`` (one worker, in the sandbox where this machine can
   set it up), which is how an instructor grades a class.
3. Times a full-mode run of the same notebooks with training capped at ``--capped-steps`` batches
   per epoch (KERAS_MAX_STEPS_PER_EPOCH), and extrapolates each training cell (grade id
   ``train_part...``) to the batches per epoch of its part's full budget; the other cells count as
   measured. That is what grading would cost if it re-executed the notebooks.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

from cifar10_course.modes import MODES
from grading import course as c

FIRST_FOUR = c.NOTEBOOKS[:4]
FULL_TRAINING_IMAGES = 50_000  # Part 6's reduced set has 45,500: its estimate is a little high.


def cell_seconds(cell) -> float:
    """Execution time that nbclient recorded in a cell's metadata."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def full_steps_per_epoch(notebook: str) -> int:
    budget = MODES["full"].parts[notebook]
    return math.ceil(FULL_TRAINING_IMAGES * (1 - budget.validation_split) / budget.batch_size)


def timed_autograde(root: Path, submission: Path, notebooks, data: dict) -> tuple[float, float]:
    """Seconds of one warm plain ``nbgrader autograde`` and of one warm ``grade_all`` (one worker,
    sandboxed where possible) in a new course holding only ``notebooks``."""
    from grading import parallel, sandbox

    course = c.new_course(root, notebooks)
    c.generate_release(course)
    c.submit(course, "demo_bench", submission)
    env = {**data, "COURSE_MODE": "full"}
    c.autograde_unsandboxed(course, ["demo_bench"], env)  # Warms every cache once.
    start = time.perf_counter()
    c.autograde_unsandboxed(course, ["demo_bench"], env)
    plain = time.perf_counter() - start
    sandboxed = not sandbox.problems()
    for _ in range(2):  # warm, then timed
        start = time.perf_counter()
        (outcome,) = parallel.grade_all(course, env, workers=1, students=["demo_bench"], force=True,
                                        progress=False, sandbox=sandboxed)
        graded = time.perf_counter() - start
    assert outcome.status == "graded", outcome.reason
    return plain, graded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capped-steps", type=int, default=25)
    parser.add_argument("--no-retraining", action="store_true", help="skip step 3 (the capped full-mode run)")
    args = parser.parse_args()
    data = {"CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        scratch = Path(scratch)
        work = c.copy_clean(c.REPO / "source" / c.ASSIGNMENT, scratch / "work")
        print("1. Training the solution in fast mode for a submission with weights:")
        c.execute_notebooks(work, {**data, "COURSE_MODE": "fast"})

        print("2. Autograding it in full mode, Parts 1-4, then every part ...", flush=True)
        grading_four = timed_autograde(scratch / "course-four", work, FIRST_FOUR, data)
        grading_all = timed_autograde(scratch / "course-all", work, c.NOTEBOOKS, data)

        rows = []
        if not args.no_retraining:
            print(f"3. Running the notebooks in full mode with training capped at {args.capped_steps} steps per epoch:")
            capped = c.copy_clean(c.REPO / "source" / c.ASSIGNMENT, scratch / "capped")
            c.execute_notebooks(capped, {**data, "COURSE_MODE": "full",
                                         "KERAS_MAX_STEPS_PER_EPOCH": str(args.capped_steps)})
        for name in c.NOTEBOOKS if not args.no_retraining else ():
            cells = nbformat.read(capped / f"{name}.ipynb", as_version=4).cells
            total = sum(cell_seconds(cell) for cell in cells)
            training = sum(cell_seconds(cell) for cell in cells
                           if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("train_part"))
            steps = full_steps_per_epoch(name) if training else args.capped_steps
            rows.append((name, total, training, total - training + training * steps / args.capped_steps))

    print(f"\n{'notebook':<14}{'capped run s':>14}{'training s':>12}{'full retrain s (extrapolated)':>32}")
    for name, total, training, estimate in rows:
        print(f"{name:<14}{total:>14.1f}{training:>12.1f}{estimate:>32.0f}")
    for label, notebooks, (grading, graded) in (("Parts 1-4", FIRST_FOUR, grading_four),
                                                ("every part", c.NOTEBOOKS, grading_all)):
        goal = f" (goal: at most 60 s: {'met' if grading <= 60 else 'NOT met'})" if notebooks == FIRST_FOUR else ""
        print(f"\n{label}: autograde of one full-mode submission {grading:.1f} s{goal}; "
              f"python -m grading grade (one worker) {graded:.1f} s")
        if rows:
            retraining = sum(estimate for name, _, _, estimate in rows if name in notebooks)
            print(f"  re-executing the same notebooks with training (extrapolated): {retraining:.0f} s "
                  f"= {retraining / 3600:.1f} h; grading from saved weights is {retraining / grading:.0f}x faster")


if __name__ == "__main__":
    main()

"""Autograding one full-mode submission of Parts 1-4, against re-running its notebooks with training.

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/bench_grading.py [--capped-steps 25]

1. Runs the solution notebooks once in fast mode, to get a submission with trained weights. The
   weights have the full-mode shapes; they are only less accurate, so the accuracy tests fail,
   which changes nothing of the work timed (the same predictions on all 10,000 test images).
2. Times ``nbgrader autograde`` of that submission with COURSE_MODE=full: the grading path.
3. Times a full-mode run of the same notebooks with training capped at ``--capped-steps`` batches
   per epoch (KERAS_MAX_STEPS_PER_EPOCH), and extrapolates each training cell to the 1,563
   batches per epoch of the full 50,000 images; the other cells count as measured. That is
   what grading would cost if it re-executed the notebooks.
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

TRAINING_CELLS = {"part2_mlp": "train_part2", "part3_cnn": "train_part3", "part4_binary": "train_part4"}


def cell_seconds(cell) -> float:
    """Execution time that nbclient recorded in a cell's metadata."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capped-steps", type=int, default=25)
    args = parser.parse_args()
    data = {"CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        course = c.new_course(Path(scratch) / "course")
        c.generate_release(course)
        work = c.copy_clean(course / "source" / c.ASSIGNMENT, Path(scratch) / "work")
        print("1. Training the solution in fast mode for a submission with weights:")
        c.execute_notebooks(work, {**data, "COURSE_MODE": "fast"})
        c.submit(course, "demo_bench", work)

        print("2. Autograding it in full mode ...", flush=True)
        c.autograde(course, ["demo_bench"], {**data, "COURSE_MODE": "full"})  # Warms every cache once.
        start = time.perf_counter()
        c.autograde(course, ["demo_bench"], {**data, "COURSE_MODE": "full"})
        grading = time.perf_counter() - start

        print(f"3. Running the notebooks in full mode with training capped at {args.capped_steps} steps per epoch:")
        capped = c.copy_clean(course / "source" / c.ASSIGNMENT, Path(scratch) / "capped")
        c.execute_notebooks(capped, {**data, "COURSE_MODE": "full",
                                     "KERAS_MAX_STEPS_PER_EPOCH": str(args.capped_steps)})
        full_steps = math.ceil(50_000 / MODES["full"].parts["part2_mlp"].batch_size)
        rows, retraining = [], 0.0
        for name in c.NOTEBOOKS:
            cells = nbformat.read(capped / f"{name}.ipynb", as_version=4).cells
            total = sum(cell_seconds(cell) for cell in cells)
            training_id = TRAINING_CELLS.get(name)
            training = sum(cell_seconds(cell) for cell in cells
                           if cell.metadata.get("nbgrader", {}).get("grade_id") == training_id)
            estimate = total - training + training * full_steps / args.capped_steps
            rows.append((name, total, training, estimate))
            retraining += estimate

    print(f"\n{'notebook':<14}{'capped run s':>14}{'training s':>12}{'full retrain s (extrapolated)':>32}")
    for name, total, training, estimate in rows:
        print(f"{name:<14}{total:>14.1f}{training:>12.1f}{estimate:>32.0f}")
    print(f"\nautograde, one full-mode submission of Parts 1-4: {grading:.1f} s "
          f"(goal: at most 60 s: {'met' if grading <= 60 else 'NOT met'})")
    print(f"re-executing the same notebooks with training (extrapolated): {retraining:.0f} s "
          f"= {retraining / 3600:.1f} h")
    print(f"ratio: grading from saved weights is {retraining / grading:.0f}x faster")


if __name__ == "__main__":
    main()

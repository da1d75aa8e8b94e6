"""Grading one six-part full-mode submission: where the time goes, against the compute floor.

Usage: CIFAR10_PATH=... .venv/bin/python benchmarks/bench_grading.py [--retraining] [--capped-steps 25]
                          [--submission FOLDER]

1. Runs the solution notebooks once in fast mode, for a submission with trained weights (or takes
   ``--submission``, a folder where they have run). The weights have the full-mode shapes; they are
   only less accurate, which changes nothing of the work timed: every full-mode prediction runs on
   all 10,000 test images.
2. Grades it as an instructor grades a class, ``python -m grading grade`` with one worker, in the
   sandbox where this machine can set it up, with COURSE_MODE=full: once untimed (caches warm, as
   on an instructor's machine), then timed. Prints the grading's own breakdown by phase
   (grading.report.PHASES: staging, kernel starts, first cells (imports), student cells, test
   cells, probes, the checker's start, rebuilds, predictions and the rest, nbgrader's own steps).
3. Measures the floor in the same run: one warm Python process that imports TensorFlow once, loads
   the test images and predicts them with all 8 networks (built by the solution's own functions,
   with the submission's weights), timed piece by piece.
4. With ``--retraining``: times a full-mode run of the same notebooks with training capped at
   ``--capped-steps`` batches per epoch (KERAS_MAX_STEPS_PER_EPOCH) and extrapolates each training
   cell to its part's full budget: what grading would cost if it re-executed the notebooks.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import nbformat

from cifar10_course.modes import MODES
from grading import course as c
from grading.report import PHASES, read_phases

FULL_TRAINING_IMAGES = 50_000  # Part 6's reduced set has 45,500: its estimate is a little high.
# The networks a graded submission holds: each trained model's build function (the grader predicts
# the test images with every one of them).
BUILD_FUNCTIONS = {"part2_mlp": "build_multilayer_nn", "part3_cnn": "build_convolution_nn",
                   "part4_binary": "build_binary_classifier", "part5_deeper/plain": "build_deeper_nn",
                   "part5_deeper/augmented": "build_augmented_nn", "part6_bias/balanced": "build_small_cnn",
                   "part6_bias/undersampled": "build_small_cnn", "part6_bias/rebalanced": "build_small_cnn"}


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


def timed_grading(root: Path, submission: Path, data: dict) -> tuple[float, dict[str, float], bool]:
    """Seconds of one warm ``grade_all`` (one worker, sandboxed where possible) of ``submission``
    in a new six-part course, its phases, and whether it ran in the sandbox."""
    from grading import parallel, sandbox

    course = c.new_course(root)
    c.generate_release(course)
    c.submit(course, "demo_bench", submission)
    env = {**data, "COURSE_MODE": "full"}
    sandboxed = not sandbox.problems()
    for _ in range(2):  # warm, then timed
        start = time.perf_counter()
        (outcome,) = parallel.grade_all(course, env, workers=1, students=["demo_bench"], force=True,
                                        progress=False, sandbox=sandboxed)
        seconds = time.perf_counter() - start
    assert outcome.status == "graded", outcome.reason
    return seconds, read_phases(outcome.phases), sandboxed


def definitions(notebook: Path) -> str:
    """The imports and function definitions of a notebook's code cells, in order."""
    kept = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        kept += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    return "\n".join(kept)


def floor(submission: Path) -> dict[str, float]:
    """The floor, in this process (run it in a fresh one): import TensorFlow, load the full test
    set, build each network with the solution's function and the submission's weights, predict."""
    seconds = {}
    start = time.perf_counter()
    import keras  # noqa: F401  (imports TensorFlow)

    seconds["import TensorFlow and Keras"] = time.perf_counter() - start
    from cifar10_course.data import load_course_test_data
    from cifar10_course.training import weights_path
    from grading.checker import safe_models

    start = time.perf_counter()
    x_test, _ = load_course_test_data("full")
    seconds["load the 10,000 test images"] = time.perf_counter() - start
    source = c.REPO / "source" / c.ASSIGNMENT
    sys.path.insert(0, str(source))
    namespaces: dict[str, dict] = {}
    for name, function in BUILD_FUNCTIONS.items():
        part, _, variant = name.partition("/")
        if part not in namespaces:
            namespaces[part] = {"keras": keras}  # as the notebooks' first cell names it
            exec(definitions(source / f"{part}.ipynb"), namespaces[part])  # the instructor's own notebook
        start = time.perf_counter()
        model = namespaces[part][function]()
        model.load_weights(submission / weights_path(part, variant or None))
        built = time.perf_counter() - start
        start = time.perf_counter()
        model.predict(x_test, batch_size=safe_models.prediction_batch(model.to_json()), verbose=0)
        seconds[f"predict {name}"] = time.perf_counter() - start
        seconds["build the networks, load weights"] = seconds.get("build the networks, load weights", 0.0) + built
    return seconds


def measured_floor(submission: Path) -> dict[str, float]:
    """:func:`floor` in a new process (nothing imported or cached before), as it prints it."""
    result = subprocess.run([sys.executable, __file__, "--floor-of", str(submission)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(c.REPO / "source" / c.ASSIGNMENT),
                                                                              str(c.REPO)])}, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def retraining_estimate(scratch: Path, data: dict, capped_steps: int) -> list[tuple[str, float, float, float]]:
    """Per notebook: the capped run's seconds, its training cells' seconds, the extrapolated full run."""
    capped = c.copy_clean(c.REPO / "source" / c.ASSIGNMENT, scratch / "capped")
    c.execute_notebooks(capped, {**data, "COURSE_MODE": "full", "KERAS_MAX_STEPS_PER_EPOCH": str(capped_steps)})
    rows = []
    for name in c.NOTEBOOKS:
        cells = nbformat.read(capped / f"{name}.ipynb", as_version=4).cells
        total = sum(cell_seconds(cell) for cell in cells)
        training = sum(cell_seconds(cell) for cell in cells
                       if cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("train_part"))
        steps = full_steps_per_epoch(name) if training else capped_steps
        rows.append((name, total, training, total - training + training * steps / capped_steps))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", type=Path, help="a folder where the solution notebooks have run")
    parser.add_argument("--retraining", action="store_true", help="also estimate re-executing with training")
    parser.add_argument("--capped-steps", type=int, default=25)
    parser.add_argument("--floor-of", type=Path, help=argparse.SUPPRESS)  # the floor's own process
    args = parser.parse_args()
    if args.floor_of:
        print(json.dumps(floor(args.floor_of)))
        return
    data = {"CIFAR10_PATH": os.environ.get("CIFAR10_PATH", "")}
    print(f"{date.today()}, {platform.machine()}, {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        scratch = Path(scratch)
        work = args.submission
        if work is None:
            work = c.copy_clean(c.REPO / "source" / c.ASSIGNMENT, scratch / "work")
            print("1. Training the solution in fast mode for a submission with weights:", flush=True)
            c.execute_notebooks(work, {**data, "COURSE_MODE": "fast"})
        print("2. Grading it in full mode, one worker (warm, then timed) ...", flush=True)
        total, phases, sandboxed = timed_grading(scratch / "course", work, data)
        print("3. The floor, in a process of its own ...", flush=True)
        floor_seconds = measured_floor(work)
        rows = retraining_estimate(scratch, data, args.capped_steps) if args.retraining else []

    print(f"\nGrading one six-part full-mode submission, python -m grading grade, one worker"
          f"{', sandboxed' if sandboxed else ', NOT sandboxed (this machine cannot set the sandbox up)'}:")
    for phase in PHASES:
        print(f"  {phase:<34}{phases.get(phase, 0.0):>7.1f} s")
    accounted = sum(phases.values())
    print(f"  {'workers, gradebook, report (rest)':<34}{max(0.0, total - accounted):>7.1f} s")
    print(f"  {'total':<34}{total:>7.1f} s")
    floor_total = sum(floor_seconds.values())
    print("\nThe floor: one warm process, TensorFlow imported once, 8 networks predicting 10,000 test images:")
    for name, seconds in floor_seconds.items():
        print(f"  {name:<34}{seconds:>7.2f} s")
    print(f"  {'total':<34}{floor_total:>7.2f} s")
    print(f"\nGrading / floor: {total / floor_total:.1f}x (goal: at most 2x; stretch: grading in 20 s)")
    if rows:
        print(f"\n{'notebook':<14}{'capped run s':>14}{'training s':>12}{'full retrain s (extrapolated)':>32}")
        for name, seconds, training, estimate in rows:
            print(f"{name:<14}{seconds:>14.1f}{training:>12.1f}{estimate:>32.0f}")
        retraining = sum(estimate for *_, estimate in rows)
        print(f"Re-executing the notebooks with training (extrapolated): {retraining:.0f} s = {retraining / 3600:.1f} h; "
              f"grading from saved weights is {retraining / total:.0f}x faster")


if __name__ == "__main__":
    main()

"""The demo round of the main job (``python -m grading demo``) and the end-to-end tests: the
instructor's notebooks run as demo_solution, beside demo_blank and demo_tampered, graded as a
class is graded, hand-marked, with feedback and a score table."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat

from grading import feedback, parallel, sandbox
from grading.course import (ASSIGNMENT, NOTEBOOKS, GradingError, copy_clean, execute_notebooks, export_grades,
                            generate_release, submit)
from grading.gradebook import NotebookScore, set_manual_grade

DEMO_STUDENTS = ("demo_solution", "demo_blank", "demo_tampered")
# demo_tampered forgot to scale its images in Part 1 and edited the visible test that catches it
# into `pass`. Restored from the gradebook, that test fails again, with the hidden one after it.
TAMPERED_NOTEBOOK = "part1_data"
TAMPERED_FAILS = ("load_cifar10_values", "load_cifar10_matches_data")
# The instructor's marks for demo_solution's written answers.
MANUAL_GRADES = {
    ("part4_binary", "binary_vs_ten_classes"): 4,
    ("part6_bias", "faces_missing"): 3,
    ("part6_bias", "false_match_cost"): 3,
    ("part6_bias", "consent_explanation_disclosure"): 4,
}


def edit_cell(notebook: Path, grade_id: str, edit) -> None:
    """Apply ``edit`` to the source of the cell with ``grade_id`` (how demo faults are made)."""
    content = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in content.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    cell.source = edit(cell.source)
    nbformat.write(content, notebook)


def tamper(submission: Path) -> None:
    """Turn a copy of the solution into demo_tampered (see :data:`TAMPERED_FAILS`)."""
    notebook = submission / f"{TAMPERED_NOTEBOOK}.ipynb"
    edit_cell(notebook, "load_cifar10", lambda source: source.replace('.astype("float32") / 255', '.astype("float32")'))
    edit_cell(notebook, "load_cifar10_values", lambda source: source.split('"""\n', 2)[0] + '"""\n'
               + source.split('"""\n', 2)[1] + '"""\npass  # edited by the student')


def make_demo_submissions(course: Path, env: dict, solution: Path | None = None) -> float:
    """Run the solution notebooks as demo_solution; add demo_blank and demo_tampered.

    ``env`` is the environment of the notebooks' kernels (``COURSE_MODE``, ``CIFAR10_PATH``).
    ``solution``, a folder in which the solution notebooks have already run in that mode, is
    copied instead of running them again (the tests share one run). Returns the seconds the
    solution notebooks took to run with training, two at a time (0 when copied).
    """
    work = course / "work" / "demo_solution"
    seconds = 0.0
    if solution is not None:
        shutil.copytree(solution, work)
    else:
        copy_clean(course / "source" / ASSIGNMENT, work)
        print("Running the solution notebooks as demo_solution, two at a time (they train and save weights):",
              flush=True)
        start = time.perf_counter()
        execute_notebooks(work, env, workers=2)
        seconds = time.perf_counter() - start
    submit(course, "demo_solution", work)
    submit(course, "demo_blank", course / "release" / ASSIGNMENT)
    tamper(submit(course, "demo_tampered", work))
    return seconds


def grade_demo_round(course: Path, env: dict, solution: Path | None = None) -> dict:
    """The whole round in ``course``: release, demo submissions, autograde, manual marks, feedback, CSV.

    ``solution``: see :func:`make_demo_submissions`.

    The demo students are graded as an instructor grades a class (:func:`grading.parallel.grade_all`,
    two at a time), in the sandbox where this machine can set it up; elsewhere without it, saying so
    (they are the instructor's own notebooks).
    """
    timings = {}
    start = time.perf_counter()
    generate_release(course)
    timings["generate_release"] = time.perf_counter() - start
    timings["run_solution_notebooks"] = make_demo_submissions(course, env, solution)
    missing = sandbox.problems()
    print("Autograding " + ", ".join(DEMO_STUDENTS)
          + (" in the sandbox ..." if not missing else f" without the sandbox ({'; '.join(missing)}) ..."), flush=True)
    for outcome in parallel.grade_all(course, env, workers=2, students=list(DEMO_STUDENTS), progress=False,
                                      sandbox=not missing):
        if outcome.status != "graded":
            raise GradingError(f"autograding {outcome.student} failed: {outcome.reason}")
        timings[f"autograde_{outcome.student}"] = outcome.seconds
    for (notebook, grade_id), points in MANUAL_GRADES.items():
        set_manual_grade(course, "demo_solution", notebook, grade_id, points)
    start = time.perf_counter()
    generate_feedback(course)
    export_grades(course)
    timings["feedback_and_export"] = time.perf_counter() - start
    return timings


def generate_feedback(course: Path, students: list[str] | None = None) -> Path:
    """Every student's feedback (or ``students``'), one bounded run each (see :mod:`grading.feedback`)."""
    failed = [result for result in feedback.generate(course, students) if result.status == "failed"]
    if failed:
        raise GradingError("feedback failed for " + "; ".join(f"{r.student}: {r.reason}" for r in failed))
    return course / "feedback"


def score_table(all_scores: dict[str, dict[str, NotebookScore]]) -> str:
    """A plain-text table: one row per student, one column per notebook, then the total.

    A star marks a score that still waits for the instructor's hand-grading.
    """
    columns = [name.split("_")[0] for name in NOTEBOOKS]  # "part1_data" -> "part1"
    header = f"{'student':<16}" + "".join(f"{column:>10}" for column in columns) + f"{'total':>10}"
    rows = [header, "-" * len(header)]
    for student in sorted(all_scores):
        notebooks = all_scores[student]
        cells = []
        for name in NOTEBOOKS:
            entry = notebooks.get(name)
            waiting = entry and any(score is None for score in entry.grades.values())
            cells.append(f"{entry.score:g}/{entry.max_score:g}{'*' if waiting else ''}" if entry else "-")
        total = sum(entry.score for entry in notebooks.values())
        maximum = sum(entry.max_score for entry in notebooks.values())
        rows.append(f"{student:<16}" + "".join(f"{cell:>10}" for cell in cells) + f"{f'{total:g}/{maximum:g}':>10}")
    if any("*" in row for row in rows[2:]):
        rows.append("* a written answer still waits for hand-grading: bash tools/formgrader.sh")
    return "\n".join(rows)

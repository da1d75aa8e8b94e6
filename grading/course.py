"""One nbgrader course folder and the steps an instructor runs in it.

Every step works on a course folder built by :func:`new_course` from a clean copy of
``source/``: trained weights or checkpoints that an instructor's own runs left in ``source/``
never reach a release or overwrite a student's files. The main job (``python -m grading demo``)
and the end-to-end tests use these same functions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "cifar10"
COURSE_ID = "cifar10-keras"
NOTEBOOKS = ("part1_data", "part2_mlp", "part3_cnn", "part4_binary", "part5_deeper", "part6_bias")
# What an instructor's runs leave beside the notebooks; never part of an assignment.
RUN_LEFTOVERS = ("trained_models", "saved_models", "__pycache__", ".ipynb_checkpoints", "*.pyc", "*.weights.h5", "*.keras",
                 ".course_seed")


class GradingError(RuntimeError):
    """An nbgrader command failed; the message holds its log."""


def copy_clean(source: Path, destination: Path) -> Path:
    """Copy an assignment folder without run leftovers (weights, caches, checkpoints)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*RUN_LEFTOVERS))
    return destination


def new_course(root: Path, notebooks=NOTEBOOKS) -> Path:
    """Make ``root`` an nbgrader course: this repository's config and a clean copy of the source,
    keeping only the assignment's ``notebooks`` (benchmarks and tests use smaller courses)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    copy_clean(REPO / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    for extra in set(NOTEBOOKS) - set(notebooks):
        (root / "source" / ASSIGNMENT / f"{extra}.ipynb").unlink()
    return root


def nbgrader(course: Path, *args: str, env: dict | None = None) -> str:
    """Run ``nbgrader ARGS`` in ``course``; return its log, raise :class:`GradingError` on failure."""
    result = subprocess.run(
        [sys.executable, "-m", "grading.run_nbgrader", *args], cwd=course, env=env or grading_env({}),
        capture_output=True, text=True,
    )
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise GradingError(f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{log[-6000:]}")
    return log


def grading_env(changes: dict) -> dict:
    """This process's environment with ``changes``: what nbgrader and its kernels see.

    This interpreter's scripts folder leads PATH: nbgrader runs the ``alembic`` command it
    installed, which an unactivated virtual environment would not otherwise offer.
    """
    env = os.environ.copy()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(changes)
    return env


def gradebook_url(course: Path, database: str | None = None) -> str:
    """``database`` if given, else the course's own SQLite gradebook, as nbgrader names it."""
    return database or f"sqlite:///{course / 'gradebook.db'}"


def database_option(database: str | None) -> list[str]:
    """nbgrader's option for a gradebook other than the course's ``gradebook.db`` (SQLite)."""
    return [f"--CourseDirectory.db_url={database}"] if database else []


def generate_release(course: Path, database: str | None = None) -> Path:
    """``nbgrader generate_assignment``: fills the gradebook and writes ``release/cifar10``."""
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force", *database_option(database))
    return course / "release" / ASSIGNMENT


def execute_notebooks(folder: Path, env: dict, timeout: int = 7200, names=NOTEBOOKS, workers: int = 1) -> dict[str, float]:
    """Run every notebook of the assignment in ``folder`` as a student would, in place.

    ``env`` is added to the kernels' environment. Outputs are kept (as in a submission) and the
    training cells save weights beside them. ``workers`` notebooks run at once (each part is
    independent; fast-mode training leaves a second core idle, so two at once take about half the
    time). Prints one line per notebook as it finishes; returns the seconds each took.
    """
    from concurrent.futures import ThreadPoolExecutor

    from nbclient import NotebookClient

    from grading.kernels import IpcKernelManager

    kernel_env = grading_env(env)
    kernel_env.pop("NBGRADER_EXECUTION", None)  # A student's own run: train, do not load.

    def run(name: str) -> float:
        path = folder / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(notebook, kernel_manager_class=IpcKernelManager, timeout=timeout,
                       kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute(env=kernel_env)
        nbformat.write(notebook, path)
        seconds = time.perf_counter() - start
        errors = [output.ename for cell in notebook.cells for output in cell.get("outputs", [])
                  if output.output_type == "error"]
        print(f"  ran {name}.ipynb in {seconds:.0f} s"
              + (f" ({len(errors)} cells raised: {', '.join(errors)})" if errors else ""), flush=True)
        return seconds

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(names, pool.map(run, names)))


def submit(course: Path, student: str, files: Path) -> Path:
    """Place a copy of ``files`` (an assignment folder) as ``student``'s submission."""
    destination = course / "submitted" / student / ASSIGNMENT
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(files, destination)
    return destination


def autograde(course: Path, students: list[str], env: dict) -> str:
    """``nbgrader autograde`` of each student in turn; ``env`` is added to the kernels' environment."""
    # nbgrader takes one --student per call (a glob, not a list).
    return "".join(nbgrader(course, "autograde", ASSIGNMENT, "--force", f"--student={student}",
                            env=grading_env(env)) for student in students)


def generate_feedback(course: Path, students: list[str] | None = None) -> Path:
    """Every student's feedback (or ``students``'), one bounded run each (see :mod:`grading.feedback`)."""
    from grading import feedback

    failed = [result for result in feedback.generate(course, students) if result.status == "failed"]
    if failed:
        raise GradingError("feedback failed for " + "; ".join(f"{r.student}: {r.reason}" for r in failed))
    return course / "feedback"


def forget_grading(course: Path, student: str, database: str | None = None) -> None:
    """Remove every trace of a student's earlier grading: scores, graded notebooks and feedback.

    Done before a changed submission is graded, so that a grading that fails leaves no score of the
    old submission beside the new notebook.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from grading import staging

    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        try:
            gradebook.remove_submission(ASSIGNMENT, student)
        except MissingEntry:
            pass
    for folder in ("autograded", "feedback"):
        staging.remove(course / folder / student / ASSIGNMENT)


def _answers(course: Path, student: str, notebook: str) -> dict[str, str]:
    """A digest of each nbgrader cell's source in the student's graded notebook, by grade id."""
    import hashlib

    path = course / "autograded" / student / ASSIGNMENT / f"{notebook}.ipynb"
    try:
        cells = nbformat.read(path, as_version=4).cells
    except Exception:  # no graded notebook (a failed grading), or one that cannot be read
        return {}
    return {cell.metadata["nbgrader"]["grade_id"]: hashlib.sha256(cell.source.encode()).hexdigest()
            for cell in cells if isinstance(cell.metadata.get("nbgrader"), dict) and "grade_id" in cell.metadata.nbgrader}


def hand_grades(course: Path, student: str, database: str | None = None) -> list[dict]:
    """What the instructor gave the student's submission by hand: points (also over an automatic
    score), extra credit and comments, each with a digest of the answer it was given for."""
    from nbgrader.api import Gradebook, MissingEntry

    kept = []
    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        try:
            submission = gradebook.find_submission(ASSIGNMENT, student)
        except MissingEntry:
            return []
        for notebook in submission.notebooks:
            answers = _answers(course, student, notebook.name)
            for grade in notebook.grades:
                if grade.manual_score is not None or grade.extra_credit:
                    kept.append({"kind": "grade", "notebook": notebook.name, "cell": grade.name,
                                 "automatic": grade.auto_score is not None, "manual_score": grade.manual_score,
                                 "extra_credit": grade.extra_credit, "answer": answers.get(grade.name)})
            for comment in notebook.comments:
                if comment.manual_comment:
                    kept.append({"kind": "comment", "notebook": notebook.name, "cell": comment.name,
                                 "manual_comment": comment.manual_comment, "answer": answers.get(comment.name)})
    return kept


def restore_hand_grades(course: Path, student: str, kept: list[dict], unchanged: bool,
                        database: str | None = None) -> list[str]:
    """Give the new grading of the submission the hand grades ``kept`` from its last one: all of
    them when the submission is ``unchanged``; else those of answers whose source did not change
    (points over an automatic score only when nothing changed). Returns a line for each one not
    carried over, for the instructor: that answer waits for grading again."""
    from nbgrader.api import Gradebook, MissingEntry

    dropped = []
    answers = {}
    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        for entry in kept:
            notebook, cell = entry["notebook"], entry["cell"]
            if notebook not in answers:
                answers[notebook] = _answers(course, student, notebook)
            same = unchanged or (not entry.get("automatic") and entry.get("answer") is not None
                                 and answers[notebook].get(cell) == entry["answer"])
            try:
                if entry["kind"] == "grade":
                    grade = gradebook.find_grade(cell, notebook, ASSIGNMENT, student)
                    if same:
                        grade.manual_score, grade.extra_credit = entry["manual_score"], entry["extra_credit"]
                        grade.needs_manual_grade = False
                elif same:
                    gradebook.find_comment(cell, notebook, ASSIGNMENT, student).manual_comment = entry["manual_comment"]
            except MissingEntry:
                same = False
            if not same and (entry["kind"] == "grade" or not any(
                    other["kind"] == "grade" and other["cell"] == cell for other in kept)):
                changed = "the submission" if entry.get("automatic") else "the answer"
                dropped.append(f"hand grade of {notebook}/{cell} not carried over: {changed} changed since, grade it again")
        gradebook.db.commit()
    return dropped


def export_grades(course: Path) -> Path:
    """``nbgrader export``: one CSV row per student and assignment."""
    destination = course / "grades.csv"
    nbgrader(course, "export", f"--to={destination}")
    return destination


@dataclass
class NotebookScore:
    score: float
    max_score: float
    grades: dict[str, float | None] = field(default_factory=dict)  # grade_id -> score (None: to grade by hand)


def scores(course: Path, database: str | None = None) -> dict[str, dict[str, NotebookScore]]:
    """Scores in the gradebook (``database``, else the course's SQLite file): student -> notebook
    -> :class:`NotebookScore`."""
    from nbgrader.api import Gradebook

    result: dict[str, dict[str, NotebookScore]] = {}
    with Gradebook(gradebook_url(course, database), COURSE_ID) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            notebooks = result.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                notebooks[notebook.name] = NotebookScore(
                    notebook.score, notebook.max_score,
                    {grade.name: (None if grade.needs_manual_grade else grade.score) for grade in notebook.grades},
                )
    return result


def set_manual_grade(course: Path, student: str, notebook: str, grade_id: str, points: float) -> None:
    """Record an instructor's mark for a hand-graded cell, as the formgrader would."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course), COURSE_ID) as gradebook:
        grade = gradebook.find_grade(grade_id, notebook, ASSIGNMENT, student)
        grade.manual_score = points
        grade.needs_manual_grade = False
        gradebook.db.commit()


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


# ---------------------------------------------------------------------------------------------
# Demo students: what the main job and the end-to-end tests grade

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
    from grading import parallel, sandbox

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

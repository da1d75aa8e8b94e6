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

    from grading.sandbox.kernels import IpcKernelManager

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


def autograde_unsandboxed(course: Path, students: list[str], env: dict) -> str:
    """Plain ``nbgrader autograde`` of each student in turn, without the sandbox (for the
    instructor's own notebooks and comparisons); ``env`` is added to the kernels' environment."""
    # nbgrader takes one --student per call (a glob, not a list).
    return "".join(nbgrader(course, "autograde", ASSIGNMENT, "--force", f"--student={student}",
                            "--GuardedExecute.sandbox_required=False", env=grading_env(env)) for student in students)


def export_grades(course: Path) -> Path:
    """``nbgrader export``: one CSV row per student and assignment."""
    destination = course / "grades.csv"
    nbgrader(course, "export", f"--to={destination}")
    return destination

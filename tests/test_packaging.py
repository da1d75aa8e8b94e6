"""What the package ships and what git keeps out.

- The wheel (slow): built from a copy of the repository, it holds every module of ``grading``
  (``grading.checker``: the hidden tests), the formgrader's templates and static files, and the
  helper package; installed into a folder of its own, it grades a Part 1 submission end to end.
- ``.gitignore`` (quick): every path the grader writes in a course folder, and the run leftovers
  beside the notebooks, is ignored, under the names the grader's code uses; the course's own
  files are not.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cifar10_course.training import WEIGHTS_FOLDER
from conftest import FAST, max_points, require_sandbox, solution_copy
from grading import course as c
from grading import report

REPO = c.REPO

# ---------------------------------------------------------------------------------------------
# .gitignore


def check_ignore(paths: list[str]) -> dict[str, bool]:
    """Whether git ignores each path (by the patterns alone, whether or not the path exists or is tracked)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", "--stdin"],
                            input="\n".join(paths) + "\n", cwd=REPO, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    found = {}
    for line in result.stdout.splitlines():
        source, path = line.split("\t", 1)
        found[path] = source != "::"
    return found


def written_by_the_grader() -> list[str]:
    """What grading writes in a course folder, here the repository's root (the demo round, the
    formgrader, ``python -m grading grade`` without --course) and a course in a subfolder."""
    paths = []
    for course in ("", "courses/spring/"):
        paths += [f"{course}{report.RECEIPTS}/s1.json", f"{course}{report.STAGED}/s1/cifar10/part1_data.ipynb",
                  f"{course}{report.WORK}/progress.json", f"{course}{report.WORK}/grading.log"]
    paths += [report.REPORT, "gradebook.db", "grades.csv",  # grading.course.gradebook_url, export_grades
              "submitted/s1/cifar10/part1_data.ipynb", "autograded/s1/cifar10/part1_data.ipynb",
              f"autograded/demo_solution/cifar10/{WEIGHTS_FOLDER}/part2_mlp.weights.h5",
              "feedback/s1/cifar10/part1_data.html", "exchange/cifar10-keras/inbound/x"]
    return paths


def run_leftovers() -> list[str]:
    """grading.course.RUN_LEFTOVERS beside the notebooks of the source and of the release (a path
    inside each: git ignores what lies in an ignored folder or below a file's name alike)."""
    return [f"{folder}/{pattern.replace('*', 'x')}/x" for folder in ("source/cifar10", "release/cifar10")
            for pattern in c.RUN_LEFTOVERS]


KEPT = ["autograded/README.md", "source/cifar10/part1_data.ipynb", "source/cifar10/cifar10_course/training.py",
        "release/cifar10/part1_data.ipynb", "release/cifar10/requirements.txt", "release/cifar10/nbgrader_config.py",
        "grading/checker/part1_data.py", "grading/templates/formgrade/formgrade_macros.html.j2",
        "grading/static/pages.css", "hub/requirements.txt", "nbgrader_config.py", "requirements.txt",
        "environment.yml", "pyproject.toml", ".pre-commit-config.yaml", "tools/pins.py", "tests/test_packaging.py"]


def test_gitignore_keeps_grading_state_and_run_leftovers_out():
    """Receipts name students, and submissions are personal data: a renamed folder must fail here."""
    wanted = written_by_the_grader() + run_leftovers() + [".venv.new/bin/python", ".venv.old/bin/python",
                                                           "build/lib/grading/course.py", "dist/x.whl"]
    found = check_ignore(wanted)
    assert not [path for path in wanted if not found[path]], "not ignored by .gitignore"


def test_gitignore_keeps_the_courses_files():
    found = check_ignore(KEPT)
    assert not [path for path in KEPT if found[path]], "ignored by .gitignore, though they belong to the course"


def test_every_gitignore_entry_is_current():
    """Each pattern matches a path this test module names: a stale one (a folder that no longer
    exists, like /.grading-staged/ was) fails here."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    named = written_by_the_grader() + run_leftovers() + [
        ".venv/bin/python", ".venv.new/bin/python", ".venv.old/bin/python", "grading/__pycache__/x.pyc",
        "tests/x.pyc", ".pytest_cache/x", ".ruff_cache/x", "source/cifar10/.ipynb_checkpoints/x",
        "cifar10_course.egg-info/PKG-INFO", "build/lib/grading/course.py", "dist/x.whl"]
    result = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--stdin"], input="\n".join(named) + "\n",
                            cwd=REPO, capture_output=True, text=True)
    used = {line.split("\t", 1)[0].split(":", 2)[2] for line in result.stdout.splitlines()}
    patterns = [line.strip() for line in (REPO / ".gitignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p not in used], "patterns of .gitignore that no named path needs"


# ---------------------------------------------------------------------------------------------
# The wheel

BUILD_LEFTOVERS = (".git", ".venv", ".venv.new", ".venv.old", "__pycache__", "*.pyc", "build", "dist", "*.egg-info",
                   ".pytest_cache", ".ruff_cache", ".grading", "submitted", "autograded", "feedback", "exchange",
                   "gradebook.db", *c.RUN_LEFTOVERS)


def run(command: list[str], **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kw)
    assert result.returncode == 0, f"{command[:5]} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The wheel, built from a copy of the repository (setuptools writes build/ beside the sources,
    which must not land in the shared checkout), and installed with --target into a folder of its
    own: (the copy, the wheel, the folder)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*BUILD_LEFTOVERS))
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
         str(source)])
    (built,) = (root / "dist").glob("cifar10_course-*.whl")
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
         str(root / "site"), str(built)])
    return source, built, root / "site"


@pytest.mark.slow
def test_the_wheel_holds_the_grader_the_hidden_tests_and_their_files(wheel):
    source, built, _ = wheel
    expected = set()
    for package, folder in (("grading", source / "grading"), ("cifar10_course", source / "source/cifar10/cifar10_course")):
        expected |= {f"{package}/{path.relative_to(folder).as_posix()}" for path in folder.rglob("*") if path.is_file()
                     and "__pycache__" not in path.parts and not path.name.endswith(".pyc")}
    assert {"grading/checker/part1_data.py", "grading/templates/formgrade/formgrade_macros.html.j2",
            "grading/static/pages.css"} <= expected
    with zipfile.ZipFile(built) as archive:
        shipped = {name for name in archive.namelist() if ".dist-info/" not in name}
        requires = [line for line in archive.read(next(n for n in archive.namelist() if n.endswith("dist-info/METADATA")))
                    .decode().splitlines() if line.startswith("Requires-Dist: ")]
    assert shipped == expected, f"missing: {sorted(expected - shipped)}; not ours: {sorted(shipped - expected)}"
    assert "Requires-Dist: nbgrader==0.9.6" in requires  # the dependencies are requirements.txt's pins


def wheel_env(site: Path, changes: dict | None = None, helpers: Path | None = None) -> dict:
    """The environment of a process that takes ``grading`` from the wheel: its folder on PYTHONPATH,
    which comes before the editable install's finder; ``helpers``, a folder holding the helper
    package, goes first when given (then ``cifar10_course`` comes from there)."""
    env = c.grading_env(changes or {})
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (helpers, site) if path)
    return env


@pytest.mark.slow
def test_the_wheel_is_what_imports_from_its_folder(wheel, tmp_path):
    _, _, site = wheel
    result = run([sys.executable, "-c", "import grading, grading.checker, grading.checker.part1_data, cifar10_course; "
                  "print(grading.__file__); print(grading.checker.part1_data.__file__); print(cifar10_course.__file__)"],
                 cwd=tmp_path, env=wheel_env(site))
    for line in result.stdout.split():
        assert Path(line).is_relative_to(site), result.stdout


@pytest.mark.slow
def test_the_wheels_grader_grades_a_submission(wheel, solution_run, tmp_path):
    """`python -m grading grade`, sandboxed, with the wheel's grader and hidden tests, on a course
    of Part 1 alone, from a folder outside the repository: the solution earns every point.

    The helper package comes from the course's source/cifar10/, as on the hub (grading/hub.py): the
    course's nbgrader_config.py finds the assignment's shared settings (source/cifar10/
    nbgrader_config.py) beside the imported cifar10_course, which the wheel's copy has not."""
    require_sandbox()
    _, _, site = wheel
    course = c.new_course(tmp_path / "course", ("part1_data",))
    c.generate_release(course)
    c.submit(course, "demo_solution", solution_copy(solution_run, tmp_path / "submission", ("part1_data",)))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    helpers = course / "source" / c.ASSIGNMENT
    env = wheel_env(site, FAST, helpers)
    found = run([sys.executable, "-c", "import grading.checker, cifar10_course; print(grading.checker.__file__); "
                 "print(cifar10_course.__file__)"], cwd=outside, env=env).stdout.split()
    assert Path(found[0]).is_relative_to(site) and Path(found[1]).is_relative_to(helpers), found
    run([sys.executable, "-m", "grading", "grade", "--course", str(course), "--workers", "1"], cwd=outside, env=env)
    c.nbgrader(course, "export", f"--to={course / 'grades.csv'}", env=env)  # the wheel's grading.run_nbgrader

    with open(course / report.REPORT) as table:
        (row,) = csv.DictReader(table)
    assert row["student"] == "demo_solution" and row["status"] == "graded", row
    with open(course / "grades.csv") as grades:
        (row,) = csv.DictReader(grades)
    points = sum(max_points("part1_data").values())
    assert row["student_id"] == "demo_solution" and float(row["score"]) == float(row["max_score"]) == points, row
    assert (course / "autograded" / "demo_solution" / c.ASSIGNMENT / "part1_data.ipynb").exists()

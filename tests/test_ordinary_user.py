"""Grading as an ordinary user, end to end: an instructor's account with no root and no cgroup.

CI runs as root, so the grader runs here as ``nobody`` (``setpriv``), on a small course (Part 1,
fast mode) of two submissions from the corpus (tests/corpus.py), the fork bomb (which otherwise
earns every point of Part 1, as the solution does) and the memory hog, with two workers and real
nbgrader, kernels and data. Nobody may create a
cgroup, so the watchdog bounds them: the fork bomb is refused by RLIMIT_NPROC inside bubblewrap,
the memory hog is killed by the watchdog; nbgrader runs in a user and mount namespace of its own,
where it mounts the kernels' private tmpfs. The scores must be those that
tests/test_bad_submissions.py requires of the root grader with cgroups (``BadSubmission.scores``),
and everything the grader wrote must belong to the instructor.

What the test arranges for ``nobody``, as an instructor's machine has it: the course folder is
theirs; the checkout's folders (and those above the course) get search permission (o+x, not read)
for the run, restored after; the CIFAR-10 archive is a hard link in a folder of theirs (root's is
in ~/.cache, mode 0700), with a decoded cache made beforehand and readable by all. The virtual
environment must be usable by another user: tools/setup_env.sh builds it on Debian's python.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import FAST, max_points, require_sandbox, solution_copy
import corpus
from grading import course as c
from grading import gradebook
from grading import report

pytestmark = pytest.mark.slow
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
BAD = [bad for bad in corpus.CORPUS if bad.student in ("demo_fork_bomb", "demo_memory_hog")]
# The corpus's limits (tests/test_bad_submissions.py), so the costs are the same as there.
GRADE = """
import sys
from pathlib import Path
from grading import parallel
from grading.sandbox import Limits
parallel.grade_all(Path(sys.argv[1]), {"COURSE_MODE": "fast", "CIFAR10_PATH": sys.argv[2]}, workers=2,
                   limits=Limits(memory_mb=3072, processes=256, cpu_cores=1, cpu_seconds=300, disk_mb=256, files=5000),
                   nbgrader_options=("--Execute.timeout=60", "--GuardedExecute.notebook_budget=300"))
"""


@contextlib.contextmanager
def searchable(*paths: Path):
    """Let other users pass through every folder above ``paths`` (search permission only) for as
    long as the block runs; the modes are restored after."""
    changed = {}
    for path in paths:
        for folder in [*reversed(path.resolve().parents), path.resolve()]:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if folder not in changed and not mode & stat.S_IXOTH:
                changed[folder] = mode
                folder.chmod(mode | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)


def chown_tree(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, uid)


@pytest.fixture(scope="module")
def graded_as_nobody(solution_run, full_copy):
    """The three submissions graded by ``nobody``: the course, the command's result."""
    require_sandbox()
    root = Path(tempfile.mkdtemp(prefix="grading-as-nobody-"))
    try:
        course = c.new_course(root / "course", ("part1_data",))
        release = c.generate_release(course)
        solution = solution_copy(solution_run, root / "solution", corpus.NOTEBOOKS)
        for student, folder in corpus.make(root / "bad", solution, {}, BAD, release=release).items():
            c.submit(course, student, folder)
        data = root / "data"
        data.mkdir()
        archive = data / full_copy.name
        try:  # the same file, in a folder nobody can reach (root's is in ~/.cache, mode 0700)
            if not full_copy.stat().st_mode & stat.S_IROTH:
                raise PermissionError("not readable by others")
            os.link(full_copy, archive)
        except OSError:  # another file system, or a file of root's alone
            shutil.copyfile(full_copy, archive)
        with pytest.MonkeyPatch.context() as patch:  # the decoded arrays, made by root, read by all
            from cifar10_course import data as cifar

            patch.setenv(cifar.CACHE_VARIABLE, str(root / "cache"))
            cifar.load_cifar10_arrays(archive)
        home = root / "home"
        home.mkdir()
        chown_tree(root, NOBODY)
        (root / "cache").chmod(0o755)
        env = {**c.grading_env(FAST), "HOME": str(home), "TMPDIR": "/tmp", "CIFAR10_CACHE_DIR": str(root / "cache")}
        with searchable(c.REPO, root):
            usable = subprocess.run([*AS_NOBODY, sys.executable, "-c", "import grading.sandbox"], cwd=c.REPO, env=env,
                                    capture_output=True, text=True)
            assert usable.returncode == 0, (
                f"{sys.executable} is not usable by another user ({usable.stderr.strip()[-300:]}): rebuild .venv with "
                "tools/setup_env.sh, which builds it on Debian's /usr/bin/python3.11")
            result = subprocess.run([*AS_NOBODY, sys.executable, "-c", GRADE, str(course), str(archive)], cwd=c.REPO,
                                    env=env, capture_output=True, text=True, timeout=1200)
        yield course, result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_ordinary_user_grades_with_the_watchdog_and_gets_roots_scores(graded_as_nobody):
    course, result = graded_as_nobody
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "limits: watchdog (no writable cgroup: cgroup v1 needs root;" in result.stderr, result.stderr[-2000:]
    scores = {student: {name: score.score for name, score in notebooks.items()}
              for student, notebooks in gradebook.scores(course).items()}
    assert scores == {bad.student: {"part1_data": bad.scores["part1_data"]} for bad in BAD}
    assert scores["demo_fork_bomb"]["part1_data"] == sum(max_points("part1_data").values())  # every point


def test_the_report_names_the_refused_forks_and_the_memory_kill(graded_as_nobody):
    course, _ = graded_as_nobody
    with open(course / report.REPORT) as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {row["status"] for row in rows.values()} == {"graded"}, rows
    # RLIMIT_NPROC refused the forks: the kernel lived on, as with a cgroup's pids controller.
    bomb = rows["demo_fork_bomb"]
    assert "refused forks" in bomb["sandbox_violations"] and "process limit" not in bomb["sandbox_violations"], bomb
    hog = rows["demo_memory_hog"]
    assert "memory limit x1" in hog["sandbox_violations"] and "it ran out of memory" in hog["notes"], hog
    assert float(hog["peak_memory_mb"]) >= 3072


def test_what_the_grader_wrote_belongs_to_the_instructor(graded_as_nobody):
    """nbgrader ran as root of its own user namespace; outside, its files are nobody's, and no
    private mount or folder of a submission is left behind."""
    course, _ = graded_as_nobody
    written = [course / "gradebook.db", course / report.REPORT, *(course / "autograded").rglob("*"),
               *(course / report.RECEIPTS).rglob("*")]
    assert len(written) > 4
    assert {path: path.stat().st_uid for path in written if path.stat().st_uid != NOBODY} == {}
    runtime = Path("/tmp") / f"grading-kernels-{NOBODY}"
    assert not [entry for entry in runtime.iterdir() if entry.name.startswith("s-")] if runtime.exists() else True
